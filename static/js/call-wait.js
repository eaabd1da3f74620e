// "Answer the call and press #" (#step-call), shared by reset, unlock and register:
// polls verify-code every 2 s; 202 waits, 200 → passed(data), 410 call_failed → "Call again".
// The page gives poll(), again(), passed(data), ended(r) (true: handled) and failed(r) (text or null).
import { explain } from './api.js';
import { $, busy, el, say, show } from './ui.js';

export class CallWait {
  constructor(o) {
    this.o = o;
    this.step = $('#step-call');
    this.again = $('#call-again', this.step);
    this.again.addEventListener('click', async () => {
      busy(this.again, true);
      const r = await o.again();
      busy(this.again, false);
      if (r.ok) this.start(this.said);
      else if (!o.ended(r)) this.tell(explain(r));
    });
  }

  start(text) {
    this.said = text;
    $('#call-text', this.step).textContent = text;
    this.again.hidden = true;
    this.tell();
    show(this.step);
    this.stop();
    this.timer = setInterval(() => this.poll(), 2000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  tell(text) {
    say($('#call-err', this.step), text ? el('p', { text }) : null);
  }

  async poll() {
    const { o, timer } = this;
    if (this.busy) return;
    this.busy = true;
    const r = await o.poll();
    this.busy = false;
    // Stopped or restarted meanwhile, or still ringing.
    if (this.timer !== timer || r.status === 202) return;
    this.stop();
    if (r.ok) return o.passed(r.data);
    if (o.ended(r)) return;
    this.tell((o.failed && o.failed(r)) || explain(r));
    this.again.hidden = r.data.error !== 'call_failed';
  }
}
