// Drives a running Keysmith with Auth0's official Node SDK (the `auth0` package's ManagementClient),
// checking every certificate with node:crypto.
//
// Usage: node auth0_client_check.mjs BASE_URL API_KEY   (BASE_URL like https://127.0.0.1:8443/api/v2)
//
// The SDK builds its base URL as https://{domain}/api/v2 and has no option for another scheme, so
// the server must speak TLS and Node must trust its certificate (NODE_EXTRA_CA_CERTS). Connection
// keys (provision, get, rotate, conflict, not found) and tenant signing keys (list, get, rotate,
// revoke), as tests/python/auth0_client_check.py does with the Python SDK. Prints one line per
// step and exits non-zero at the first surprise.

import { X509Certificate, createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";

import { Management, ManagementClient, ManagementError } from "auth0";

function check(label, cond, detail = "") {
  if (!cond) {
    console.log(`FAIL ${label}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok   ${label}`);
}

/** Awaits an SDK call that must reject with `ErrorClass` (a ManagementError with the parsed JSON body) and `status`. */
async function expectError(ErrorClass, status, label, promise) {
  let result;
  try {
    result = await promise;
  } catch (e) {
    check(label, e instanceof ErrorClass && e.statusCode === status,
      `${e?.constructor?.name} status ${e?.statusCode}, body ${JSON.stringify(e?.body)}${e instanceof ManagementError ? "" : `: ${e}`}`);
    return e;
  }
  check(label, false, `expected HTTP ${status}, the call returned ${JSON.stringify(result)}`);
}

const iso8601 = (value) => typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(value)
  && !Number.isNaN(Date.parse(value));

/** One DER element at `pos`: its tag, where its content starts and ends, and its whole encoding. */
function der(buf, pos) {
  const tag = buf[pos];
  let length = buf[pos + 1];
  let start = pos + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i];
    start += n;
  }
  return { tag, start, end: start + length, whole: buf.subarray(pos, start + length) };
}

/** The children of a constructed DER element. */
function children(buf, node) {
  const out = [];
  for (let pos = node.start; pos < node.end; pos = out.at(-1).end) out.push(der(buf, pos));
  return out;
}

const SIGNED_DATA = Buffer.from("06092a864886f70d010702", "hex"); // OID 1.2.840.113549.1.7.2

/** The certificates of a certs-only PKCS#7 (RFC 2315 SignedData) PEM, each as an X509Certificate. */
function pkcs7Certificates(pem) {
  const body = pem.replace(/-----(BEGIN|END) PKCS7-----/g, "").replace(/\s+/g, "");
  const buf = Buffer.from(body, "base64");
  const contentInfo = der(buf, 0);
  if (contentInfo.tag !== 0x30 || contentInfo.end !== buf.length) throw new Error("not one DER SEQUENCE");
  const [oid, explicit] = children(buf, contentInfo);
  if (!oid.whole.equals(SIGNED_DATA) || explicit.tag !== 0xa0) throw new Error("not a PKCS#7 SignedData");
  const [signedData] = children(buf, explicit);
  const fields = children(buf, signedData);
  const certificates = fields.find((f) => f.tag === 0xa0);
  const signerInfos = fields.at(-1);
  if (signerInfos.tag !== 0x31 || signerInfos.end !== signerInfos.start) throw new Error("a certs-only PKCS#7 has no signer infos");
  return certificates ? children(buf, certificates).map((c) => new X509Certificate(c.whole)) : [];
}

/** cert is PEM; fingerprint/thumbprint are its SHA-1; the PKCS#7 bundle holds exactly that cert. */
function checkCert(key, pkcsPem, label) {
  const cert = new X509Certificate(key.cert);
  const sha1 = createHash("sha1").update(cert.raw).digest("hex").toUpperCase();
  check(`${label}: thumbprint is the certificate's SHA-1`, key.thumbprint === sha1, key.thumbprint);
  check(`${label}: fingerprint is the colon-separated SHA-1`, key.fingerprint === sha1.match(/../g).join(":")
    && key.fingerprint === cert.fingerprint, key.fingerprint);
  check(`${label}: PKCS#7 is PEM`, typeof pkcsPem === "string" && pkcsPem.includes("-----BEGIN PKCS7-----"), pkcsPem);
  let bundle;
  try {
    bundle = pkcs7Certificates(pkcsPem);
  } catch (e) {
    check(`${label}: PKCS#7 parses`, false, String(e));
  }
  check(`${label}: PKCS#7 holds exactly the certificate`, bundle.length === 1 && bundle[0].raw.equals(cert.raw), bundle.length);
  check(`${label}: the certificate is self-signed`, cert.issuer === cert.subject && cert.verify(cert.publicKey), cert.subject);
  return cert;
}

