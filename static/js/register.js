// "Register for password reset": sign in, then set up each method (email and
// texted phones proven with a code, called phones by answering and pressing #),
// then finish. Once something is registered, a change answers step_up_required:
// the page has the user prove an existing method (a step-up flow) and then
// retries the change. The session is an HttpOnly cookie;
// the CSRF token and any flow live only in this module's memory.
import { api, explain, setCsrf } from './api.js';
import { CallWait } from './call-wait.js';
import { CodeEntry } from './code-entry.js';
import { $, busy, el, invalid, say, show } from './ui.js';

const METHODS = {
  authentication_phone: { name: 'Authentication phone', about: 'We text your mobile phone a 6-digit code, or call it: answer and press #.' },
  office_phone: { name: 'Office phone', about: 'We call your office phone: answer and press #.' },
  alternate_email: { name: 'Alternate email', about: 'We email a 6-digit code to an address other than your work or school account.' },
  security_questions: { name: 'Security questions', about: 'You answer questions that only you know the answers to.' },
};
const step = {
  signin: $('#step-signin'), status: $('#step-status'), contact: $('#step-contact'), code: $('#step-code'),
  questions: $('#step-questions'), done: $('#step-done'), verify: $('#step-verify'),
};
// `up`: a step-up under way ({flow, methods, method, asked, retry, from}).
const state = { status: null, method: null, flow: null, send: null, hint: '', up: null };

// A session that ended (or a stale CSRF token) sends the user back to sign in.
function signedOut(r, text = 'Your session has ended. Please sign in again.') {
  if (r.data.error !== 'csrf_invalid' && r.data.error !== 'not_signed_in') return false;
  setCsrf(null);
  state.flow = null;
  say($('#signin-err'), el('p', { text }));
  show(step.signin);
  return true;
}

// ---- Sign in ----
$('#signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const region = $('#signin-err');
  const username = $('#username');
  const password = $('#password');
  say(region);
  for (const i of [username, password]) invalid(i, false);
  const missing = [[username, 'Enter your user ID.'], [password, 'Enter your password.']].find(([i]) => !i.value.trim());
  if (missing) {
    say(region, el('p', { text: missing[1] }));
    invalid(missing[0], true);
    missing[0].focus();
    return;
  }
  const button = $('#signin');
  busy(button, true);
  const r = await api('/api/signin', { username: username.value.trim(), password: password.value });
  busy(button, false);
  password.value = '';
  if (r.ok) {
    setCsrf(r.data.csrf_token);
    await loadStatus();
    return;
  }
  if (r.data.error === 'invalid_credentials') {
    say(region, el('p', { text: 'Your user ID or password is incorrect.' }), el('p', {}, 'Forgot your password? ', el('a', { href: '/reset', text: 'Reset it' }), '.'));
    invalid(password, true);
    password.focus();
  } else if (r.data.error === 'account_locked') {
    say(region, el('p', { text: 'Your account is locked after too many failed sign-in attempts.' }), el('p', {}, el('a', { href: '/unlock', text: 'Unlock your account' }), ' first, then come back.'));
  } else {
    say(region, el('p', { text: explain(r) }));
  }
});

$('#signout').addEventListener('click', async () => {
  await api('/api/signout', {});
  setCsrf(null);
  say($('#signin-err'), el('p', { class: 'ok', text: "You're signed out." }));
  show(step.signin);
});

// ---- What is registered, what is needed ----
function registeredText(id, reg, st) {
  if (id === 'authentication_phone') {
    const p = reg.authentication_phone || reg.mobile_phone;
    return p && `${p.hint} (${p.mode === 'call' ? 'call' : 'text'})`;
  }
  if (id === 'office_phone') return reg.office_phone && reg.office_phone.hint;
  if (id === 'alternate_email') return reg.alternate_email || reg.authentication_email;
  const n = reg.security_questions.length;
  return n >= st.questions_to_register ? `${n} questions answered` : null;
}

