// Entra's guide's error cases after "Who are you?", with their human text and the
// "Contact an administrator" action.
import { api } from './api.js';
import { el } from './ui.js';

const SEED = {
  contact_admin: {
    title: 'Please contact your admin',
    text: [
      "We've detected that your user account password is not managed by this service. As a result, we are unable to automatically reset your password.",
      'You will need to contact your admin or helpdesk for any further assistance.',
    ],
  },
  not_enabled: {
    title: 'Your account is not enabled for password reset',
    text: [
      'Your administrator has not set up your account for use with this service.',
      "If you'd like, we can contact an administrator in your organization to reset your password for you.",
    ],
  },
  not_registered: {
    title: 'We could not verify your account',
    text: ["If you'd like, we can contact an administrator in your organization to reset your password for you."],
  },
};

/** True for the errors that end the journey with Entra's guide's page. */
export function isSeedError(code) {
  return Object.hasOwn(SEED, code);
}

/**
 * Fills the error step for an Entra error case: title, Entra's guide's text and the
 * "Contact an administrator" action. `who` is what we know ({username, purpose}).
 */
export function renderSeedError(section, code, who) {
  const seed = SEED[code];
  const status = el('div', { class: 'msg info', role: 'status', 'aria-live': 'polite' });
  const button = el('button', { type: 'button', class: 'secondary', text: 'Contact an administrator' });
  button.addEventListener('click', async () => {
    button.disabled = true;
    const r = await api('/api/contact-admin', { username: who.username, purpose: who.purpose });
    if (r.ok) {
      status.replaceChildren(el('p', { text: r.data.message }));
    } else {
      status.replaceChildren(
        el('p', { text: r.data.message }),
        el('p', { text: 'You can also contact your administrator or helpdesk directly: tell them your user ID and that you need help with your password.' }),
      );
      button.disabled = false;
    }
  });
  section.querySelector('h2').textContent = seed.title;
  section.querySelector('.body').replaceChildren(
    ...seed.text.map((t) => el('p', { text: t })),
    el('div', { class: 'actions' }, button, el('a', { class: 'button secondary', href: '/', text: 'Back to the start' })),
    status,
  );
}

/** The error step for any other ending (not locked, blocked, expired…). */
export function renderEnd(section, title, paragraphs, links = []) {
  section.querySelector('h2').textContent = title;
  section.querySelector('.body').replaceChildren(
    ...paragraphs.map((t) => el('p', { text: t })),
    el('div', { class: 'actions' }, ...links.map(([href, text], i) => el('a', { class: i ? 'button secondary' : 'button', href, text }))),
  );
}
