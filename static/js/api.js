// The JSON API as the pages use it. Flow ids and CSRF tokens live only in the
// memory of the page's modules (never in the URL or localStorage).
let csrf = null;

/** Remembers the CSRF token a sign-in handed out (sent on every state change). */
export function setCsrf(token) { csrf = token || null; }

/**
 * Calls the API: `body` given → POST (or `method`) with JSON.
 * Always resolves to {ok, status, data, retryAfter}; `data` has {error, message} on failure.
 */
export async function api(path, body, method) {
  const init = { method: method || (body === undefined ? 'GET' : 'POST'), headers: { accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (csrf && init.method !== 'GET') init.headers['x-csrf-token'] = csrf;
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, data: { error: 'network', message: "We couldn't reach the service. Check your connection and try again." } };
  }
  let data = {};
  try { data = await res.json(); } catch { data = {}; }
  if (!res.ok && (!data || typeof data.message !== 'string')) {
    data = { error: (data && data.error) || `http_${res.status}`, message: 'Something went wrong on our side. Please try again in a moment.' };
  }
  const retry = Number(res.headers.get('retry-after') || (data && data.retry_after) || 0);
  return { ok: res.ok, status: res.status, data: data || {}, retryAfter: retry };
}

/** "2 minutes" / "45 seconds" for a Retry-After. */
export function wait(seconds) {
  if (seconds >= 3600) { const h = Math.ceil(seconds / 3600); return `${h} hour${h > 1 ? 's' : ''}`; }
  if (seconds >= 60) { const m = Math.ceil(seconds / 60); return `${m} minute${m > 1 ? 's' : ''}`; }
  const s = Math.max(1, Math.ceil(seconds));
  return `${s} second${s > 1 ? 's' : ''}`;
}

/** The human text for an API failure, with the wait for throttles. */
export function explain(r) {
  const d = r.data || {};
  if (d.error === 'throttled' && r.retryAfter) return `Too many attempts. Please wait ${wait(r.retryAfter)} and try again.`;
  return d.message || 'Something went wrong. Please try again.';
}

let policy = null;
const count = (v) => (Number.isInteger(v) && v > 0 ? v : null);

/**
 * The numbers the policy owns that the pages show (GET /api/policy/public, asked once):
 * {passwordMin, passwordMax, codeLifetime, flowLifetime} (lifetimes in seconds), each
 * null when it could not be read; the pages then show no number (the server still checks).
 */
export function publicPolicy() {
  policy = policy || api('/api/policy/public').then(({ ok, data }) => {
    const d = ok ? data : {};
    return { passwordMin: count(d.password_min_length), passwordMax: count(d.password_max_length), codeLifetime: count(d.code_lifetime_seconds), flowLifetime: count(d.flow_lifetime_seconds) };
  });
  return policy;
}
