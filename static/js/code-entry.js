// "Enter your verification code", shared by reset, unlock and registration: the
// 6-digit code in #code goes to POST /api/verify-code; a wrong, expired or burned
// code is explained; "Resend code" comes back after a cooldown, which only the
// page keeps (the server enforces the send throttles). The page passes in what
// differs: verify(code) and resend() calls, passed(data), ended(r) (true when it
// handled the failure itself), spent(error) → paragraphs for a burned or expired
// code, failed(r) → its own text or null, and clearOnResend.
import { explain } from './api.js';
import { $, busy, el, invalid, say, show, typedCode } from './ui.js';

const RESEND_AFTER = 30;

class Cooldown {
  constructor(button, text) {
    this.button = button;
    this.text = text;
    this.timer = null;
  }

  start(seconds = RESEND_AFTER) {
    let left = seconds;
    this.button.disabled = true;
    clearInterval(this.timer);
    const tick = () => {
      if (left <= 0) {
        this.ready();
        return;
      }
      this.text.textContent = `Didn't get it? You can ask for a new code in ${left} s.`;
      left -= 1;
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  ready(text = "Didn't get it? You can ask for a new code now.") {
    clearInterval(this.timer);
    this.button.disabled = false;
    this.text.textContent = text;
  }

  stop() {
    clearInterval(this.timer);
  }
}

export class CodeEntry {
  constructor(o) {
    this.o = o;
    this.step = $('#step-code');
    this.text = $('#code-text', this.step);
    this.input = $('#code', this.step);
    this.region = $('#code-err', this.step);
    this.submit = $('#code-form button[type="submit"]', this.step);
    this.resendButton = $('#resend', this.step);
    this.cooldown = new Cooldown(this.resendButton, $('#resend-wait', this.step));
    $('#code-form', this.step).addEventListener('submit', (event) => {
      event.preventDefault();
      this.check();
    });
    this.resendButton.addEventListener('click', () => this.resend());
  }

  /** Shows the step with `text` (where the code went), an empty field and a fresh cooldown. */
  start(text) {
    this.text.textContent = text;
    this.input.value = '';
    invalid(this.input, false);
    say(this.region);
    this.cooldown.start();
    show(this.step);
    this.listenForSms();
  }

  stop() {
    this.cooldown.stop();
    this.webOtp?.abort();
  }

  // WebOTP, where the browser has it: a text ending in "@<this host> #<code>"
  // fills the field (only for this origin) and submits it. Typing still works;
  // any failure or refusal leaves the field as it is.
  listenForSms() {
    this.webOtp?.abort();
    if (!('OTPCredential' in window)) return;
    this.webOtp = new AbortController();
    navigator.credentials
      .get({ otp: { transport: ['sms'] }, signal: this.webOtp.signal })
      .then((otp) => {
        if (otp && otp.code && !this.step.hidden) {
          this.input.value = otp.code;
          this.check();
        }
      })
      .catch(() => {});
  }

  async resend() {
    busy(this.resendButton, true);
    const r = await this.o.resend();
    busy(this.resendButton, false);
    if (r.ok) {
      say(this.region, el('p', { class: 'ok', text: 'We sent a new code. Any earlier code no longer works.' }));
      if (this.o.clearOnResend) this.input.value = '';
      this.input.focus();
      this.cooldown.start();
      this.listenForSms();
      return;
    }
    if (!this.o.ended(r)) say(this.region, el('p', { text: explain(r) }));
  }

  async check() {
    const { input, region } = this;
    const code = typedCode(input, region);
    if (!code) return;
    busy(this.submit, true);
    const r = await this.o.verify(code);
    busy(this.submit, false);
    if (r.ok) {
      this.stop();
      await this.o.passed(r.data);
      return;
    }
    if (this.o.ended(r)) return;
    const e = r.data.error;
    invalid(input, true);
    input.select();
    input.focus();
    if (e === 'wrong_code') {
      const n = r.data.attempts_left;
      say(region, el('p', { text: `That code isn't right. Check it and try again${n !== undefined ? ` (${n} ${n === 1 ? 'try' : 'tries'} left)` : ''}.` }));
    } else if (e === 'code_burned' || e === 'code_expired') {
      say(region, this.o.spent(e).map((text) => el('p', { text })));
      this.cooldown.ready('');
    } else {
      say(region, el('p', { text: (this.o.failed && this.o.failed(r)) || explain(r) }));
    }
  }
}
