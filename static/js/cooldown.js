// "Resend code" becomes available only after a cooldown, with a visible count.
export const RESEND_AFTER = 30;

export class Cooldown {
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
