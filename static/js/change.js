// "Change your password": user ID + old password + new + confirm → saved.
import { api, explain } from './api.js';
import { PasswordPair } from './password.js';
import { $, busy, el, invalid, say, show } from './ui.js';

const form = $('#change-form');
const pair = new PasswordPair(form);

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const region = $('#change-err');
  const username = $('#username');
  const old = $('#old');
  say(region);
  for (const i of [username, old]) invalid(i, false);
  const missing = [[username, 'Enter your user ID.'], [old, 'Enter your old password.']].find(([i]) => !i.value.trim());
  if (missing) {
    say(region, el('p', { text: missing[1] }));
    invalid(missing[0], true);
    missing[0].focus();
    return;
  }
  if (!pair.check(region)) return;
  const button = $('#save');
  busy(button, true);
  const r = await api('/api/set-password', { username: username.value.trim(), old_password: old.value, new_password: pair.value(), confirm_password: $('#pw-confirm').value });
  busy(button, false);
  if (r.ok) {
    old.value = '';
    pair.clear();
    show($('#step-done'));
    return;
  }
  const e = r.data.error;
  if (e === 'password_policy') {
    pair.violations(region, r.data);
  } else if (e === 'invalid_credentials') {
    say(region, el('p', { text: 'Your user ID or old password is incorrect. Check them and try again.' }), el('p', {}, 'Forgot your password? ', el('a', { href: '/reset', text: 'Reset it instead' }), '.'));
    old.value = '';
    invalid(old, true);
    old.focus();
  } else if (e === 'account_locked') {
    say(region, el('p', { text: 'Your account is locked after too many failed sign-in attempts.' }), el('p', {}, el('a', { href: '/unlock', text: 'Unlock your account' }), ' or ', el('a', { href: '/reset', text: 'reset your password' }), '.'));
  } else {
    say(region, el('p', { text: explain(r) }));
  }
});
