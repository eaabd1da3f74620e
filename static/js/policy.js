// The policy values the pages show, as the server owns them: GET /api/policy/public,
// asked once per page. When it cannot be asked, each value is null and the pages
// say less (no number); the server still checks every rule.
import { api } from './api.js';

let asked = null;

const count = (v) => (Number.isInteger(v) && v > 0 ? v : null);

/** {passwordMin, passwordMax, codeLifetime, flowLifetime} (seconds for lifetimes); null where unknown. */
export function publicPolicy() {
  if (!asked) {
    asked = api('/api/policy/public').then((r) => {
      const d = r.ok ? r.data : {};
      return {
        passwordMin: count(d.password_min_length),
        passwordMax: count(d.password_max_length),
        codeLifetime: count(d.code_lifetime_seconds),
        flowLifetime: count(d.flow_lifetime_seconds),
      };
    });
  }
  return asked;
}
