// The "not a robot" proof-of-work, off the main thread: find a decimal
// `solution` so that SHA-256(`${challenge}:${solution}`) starts with
// `difficulty` zero bits. Hashing is Web Crypto's; batches keep it quick.
const encoder = new TextEncoder();
const BATCH = 256;

function leadingZeros(buffer, bits) {
  const bytes = new Uint8Array(buffer);
  let i = 0;
  for (; bits >= 8; bits -= 8, i += 1) if (bytes[i] !== 0) return false;
  return bits === 0 || bytes[i] >> (8 - bits) === 0;
}

onmessage = async (event) => {
  const { challenge, difficulty } = event.data;
  const expected = 2 ** difficulty;
  let next = 0;
  let reported = 0;
  for (;;) {
    const batch = [];
    for (let k = 0; k < BATCH; k += 1) batch.push(crypto.subtle.digest('SHA-256', encoder.encode(`${challenge}:${next + k}`)));
    const hashes = await Promise.all(batch);
    for (let k = 0; k < BATCH; k += 1) {
      if (leadingZeros(hashes[k], difficulty)) {
        postMessage({ solution: String(next + k), tries: next + k + 1 });
        return;
      }
    }
    next += BATCH;
    // The chance a solver has found one by now: an honest progress estimate.
    const progress = 1 - Math.exp(-next / expected);
    if (progress - reported >= 0.02) {
      reported = progress;
      postMessage({ progress: Math.min(progress, 0.99), tries: next });
    }
  }
};
