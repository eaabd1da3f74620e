// "Enter your verification code", the step reset, unlock and registration share:
// the 6-digit code typed into #code is sent to POST /api/verify-code; a wrong,
// expired or burned code is explained; "Resend code" is offered after a cooldown.
// The page owns the flow: it passes in how to verify, resend, and go on.
import { explain } from './api.js';
import { Cooldown } from './cooldown.js';
import { $, busy, el, invalid, say, show, typedCode } from './ui.js';

export class CodeEntry {
  /**
   * @param {object} o
   * @param {(code: string) => Promise<object>} o.verify  POST /api/verify-code with the page's flow and method.
   * @param {() => Promise<object>} o.resend  POST /api/send-code again for the same destination.
   * @param {(data: object) => any} o.passed  the code was right (the cooldown is already stopped).
   * @param {(r: object) => boolean} o.ended  true when the page dealt with a failure itself (flow gone, signed out).
   * @param {(error: string) => string[]} o.spent  the paragraphs for `code_burned` / `code_expired`.
   * @param {(r: object) => string | null} [o.failed]  the page's own text for other failures (null: the server's).
   * @param {boolean} [o.clearOnResend]  empty the field when a new code is sent.
   */
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
  }

  /** Stops the resend countdown (the step is left). */
  stop() {
    this.cooldown.stop();
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
      const text = this.o.failed && this.o.failed(r);
      say(region, el('p', { text: text || explain(r) }));
    }
  }
}