function render(st, note) {
  state.status = st;
  const have = st.methods.length;
  const plural = (n) => `${n} method${n === 1 ? '' : 's'}`;
  $('#tally').textContent = st.complete
    ? `✓ You've set up ${plural(have)}. Your administrator requires ${st.required}.`
    : `You've set up ${have} of the ${plural(st.required)} your administrator requires: ${st.missing} more needed.`;
  $('#tally').className = `tally ${st.complete ? 'ok' : ''}`;
  $('#backup').hidden = !st.backup_recommended;
  $('#methods').replaceChildren(...st.allowed.map((id) => {
    const m = METHODS[id];
    const text = registeredText(id, st.registered, st);
    return el('li', { class: 'method', 'data-method': id },
      el('h3', { text: m.name }),
      el('p', { class: 'hint', text: m.about }),
      el('p', { class: `state ${text ? 'ok' : ''}`, text: text ? `✓ Set up: ${text}` : 'Not set up' }),
      el('div', { class: 'actions' },
        el('button', { type: 'button', class: text ? 'secondary' : '', 'aria-label': `${text ? 'Change' : 'Set it up now'}: ${m.name}`, text: text ? 'Change' : 'Set it up now', onclick: () => setUp(id) }),
        text ? el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove: ${m.name}`, text: 'Remove', onclick: () => remove(id) }) : null));
  }));
  say($('#status-err'));
  say($('#status-note'), note ? el('p', { text: note }) : null);
}

async function loadStatus(note, focus = true) {
  const r = await api('/api/register');
  if (!r.ok) {
    if (!signedOut(r)) say($('#signin-err'), el('p', { text: explain(r) }));
    return;
  }
  render(r.data, note);
  show(step.status, null, focus);
}

async function remove(id) {
  const r = await api(`/api/register/${id}`, undefined, 'DELETE');
  if (r.ok) {
    render(r.data, `${METHODS[id].name} removed.`);
    show(step.status);
    return;
  }
  if (signedOut(r) || stepUp(r, () => remove(id), step.status)) return;
  say($('#status-err'), el('p', { text: explain(r) }));
}

$('#finish').addEventListener('click', async () => {
  const r = await api('/api/register/finish', {});
  if (!r.ok) {
    if (!signedOut(r)) say($('#status-err'), el('p', { text: explain(r) }));
    return;
  }
  if (!r.data.complete) {
    const n = r.data.missing;
    say($('#status-err'), el('p', { text: `You need to set up ${n} more method${n === 1 ? '' : 's'} before you can finish. Choose "Set it up now" on one of the options.` }));
    return;
  }
  $('#done-list').replaceChildren(...r.data.methods.map((id) => el('li', { text: `${METHODS[id].name}: ${registeredText(id, state.status.registered, state.status) || 'set up'}` })));
  $('#done-backup').hidden = !r.data.backup_recommended;
  show(step.done);
});
$('#done-more').addEventListener('click', () => loadStatus());
for (const back of document.querySelectorAll('[data-back]')) back.addEventListener('click', () => { codeEntry.stop(); callWait.stop(); state.flow = null; state.up = null; loadStatus(); });

// ---- Phones and email: start, send the code, verify ----
function setUp(id) {
  state.method = id;
  if (id === 'security_questions') {
    questions();
    return;
  }
  const phone = id !== 'alternate_email';
  $('#phone-box').hidden = !phone;
  $('#email-box').hidden = phone;
  $('#mode-box').hidden = id !== 'authentication_phone';
  for (const i of [$('#phone'), $('#email')]) { i.value = ''; invalid(i, false); }
  $('#contact-text').textContent = {
    authentication_phone: "Select your country code, enter your full phone number including area code, and choose text me or call me. We'll text you a 6-digit code, or call you: answer and press #.",
    office_phone: "Select your country code and enter your full office phone number including area code. We'll call it: answer and press #.",
    alternate_email: "Enter an email address other than your work or school account. We'll email it a 6-digit code.",
  }[id];
  say($('#contact-err'));
  sendLabel();
  show(step.contact, METHODS[id].name);
}

function mode() {
  return state.method === 'authentication_phone' ? (document.querySelector('input[name="mode"]:checked') || {}).value || 'text' : 'call';
}

function sendLabel() {
  $('#contact-send').textContent = state.method === 'alternate_email' ? 'Email me' : mode() === 'text' ? 'Text me' : 'Call me';
}
for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener('change', sendLabel);

$('#contact-form').addEventListener('submit', (event) => {
  event.preventDefault();
  startContact();
});

async function startContact() {
  const region = $('#contact-err');
  const email = state.method === 'alternate_email';
  const input = email ? $('#email') : $('#phone');
  say(region);
  invalid(input, false);
  if (!input.value.trim()) {
    say(region, el('p', { text: email ? 'Enter your email address.' : 'Enter your full phone number including area code.' }));
    invalid(input, true);
    input.focus();
    return;
  }
  const button = $('#contact-send');
  busy(button, true);
  const body = { method: state.method, destination: input.value.trim() };
  if (!email) Object.assign(body, { country_code: $('#country').value, mode: mode() });
  const started = await api('/api/register/start', body);
  if (!started.ok) {
    busy(button, false);
    if (signedOut(started) || stepUp(started, startContact, step.contact)) return;
    say(region, el('p', { text: explain(started) }));
    if (started.data.error === 'invalid_destination') {
      const field = started.data.field === 'country_code' ? $('#country') : input;
      invalid(field, true);
      field.focus();
    }
    return;
  }
  state.flow = started.data.flow;
  state.send = started.data.send_code;
  state.hint = email ? input.value.trim() : `+${$('#country').value} ${input.value.trim()}`;
  const sent = await send();
  busy(button, false);
  if (!sent.ok) {
    if (!signedOut(sent)) say(region, el('p', { text: explain(sent) }));
    return;
  }
  // A call reads out no code: the phone is proven by answering and pressing #.
  if (calling(state.send.method)) {
    callWait.start(`We're calling ${state.send.hint}. Answer and press #.`);
    return;
  }
  const how = email ? `We've emailed a code to ${state.hint}.` : `We've texted a code to ${state.hint}.`;
  codeEntry.start(`${how} Enter the code you received, and then select Verify.`);
}

const calling = (method) => method === 'mobile_call' || method === 'office_call';

function send() {
  return api('/api/send-code', { flow: state.flow, method: state.send.method, destination: state.send.destination });
}

const codeEntry = new CodeEntry({
  verify: (code) => api('/api/verify-code', { flow: state.flow, method: state.send.method, code }),
  resend: send,
  passed: verified,
  ended: (r) => signedOut(r),
  spent: () => ['This code can no longer be used. Select "Resend code" to get a new one.'],
  failed: (r) => (['flow_expired', 'flow_not_found', 'flow_state'].includes(r.data.error) ? 'This setup took too long. Select Cancel and start again.' : null),
});

// A verified phone or email (or a passed step-up): back to the status, or on with the change.
async function verified() {
  state.flow = null;
  if (state.up) await stepped();
  else await loadStatus(`${METHODS[state.method].name} verified and saved.`);
}

// ---- "Press #" calls: the same polling as the reset page ----
const callWait = new CallWait({
  poll: () => api('/api/verify-code', { flow: state.flow, method: state.send.method }),
  again: send,
  passed: verified,
  ended: (r) => signedOut(r),
  failed: (r) => (['flow_expired', 'flow_not_found', 'flow_state'].includes(r.data.error) ? 'This setup took too long. Select Cancel and start again.' : null),
});

// ---- Security questions ----
async function questions() {
  const r = await api('/api/register/questions');
  if (!r.ok) {
    if (!signedOut(r)) say($('#status-err'), el('p', { text: explain(r) }));
    return;
  }
  const { questions_to_register: n, questions: pool } = r.data;
  $('#q-list').replaceChildren(...Array.from({ length: n }, (_, i) => el('fieldset', {},
    el('legend', { text: `Security question ${i + 1}` }),
    el('label', { for: `q-${i}`, text: 'Question' }),
    el('select', { id: `q-${i}`, 'data-q': '' }, el('option', { value: '', text: 'Choose a question' }), ...pool.map((q) => el('option', { value: q.id, text: q.text }))),
    el('label', { for: `a-${i}`, text: 'Answer' }),
    el('input', { id: `a-${i}`, 'data-a': '', autocomplete: 'off', spellcheck: 'false', maxlength: '40' }))));
  say($('#q-err'));
  show(step.questions);
}

$('#q-form').addEventListener('submit', (event) => {
  event.preventDefault();
  saveQuestions();
});

async function saveQuestions() {
  const region = $('#q-err');
  const selects = [...document.querySelectorAll('#q-list select')];
  const answers = [...document.querySelectorAll('#q-list input')];
  for (const f of [...selects, ...answers]) invalid(f, false);
  const ids = selects.map((s) => s.value);
  let problem = null;
  let field = null;
  selects.forEach((s, i) => {
    if (problem) return;
    const a = answers[i].value.trim();
    if (!s.value) [problem, field] = [`Choose security question ${i + 1}.`, s];
    else if (ids.indexOf(s.value) !== i) [problem, field] = [`Security question ${i + 1} is chosen twice: choose a different question.`, s];
    else if (a.length < 3 || a.length > 40) [problem, field] = [`The answer to question ${i + 1} needs 3 to 40 characters.`, answers[i]];
  });
  if (problem) {
    say(region, el('p', { text: problem }));
    invalid(field, true);
    field.focus();
    return;
  }
  const button = $('#q-save');
  busy(button, true);
  const r = await api('/api/register/questions', { questions: selects.map((s, i) => ({ id: s.value, answer: answers[i].value })) }, 'PUT');
  busy(button, false);
  if (r.ok) {
    render(r.data, 'Security questions saved.');
    show(step.status);
    return;
  }
  if (signedOut(r) || stepUp(r, saveQuestions, step.questions)) return;
  const problems = r.data.problems || [];
  say(region, el('p', { text: problems.length ? 'Please fix these:' : explain(r) }), problems.length ? el('ul', {}, problems.map((p) => el('li', { text: p }))) : null);
}

// ---- Step-up: prove a method already set up, then retry the change ----
// True when `r` asked for a step-up: it starts, and `retry` runs (back on `from`) once it passed.
function stepUp(r, retry, from) {
  if (r.data.error !== 'step_up_required') return false;
  (async () => {
    const up = await api('/api/register/verify', {});
    if (!up.ok) {
      if (!signedOut(up)) say($('[role="alert"]', from), el('p', { text: explain(up) }));
      return;
    }
    // "Press #" calls are proven on the reset and unlock pages only; here a phone is proven by text.
    const methods = up.data.methods.filter((m) => m.kind !== 'voice');
    state.up = { flow: up.data.flow, methods, retry, from };
    $('#sv-options').replaceChildren(...methods.map((m) => el('label', { class: 'option' },
      el('input', { type: 'radio', name: 'sv', value: m.id }),
      el('span', {}, el('span', { text: m.label }), m.hint ? el('span', { class: 'hint', text: m.hint }) : null))));
    $('#sv-panel').hidden = true;
    say($('#sv-err'));
    show(step.verify);
  })();
  return true;
}

async function stepped() {
  const { retry, from } = state.up;
  state.up = null;
  show(from, null, false);
  await retry();
}

$('#sv-options').addEventListener('change', (event) => {
  const m = state.up.methods.find((x) => x.id === event.target.value);
  Object.assign(state.up, { method: m, asked: null });
  const q = m.id === 'questions';
  $('#sv-dest-box').hidden = q;
  $('#sv-q').replaceChildren();
  $('#sv-dest').value = '';
  $('#sv-dest').type = m.id === 'email' ? 'email' : 'tel';
  $('#sv-dest-label').textContent = m.id === 'email' ? 'Enter your full email address' : 'Enter your full phone number, including the country code';
  $('#sv-send').textContent = q ? 'Next' : 'Send code';
  $('#sv-panel').hidden = false;
  say($('#sv-err'));
});

// The questions to answer (drawn, or re-drawn after a wrong answer).
function ask(questions) {
  state.up.asked = questions;
  $('#sv-q').replaceChildren(...questions.map((q, i) => el('div', {},
    el('label', { for: `sv-a${i}`, text: q.text }),
    el('input', { id: `sv-a${i}`, autocomplete: 'off', spellcheck: 'false' }))));
  $('#sv-send').textContent = 'Verify';
  $('#sv-a0').focus();
}

$('#sv-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const region = $('#sv-err');
  const { flow, method: m, asked } = state.up || {};
  if (!m) {
    say(region, el('p', { text: 'Choose one of the options first.' }));
    return;
  }
  const dest = $('#sv-dest');
  invalid(dest, false);
  if (m.id !== 'questions' && !dest.value.trim()) {
    say(region, el('p', { text: 'Enter it in full, as you registered it.' }));
    invalid(dest, true);
    dest.focus();
    return;
  }
  const button = $('#sv-send');
  busy(button, true);
  const answers = asked && asked.map((q, i) => ({ id: q.id, answer: $(`#sv-a${i}`).value }));
  const r = answers
    ? await api('/api/verify-code', { flow, method: 'questions', answers })
    : await api('/api/send-code', { flow, method: m.id, destination: dest.value.trim() });
  busy(button, false);
  if (r.ok && answers) return stepped();
  if (r.ok && r.data.questions) return ask(r.data.questions);
  if (r.ok) {
    Object.assign(state, { flow, send: { method: m.id, destination: dest.value.trim() } });
    codeEntry.start(`We've sent a code to ${m.hint}. Enter the code you received, and then select Verify.`);
    return;
  }
  if (signedOut(r)) return;
  say(region, el('p', { text: explain(r) }));
  if (r.data.questions) ask(r.data.questions);
  else if (r.data.error === 'destination_mismatch') { invalid(dest, true); dest.focus(); }
});

// A session from earlier in this tab (HttpOnly cookie) goes straight to the status.
(async () => {
  const r = await api('/api/session');
  if (r.ok && r.data.csrf_token) {
    setCsrf(r.data.csrf_token);
    await loadStatus(null, false);
  }
})();
