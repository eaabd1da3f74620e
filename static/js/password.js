// "Choose a new password" + confirm, with live feedback: length and match are
// checked as you type, against the lengths the server's policy sets
// (GET /api/policy/public); the server's 422 lists every rule broken.
import { publicPolicy } from './api.js';
import { el, invalid, say } from './ui.js';

export class PasswordPair {
  constructor(root) {
    this.input = root.querySelector('[data-pw="new"]');
    this.confirm = root.querySelector('[data-pw="confirm"]');
    this.length = root.querySelector('[data-pw="length"]');
    this.match = root.querySelector('[data-pw="match"]');
    // The policy's lengths; null until known (or when the server could not be asked).
    this.min = null;
    this.max = null;
    const toggle = root.querySelector('[data-pw="show"]');
    this.input.addEventListener('input', () => this.update());
    this.confirm.addEventListener('input', () => this.update());
    if (toggle) {
      toggle.addEventListener('change', () => {
        const type = toggle.checked ? 'text' : 'password';
        for (const i of root.querySelectorAll('input[data-pw-field]')) i.type = type;
      });
    }
    this.update();
    publicPolicy().then((p) => {
      this.min = p.passwordMin;
      this.max = p.passwordMax;
      this.update();
    });
  }

  update() {
    const n = [...this.input.value].length;
    const { min, max } = this;
    if (n === 0) this.mark(this.length, '', `${min ? `Use at least ${min} characters.` : 'Use a long password.'} A few unrelated words make a strong password.`);
    else if (min && n < min) this.mark(this.length, 'bad', `${n} of at least ${min} characters.`);
    else if (max && n > max) this.mark(this.length, 'bad', `Too long: at most ${max} characters.`);
    else if (min) this.mark(this.length, 'good', `✓ Long enough (${n} characters).`);
    else this.mark(this.length, '', `${n} character${n === 1 ? '' : 's'}.`);
    if (!this.confirm.value) this.mark(this.match, '', 'Type the same password again.');
    else if (this.confirm.value === this.input.value) this.mark(this.match, 'good', '✓ The passwords match.');
    else this.mark(this.match, 'bad', "The passwords don't match yet.");
  }

  mark(node, kind, text) {
    node.className = `live${kind ? ` ${kind}` : ''}`;
    node.textContent = text;
  }

  /** Checks before sending (lengths only when the policy is known); shows the problem in `region` and focuses the field. */
  check(region) {
    const n = [...this.input.value].length;
    const { min, max } = this;
    invalid(this.input, false);
    invalid(this.confirm, false);
    let problem = null;
    let field = null;
    if (n === 0) [problem, field] = ['Enter a new password.', this.input];
    else if (min && n < min) [problem, field] = [`Your new password needs at least ${min} characters.`, this.input];
    else if (max && n > max) [problem, field] = [`Your new password can have at most ${max} characters.`, this.input];
    else if (this.confirm.value !== this.input.value) [problem, field] = ["The two passwords don't match. Type the new password again to confirm it.", this.confirm];
    if (!problem) return true;
    say(region, el('p', { text: problem }));
    invalid(field, true);
    field.focus();
    return false;
  }

  /** Shows a `422 password_policy` answer: every rule broken. */
  violations(region, data) {
    const list = (data.violations || []).map((v) => el('li', { 'data-rule': v.rule, text: v.message }));
    say(region, el('p', { text: "Your new password doesn't meet the password rules:" }), list.length ? el('ul', {}, list) : null);
    invalid(this.input, true);
    this.input.focus();
  }

  value() { return this.input.value; }

  clear() {
    this.input.value = '';
    this.confirm.value = '';
    this.update();
  }
}
