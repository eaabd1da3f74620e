// Reset and unlock: "Who are you?" → one or two verification gates → a new
// password (reset) or the unlock itself. The flow id lives only in `state`.
import { api, explain, publicPolicy, wait } from './api.js';
import { CallWait } from './call-wait.js';
import { Captcha } from './captcha.js';
import { CodeEntry } from './code-entry.js';
import { isSeedError, renderEnd, renderSeedError } from './errors.js';
import { PasswordPair } from './password.js';
import { $, busy, el, invalid, say, show } from './ui.js';

const purpose = document.body.dataset.purpose === 'unlock' ? 'unlock' : 'reset';
const state = { flow: null, username: '', methods: [], used: new Set(), gatesRequired: 1, gatesPassed: 0, method: null, destination: '' };

const step = {
  who: $('#step-who'), method: $('#step-method'), code: $('#step-code'), questions: $('#step-questions'),
  password: $('#step-password'), done: $('#step-done'), end: $('#step-end'),
};
const captcha = new Captcha($('#pow-bar'), $('#pow-text'), $('#pow'));
// The server's lifetimes and password lengths; empty (no numbers shown) until known.
let policy = {};
publicPolicy().then((p) => {
  policy = p;
  if (p.passwordMin && $('#pw-min')) $('#pw-min').textContent = `at least ${p.passwordMin} characters`;
});

const VERBS = {
  email: { button: 'Email', text: (h) => `We'll email a verification code to your alternate email address (${h}). To make sure it's you, enter the full address first.`, label: 'Enter your full email address', type: 'email', auto: 'email', sent: (h) => `We've sent an email with a verification code to ${h}.` },
  mobile_text: { button: 'Text', text: (h) => `To protect your account, we need you to enter your complete mobile phone number (${h}) below. You will then receive a text message with a 6-digit verification code.`, label: 'Enter your full phone number, including the country code', type: 'tel', auto: 'tel', sent: (h) => `We've sent a text message with a verification code to your phone (${h}).` },
  mobile_call: { button: 'Call', text: (h) => `To protect your account, we need you to enter your complete mobile phone number (${h}) below. We'll call it: answer and press # to verify.`, label: 'Enter your full phone number, including the country code', type: 'tel', auto: 'tel', sent: (h) => `We're calling ${h}. Answer and press #.` },
  office_call: { button: 'Call', text: (h) => `To protect your account, we need you to enter your complete office phone number (${h}) below. We'll call it: answer and press # to verify.`, label: 'Enter your full office phone number, including the country code', type: 'tel', auto: 'tel', sent: (h) => `We're calling ${h}. Answer and press #.` },
  questions: { button: 'Next', text: () => 'Answer the security questions you registered. Answers are not case-sensitive.' },
};

// A flow that is gone or too old cannot go on: say so and offer a fresh start.
function ended(r) {
  const e = r.data.error;
  if (e === 'flow_expired' || e === 'flow_not_found') {
    state.flow = null;
    const valid = policy.flowLifetime ? wait(policy.flowLifetime) : 'a limited time';
    renderEnd(step.end, 'Your session has expired', [`For your security, each attempt is valid for ${valid}. Please start again.`], [[location.pathname, 'Start again']]);
    show(step.end);
    return true;
  }
  if (e === 'reset_blocked') {
    state.flow = null;
    renderEnd(step.end, 'Too many failed attempts', [r.data.message], [['/', 'Back to the start']]);
    show(step.end);
    return true;
  }
  return false;
}

