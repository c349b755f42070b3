// Key generation in Node's crypto: one JSON line per algorithm (see README.md).
// Per key: generateKeyPairSync with PKCS#8 DER and SPKI DER output; HMAC: crypto.randomBytes.
//   node gen.mjs [--samples N] [--batch N]
import { generateKeyPairSync, randomBytes } from 'node:crypto';

const der = {
  publicKeyEncoding: { type: 'spki', format: 'der' },
  privateKeyEncoding: { type: 'pkcs8', format: 'der' },
};
const rsa = (bits) => () => generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001, ...der });
const ec = (curve) => () => generateKeyPairSync('ec', { namedCurve: curve, ...der });
const secret = (size) => () => randomBytes(size);

// [label, one key, slow]
const ALGORITHMS = [
  ['RSA-2048', rsa(2048), true],
  ['RSA-3072', rsa(3072), true],
  ['RSA-4096', rsa(4096), true],
  ['P-256', ec('prime256v1'), false],
  ['P-384', ec('secp384r1'), false],
  ['P-521', ec('secp521r1'), false],
  ['Ed25519', () => generateKeyPairSync('ed25519', der), false],
  ['HS256', secret(32), false],
  ['HS384', secret(48), false],
  ['HS512', secret(64), false],
];

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

// The first key's output looks right: two DER SEQUENCEs, or a secret of the right size.
function check(label, out) {
  const ok = Buffer.isBuffer(out)
    ? out.length === Number(label.slice(2)) / 8
    : out.privateKey[0] === 0x30 && out.publicKey[0] === 0x30;
  if (!ok) throw new Error(`${label}: unexpected output`);
}

// Median time per key: one key per sample (RSA) or a batch divided by its size.
function medianUs(one, slow, samples, batch) {
  const n = slow ? 1 : batch;
  for (let i = 0; i < (slow ? 3 : 200); i++) one();
  const times = [];
  for (let s = 0; s < samples; s++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) one();
    times.push(Number(process.hrtime.bigint() - start) / n / 1000);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

const samples = option('--samples', 30);
const batch = option('--batch', 100);
const peer = `node ${process.versions.node} (OpenSSL ${process.versions.openssl})`;
for (const [label, one, slow] of ALGORITHMS) {
  check(label, one());
  const median = medianUs(one, slow, samples, batch);
  const line = { peer, algorithm: label, median_us: Math.round(median * 1000) / 1000, samples };
  console.log(JSON.stringify(line));
}
