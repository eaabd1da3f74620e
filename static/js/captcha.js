// The CAPTCHA of "Who are you?": fetches a proof-of-work challenge and solves
// it in a Web Worker, showing progress; the page stays responsive meanwhile.
import { api, explain } from './api.js';

export class Captcha {
  constructor(bar, text, box) {
    this.bar = bar;
    this.text = text;
    this.box = box;
    this.pending = null;
    this.worker = null;
  }

  /** Starts on a fresh challenge (drops any earlier one). */
  prepare() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.pending = this.solve();
    this.pending.catch(() => {});
    return this.pending;
  }

  /** The solved CAPTCHA for one identify call (each is single use); solves a new one if needed. */
  async take() {
    if (!this.pending) this.prepare();
    let solved;
    try {
      solved = await this.pending;
    } catch {
      solved = await this.prepare();
    }
    if (solved.expiresAt * 1000 < Date.now() + 5000) solved = await this.prepare();
    this.pending = null;
    return { challenge: solved.challenge, solution: solved.solution };
  }

  state(text, value, done) {
    this.text.textContent = text;
    this.bar.value = value;
    this.box.classList.toggle('done', !!done);
  }

  async solve() {
    this.state("Checking that you're not a robot…", 0, false);
    const r = await api('/api/identify/challenge');
    if (!r.ok) {
      this.state(explain(r), 0, false);
      throw Object.assign(new Error('challenge'), { r });
    }
    const { challenge, difficulty, expires_at: expiresAt } = r.data;
    const worker = new Worker('/js/pow-worker.js');
    this.worker = worker;
    const solution = await new Promise((resolve, reject) => {
      worker.onmessage = (e) => {
        if (e.data.solution !== undefined) resolve(e.data.solution);
        else this.bar.value = Math.round(e.data.progress * 100);
      };
      worker.onerror = () => reject(new Error('worker'));
      worker.postMessage({ challenge, difficulty });
    });
    worker.terminate();
    if (this.worker === worker) this.worker = null;
    this.state("Done: you're not a robot.", 100, true);
    return { challenge, solution, expiresAt };
  }
}