// ---- Who are you? ----
captcha.prepare();
$('#who-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('#username');
  const region = $('#who-err');
  const button = $('#who-next');
  const username = input.value.trim();
  say(region);
  invalid(input, false);
  if (!username) {
    say(region, el('p', { text: 'Enter your user ID.' }));
    invalid(input, true);
    input.focus();
    return;
  }
  busy(button, true);
  const solved = await captcha.take().catch((e) => ({ failed: e.r || {} }));
  if (solved.failed) {
    busy(button, false);
    say(region, el('p', { text: explain(solved.failed) }));
    return;
  }
  const r = await api('/api/identify', { username, captcha: solved, purpose });
  busy(button, false);
  if (r.ok) {
    Object.assign(state, { flow: r.data.flow, username, methods: r.data.methods || [], gatesRequired: r.data.gates_required || 1, gatesPassed: 0, used: new Set() });
    chooseMethod();
    return;
  }
  const code = r.data.error;
  if (isSeedError(code)) {
    renderSeedError(step.end, code, { username, purpose });
    show(step.end);
    return;
  }
  if (code === 'not_locked') {
    renderEnd(step.end, "Your account isn't locked", ['There is nothing to unlock: you can sign in with your password as usual.', 'If you forgot your password, reset it instead.'], [['/reset', 'Reset my password'], ['/', 'Back to the start']]);
    show(step.end);
    return;
  }
  if (code === 'captcha_invalid') say(region, el('p', { text: "We couldn't confirm that you're not a robot. We've started a new check: please select Next again." }));
  else say(region, el('p', { text: explain(r) }));
  captcha.prepare();
});

// ---- Choose a method ----
function chooseMethod() {
  const options = $('#options');
  // Texting and calling the same mobile phone prove one factor: a second gate needs another.
  const factor = (id) => (id === 'mobile_call' ? 'mobile_text' : id);
  const usedFactors = new Set([...state.used].map(factor));
  const available = state.methods.filter((m) => !usedFactors.has(factor(m.id)));
  const n = state.gatesPassed + 1;
  options.replaceChildren(...available.map((m) => el('label', { class: 'option' },
    el('input', { type: 'radio', name: 'method', value: m.id }),
    el('span', {}, el('span', { text: m.label }), m.hint ? el('span', { class: 'hint', text: m.hint }) : null))));
  $('#panel').hidden = true;
  say($('#method-err'));
  $('#method-intro').textContent = n > 1
    ? 'Your administrator requires an additional verification step. Choose a different option from the one you just used.'
    : 'Choose the contact method we should use for verification.';
  show(step.method, state.gatesRequired > 1 ? `Verification step ${n} of ${state.gatesRequired}` : 'Verification step 1');
}

$('#options').addEventListener('change', (event) => {
  const id = event.target.value;
  const m = state.methods.find((x) => x.id === id);
  if (!m) return;
  state.method = m;
  const verb = VERBS[m.kind === 'questions' ? 'questions' : m.id] || VERBS.email;
  $('#panel-text').textContent = verb.text(m.hint);
  const needsDest = m.id !== 'questions';
  $('#dest-box').hidden = !needsDest;
  const dest = $('#destination');
  if (needsDest) {
    $('#dest-label').textContent = verb.label;
    dest.type = verb.type;
    dest.autocomplete = verb.auto;
    dest.value = '';
    invalid(dest, false);
  }
  $('#send').textContent = verb.button;
  $('#panel').hidden = false;
  say($('#method-err'));
});

$('#method-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const region = $('#method-err');
  const m = state.method;
  if (!m || !$('input[name="method"]:checked')) {
    say(region, el('p', { text: 'Choose one of the options first.' }));
    return;
  }
  const dest = $('#destination');
  const destination = m.id === 'questions' ? '' : dest.value.trim();
  if (m.id !== 'questions' && !destination) {
    say(region, el('p', { text: m.kind === 'email' ? 'Enter your full email address.' : 'Enter your full phone number.' }));
    invalid(dest, true);
    dest.focus();
    return;
  }
  const button = $('#send');
  busy(button, true);
  const r = await api('/api/send-code', { flow: state.flow, method: m.id, destination });
  busy(button, false);
  if (r.ok && r.data.questions) {
    showQuestions(r.data.questions);
    return;
  }
  if (r.ok) {
    state.destination = destination;
    if (m.kind === 'voice') callWait.start(VERBS[m.id].sent(m.hint));
    else codeStep(r.data.expires_in);
    return;
  }
  if (ended(r)) return;
  if (r.data.error === 'destination_mismatch') {
    say(region, el('p', { text: m.kind === 'email'
      ? "That email address doesn't match the one we have for your account. Check it and try again."
      : "That phone number doesn't match the one we have for your account. Check it, including the country code, and try again." }));
    invalid(dest, true);
    dest.focus();
    return;
  }
  say(region, el('p', { text: explain(r) }));
});