function checkConnectionKey(key, label) {
  const fields = ["kid", "cert", "fingerprint", "thumbprint", "pkcs", "algorithm", "subject_dn"];
  check(`${label}: has ${fields.join(", ")}; key_use signing`, fields.every((f) => key[f]) && key.key_use === "signing", key);
  const cert = checkCert(key, key.pkcs, label);
  const cn = cert.subject.split("\n").find((line) => line.startsWith("CN="))?.slice(3);
  const expected = cn ?? cert.subject;
  check(`${label}: subject_dn names the certificate subject`, key.subject_dn.includes(expected), `${key.subject_dn} vs ${expected}`);
  return cert;
}

async function main() {
  const [baseUrl, apiKey] = process.argv.slice(2);
  const match = /^https:\/\/([^/]+)\/api\/v2\/?$/.exec(baseUrl ?? "");
  if (!match || !apiKey) {
    console.log("usage: node auth0_client_check.mjs https://HOST:PORT/api/v2 API_KEY (the SDK only speaks https)");
    process.exit(2);
  }
  const { version } = JSON.parse(readFileSync(new URL("./node_modules/auth0/package.json", import.meta.url)));
  console.log(`auth0 (node) ${version}`);
  const client = new ManagementClient({ domain: match[1], token: apiKey });
  const { connections } = client;
  const signing = client.keys.signing;

  // a. a connection to hang keys on
  const name = `ks-check-${randomBytes(6).toString("hex")}`;
  let r = await connections.create({ name, strategy: "samlp" }).withRawResponse();
  const conn = r.data;
  check("connections.create", r.rawResponse.status === 201 && conn.name === name && conn.strategy === "samlp", [r.rawResponse.status, conn]);
  check("connection id is con_ + 16 alphanumerics", /^con_[A-Za-z0-9]{16}$/.test(conn.id ?? ""), conn.id);
  const cid = conn.id;

  // b. provision
  r = await connections.keys.create(cid, { signing_alg: "RS256" }).withRawResponse();
  check("connections.keys.create (RS256) returns 2 keys", r.rawResponse.status === 201 && Array.isArray(r.data) && r.data.length === 2,
    [r.rawResponse.status, r.data]);
  const provisioned = new Set(r.data.map((k) => k.kid));
  const roles = r.data.map((k) => `${Boolean(k.current)},${Boolean(k.next)}`).sort();
  check("provisioned keys are one current and one next", JSON.stringify(roles) === JSON.stringify(["false,true", "true,false"]), r.data);

  // c, d. get
  let keys = await connections.keys.get(cid);
  check("connections.keys.get returns the 2 provisioned keys", keys.length === 2 && keys.every((k) => provisioned.has(k.kid)), keys);
  let current = keys.filter((k) => k.current);
  let next = keys.filter((k) => k.next);
  check("exactly one current and one next", current.length === 1 && next.length === 1 && current[0].kid !== next[0].kid, keys);
  [current, next] = [current[0], next[0]];
  check("current key has an ISO-8601 current_since", iso8601(current.current_since), current.current_since);
  for (const k of keys) {
    const cert = checkConnectionKey(k, `RS256 key ${k.kid}`);
    check(`RS256 key ${k.kid}: algorithm is RS256, an RSA key`, k.algorithm === "RS256" && cert.publicKey.asymmetricKeyType === "rsa", k.algorithm);
  }

  // e. rotate to ES256
  r = await connections.keys.rotate(cid, { signing_alg: "ES256" }).withRawResponse();
  const rotated = r.data;
  check("connections.keys.rotate (ES256) returns the new next key", r.rawResponse.status === 201 && !Array.isArray(rotated)
    && !provisioned.has(rotated.kid) && rotated.next !== false, [r.rawResponse.status, rotated]);
  const byKid = Object.fromEntries((await connections.keys.get(cid)).map((k) => [k.kid, k]));
  check("after rotation get returns 3 keys", Object.keys(byKid).length === 3 && rotated.kid in byKid, Object.keys(byKid));
  const [newCurrent, oldCurrent, newNext] = [byKid[next.kid], byKid[current.kid], byKid[rotated.kid]];
  check("the old next key is current", newCurrent.current && !newCurrent.next && !newCurrent.previous, newCurrent);
  check("the new current key has an ISO-8601 current_since", iso8601(newCurrent.current_since), newCurrent.current_since);
  check("the old current key is previous", oldCurrent.previous && !oldCurrent.current && !oldCurrent.next, oldCurrent);
  check("the rotated key is next", newNext.next && !newNext.current && !newNext.previous, newNext);
  check("rotate returned the key get lists as next", rotated.cert === newNext.cert && rotated.thumbprint === newNext.thumbprint);
  const cert = checkConnectionKey(newNext, `ES256 key ${newNext.kid}`);
  const details = cert.publicKey.asymmetricKeyDetails;
  check("the new next key is EC P-256", cert.publicKey.asymmetricKeyType === "ec" && details?.namedCurve === "prime256v1", details);
  check("the new next key's algorithm is ES256", newNext.algorithm === "ES256", newNext.algorithm);

  // f, g. errors
  await expectError(Management.ConflictError, 409, "provisioning again is a 409 (ConflictError)",
    connections.keys.create(cid, { signing_alg: "RS256" }));
  const e = await expectError(Management.NotFoundError, 404, "keys of a missing connection are a 404 (NotFoundError)",
    connections.keys.get("con_AAAAAAAAAAAAAAAA"));
  check("the 404 body has errorCode inexistent_connection", e.body?.errorCode === "inexistent_connection" && e.body?.statusCode === 404, e.body);

  // h. tenant signing keys
  let listed = await signing.list();
  for (const k of listed) {
    check(`signing key ${k.kid}: has kid, cert, fingerprint, thumbprint, pkcs7`, [k.kid, k.cert, k.fingerprint, k.thumbprint, k.pkcs7].every(Boolean), k);
    checkCert(k, k.pkcs7, `signing key ${k.kid}`);
  }
  current = listed.filter((k) => k.current);
  next = listed.filter((k) => k.next);
  check("keys.signing.list has one current and one next key", current.length === 1 && next.length === 1, listed);
  [current, next] = [current[0], next[0]];
  const got = await signing.get(current.kid);
  check("keys.signing.get(current kid)", got.kid === current.kid && got.cert === current.cert && got.current, got);

  r = await signing.rotate().withRawResponse();
  check("keys.signing.rotate returns {cert, kid}", r.rawResponse.status === 201 && r.data.kid && r.data.cert, [r.rawResponse.status, r.data]);
  const newKid = r.data.kid;
  listed = Object.fromEntries((await signing.list()).map((k) => [k.kid, k]));
  check("the rotated signing key is listed as next", listed[newKid]?.next && listed[newKid].cert === r.data.cert, listed[newKid]);
  check("the old next signing key is current", listed[next.kid].current && !listed[next.kid].next, listed[next.kid]);
  check("the old current signing key is previous", listed[current.kid].previous && !listed[current.kid].current, listed[current.kid]);

  r = await signing.revoke(current.kid).withRawResponse();
  check("keys.signing.revoke(previous kid) returns {cert, kid}", r.rawResponse.status === 200 && r.data.kid === current.kid
    && r.data.cert === current.cert, [r.rawResponse.status, r.data]);
  const revoked = await signing.get(current.kid);
  check("the revoked key shows revoked and revoked_at", revoked.revoked === true && iso8601(revoked.revoked_at), revoked);
  await expectError(Management.NotFoundError, 404, "keys.signing.get of an unknown kid is a 404", signing.get("no-such-kid"));

  // i. a wrong token
  const wrong = new ManagementClient({ domain: match[1], token: `wrong-${randomBytes(8).toString("hex")}` });
  await expectError(Management.UnauthorizedError, 401, "a wrong token is a 401 (UnauthorizedError)", wrong.keys.signing.list());

  console.log("all auth0 node sdk checks passed");
}

/** The chain of causes of an error (fetch failed ← self-signed certificate ...). */
function causes(error) {
  const out = [];
  for (let c = error?.cause; c && out.length < 5; c = c.cause) out.push(c.code ?? c.message ?? String(c));
  return out.length ? ` (cause: ${out.join(" <- ")})` : "";
}

main().catch((error) => {
  console.log(`FAIL unexpected error${causes(error)}: ${error?.stack ?? error}${error?.body ? ` body ${JSON.stringify(error.body)}` : ""}`);
  process.exit(1);
});