// ---- Code entry ----
const codeEntry = new CodeEntry({
  verify: (typed) => api('/api/verify-code', { flow: state.flow, method: state.method.id, code: typed }),
  resend: () => api('/api/send-code', { flow: state.flow, method: state.method.id, destination: state.destination }),
  passed,
  ended,
  spent: (e) => [e === 'code_burned' ? 'This code can no longer be used after too many wrong tries.' : 'This code has expired.', 'Select "Resend code" to get a new one, or choose a different option.'],
  clearOnResend: true,
});

function codeStep(expiresIn) {
  const m = state.method;
  const verb = VERBS[m.id] || VERBS.email;
  const lifetime = expiresIn || policy.codeLifetime;
  codeEntry.start(`${verb.sent(m.hint)}${lifetime ? ` It expires in ${wait(lifetime)}.` : ''}`);
}

for (const back of document.querySelectorAll('[data-back]')) back.addEventListener('click', () => { callWait.stop(); chooseMethod(); });

// ---- "Press #" calls: poll verify-code (no code) every 2 s until # is pressed ----
const callWait = new CallWait({
  poll: () => api('/api/verify-code', { flow: state.flow, method: state.method.id }),
  again: () => api('/api/send-code', { flow: state.flow, method: state.method.id, destination: state.destination }),
  passed,
  ended,
});

// ---- Security questions ----
function showQuestions(questions, note) {
  const list = $('#q-list');
  list.replaceChildren(...questions.map((q, i) => el('div', {},
    el('label', { for: `q-${i}`, text: q.text }),
    el('input', { id: `q-${i}`, 'data-id': q.id, autocomplete: 'off', spellcheck: 'false', maxlength: '200' }))));
  say($('#q-err'), note ? el('p', { text: note }) : null);
  show(step.questions);
}

$('#q-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const region = $('#q-err');
  const inputs = [...$('#q-list').querySelectorAll('input')];
  const empty = inputs.find((i) => !i.value.trim());
  for (const i of inputs) invalid(i, false);
  if (empty) {
    say(region, el('p', { text: 'Answer every question.' }));
    invalid(empty, true);
    empty.focus();
    return;
  }
  const button = $('#q-next');
  busy(button, true);
  const r = await api('/api/verify-code', { flow: state.flow, method: 'questions', answers: inputs.map((i) => ({ id: i.dataset.id, answer: i.value })) });
  busy(button, false);
  if (r.ok) {
    passed(r.data);
    return;
  }
  if (ended(r)) return;
  if (r.data.error === 'wrong_answers' && Array.isArray(r.data.questions)) {
    showQuestions(r.data.questions, "One or more answers didn't match. For your security, please answer these questions instead.");
    return;
  }
  say(region, el('p', { text: explain(r) }));
});

// ---- After a gate ----
async function passed(result) {
  state.used.add(state.method.id);
  state.gatesPassed = result.gates_passed;
  codeEntry.stop();
  callWait.stop();
  if (result.next === 'choose_method') {
    chooseMethod();
  } else if (result.next === 'set_password' && step.password) {
    $('#pw-user').value = state.username;
    show(step.password);
  } else if (result.next === 'unlock') {
    await unlock();
  }
}

async function unlock() {
  const r = await api('/api/unlock', { flow: state.flow });
  if (r.ok) {
    state.flow = null;
    show(step.done);
    return;
  }
  if (ended(r)) return;
  renderEnd(step.end, "We couldn't unlock your account", [explain(r)], [[location.pathname, 'Start again'], ['/', 'Back to the start']]);
  show(step.end);
}

// ---- Choose a new password (reset) ----
if (step.password) {
  const pair = new PasswordPair($('#pw-form'));
  $('#pw-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const region = $('#pw-err');
    say(region);
    if (!pair.check(region)) return;
    const button = $('#pw-finish');
    busy(button, true);
    const r = await api('/api/set-password', { flow: state.flow, new_password: pair.value() });
    busy(button, false);
    if (r.ok) {
      state.flow = null;
      pair.clear();
      show(step.done);
      return;
    }
    if (ended(r)) return;
    if (r.data.error === 'password_policy') pair.violations(region, r.data);
    else say(region, el('p', { text: explain(r) }));
  });
}
