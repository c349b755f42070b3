// Drives a running Keysmith with FusionAuth's official Node client (@fusionauth/typescript-client),
// checking what it returns with node:crypto and tokens with `jose`.
//
// Usage: node fusionauth_client_check.mjs BASE_URL API_KEY   (BASE_URL like http://127.0.0.1:8080)
//
// Every Keys API and JWT call a FusionAuth user makes from Node: generate (RS256, ES256, HS256,
// Ed25519), import (node:crypto's own keys and FusionAuth's documented certificate), retrieve,
// list, search (body and parameters, paging, totals), rename, delete, the JWKS and public keys,
// vend and validate, and error responses (thrown ClientResponse objects) that parse. Expects a
// fresh server. Prints one line per step and exits non-zero at the first surprise.

import { X509Certificate, createHash, createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";

import fusionauth from "@fusionauth/typescript-client";
import { calculateJwkThumbprint, createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";

const { FusionAuthClient } = fusionauth;

// FusionAuth's documented import example (bare base64 DER certificate), as in the Python check.
const FA_CERT =
  "MIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJa" +
  "Fw0yOTA3MDMyMTI0MzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe" +
  "/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7y" +
  "TRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5E" +
  "YQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqG" +
  "SIb3DQEBCwUAA4IBAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7Xm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQ" +
  "BmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVYOfXE5+OQ3URyNyh8" +
  "8g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsauAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKr" +
  "kUlBh6gSyN7SGJBvWEh6+zZF";

const AUDIENCE = "keysmith-node-tests";

function check(label, cond, detail = "") {
  if (!cond) {
    console.log(`FAIL ${label}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok   ${label}`);
}

/** Awaits a client call that must succeed; a thrown ClientResponse fails the step with its status and errors. */
async function ok(label, promise) {
  try {
    return await promise;
  } catch (e) {
    const why = e?.exception instanceof Error ? e.exception.message : JSON.stringify(e?.exception ?? null);
    check(label, false, `threw status ${e?.statusCode}, error ${e instanceof Error ? e.message : why}`);
  }
}

/** Awaits a client call that must fail: the client throws a ClientResponse on non-2xx. */
async function failure(label, promise) {
  let result;
  try {
    result = await promise;
  } catch (e) {
    check(`${label}: the client throws a ClientResponse`, e?.constructor?.name === "ClientResponse" && typeof e.statusCode === "number", String(e));
    return e;
  }
  check(label, false, `expected an error, the call returned status ${result?.statusCode}`);
}

/** A response must carry no private key, secret or privateKey field. */
function noPrivateMaterial(label, value) {
  const text = JSON.stringify(value);
  check(`${label}: no private key or secret in the response`,
    !text.includes("PRIVATE KEY") && !text.includes('"secret"') && !text.includes("privateKey"));
}

/** The token with one character in the middle of its signature changed (the last one may only hold padding bits). */
function tamper(token) {
  const [header, claims, signature] = token.split(".");
  return `${header}.${claims}.${signature.slice(0, 5)}${signature[5] === "A" ? "B" : "A"}${signature.slice(6)}`;
}

const colonHex = (buf) => buf.toString("hex").toUpperCase().match(/../g).join(":");
const stripZeros = (hex) => hex.replace(/^0+/, "").toUpperCase();

/** The key's certificate against node:crypto: fingerprints, thumbprints, public key, self-signature. */
function checkCertificate(label, key) {
  const info = key.certificateInformation;
  const cert = new X509Certificate(key.certificate);
  check(`${label}: certificate is PEM with \\n line ends`, key.certificate.startsWith("-----BEGIN CERTIFICATE-----\n") && !key.certificate.includes("\r"));
  check(`${label}: md5/sha1/sha256 fingerprints are of the DER certificate`,
    info.md5Fingerprint === colonHex(createHash("md5").update(cert.raw).digest())
      && info.sha1Fingerprint === cert.fingerprint && info.sha256Fingerprint === cert.fingerprint256, info);
  check(`${label}: thumbprints are base64url SHA-1 and SHA-256`,
    info.sha1Thumbprint === createHash("sha1").update(cert.raw).digest("base64url")
      && info.sha256Thumbprint === createHash("sha256").update(cert.raw).digest("base64url"), info);
  check(`${label}: publicKey is the certificate's SPKI`,
    key.publicKey.trim() === cert.publicKey.export({ type: "spki", format: "pem" }).trim());
  check(`${label}: serialNumber is the certificate's, in colon hex`,
    stripZeros(info.serialNumber.replaceAll(":", "")) === stripZeros(cert.serialNumber), `${info.serialNumber} vs ${cert.serialNumber}`);
  check(`${label}: validTo is the certificate's and the expiration`,
    info.validTo === Date.parse(cert.validTo) && key.expirationInstant === info.validTo, `${info.validTo} vs ${cert.validTo}`);
  return cert;
}

/** A generated key's certificate: self-signed, CN=issuer, serial = the key's UUID, about 10 years. */
function checkGeneratedCertificate(label, key) {
  const cert = checkCertificate(label, key);
  check(`${label}: self-signed for CN=<issuer>`, cert.subject === `CN=${key.issuer}` && cert.issuer === cert.subject
    && cert.verify(cert.publicKey), `${cert.subject} / ${cert.issuer}`);
  check(`${label}: serial number is the key's UUID`, stripZeros(cert.serialNumber) === stripZeros(key.id.replaceAll("-", "")), cert.serialNumber);
  const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 86400e3);
  check(`${label}: valid for 10 years`, Math.abs(years - 10) < 0.02, years);
  check(`${label}: kid is the sha1Thumbprint`, key.kid === key.certificateInformation.sha1Thumbprint, key.kid);
  return cert;
}

async function main() {
  const [baseUrl, apiKey] = process.argv.slice(2);
  if (!baseUrl || !apiKey) {
    console.log("usage: node fusionauth_client_check.mjs BASE_URL API_KEY");
    process.exit(2);
  }
  const client = new FusionAuthClient(apiKey, baseUrl);
  const { version } = JSON.parse(readFileSync(new URL("./node_modules/@fusionauth/typescript-client/package.json", import.meta.url)));
  console.log(`@fusionauth/typescript-client ${version}`);

  // generate: RSA (length required), EC with a chosen id, Ed25519, HMAC
  let r = await ok("generateKey RS256", client.generateKey(null, { key: { algorithm: "RS256", name: "node rsa", length: 2048 } }));
  check("generateKey RS256 is a 200 with the key", r.statusCode === 200 && r.wasSuccessful() && r.response.key?.id, r.statusCode);
  const rsa = r.response.key;
  check("RS256 key: type RSA, 2048 bits, has a private key", rsa.type === "RSA" && rsa.algorithm === "RS256" && rsa.length === 2048
    && rsa.hasPrivateKey === true && Number.isInteger(rsa.insertInstant), rsa);
  noPrivateMaterial("generateKey RS256", r.response);
  checkGeneratedCertificate("RS256 key", rsa);

  const ecId = randomUUID();
  r = await ok("generateKey ES256 with an id", client.generateKey(ecId, { key: { algorithm: "ES256", name: "node ec" } }));
  const ec = r.response.key;
  check("generateKey ES256 with an id keeps the id", ec.id === ecId && ec.type === "EC" && ec.length === 256, ec);
  const ecCert = checkGeneratedCertificate("ES256 key", ec);
  check("ES256 key is on P-256", ecCert.publicKey.asymmetricKeyDetails?.namedCurve === "prime256v1", ecCert.publicKey.asymmetricKeyDetails);

  r = await ok("generateKey Ed25519", client.generateKey(null, { key: { algorithm: "Ed25519", name: "node ed25519" } }));
  const ed = r.response.key;
  check("Ed25519 key: type OKP, length 32", ed.algorithm === "Ed25519" && ed.type === "OKP" && ed.length === 32, ed);
  const edCert = checkGeneratedCertificate("Ed25519 key", ed);
  check("Ed25519 key is an Ed25519 public key", edCert.publicKey.asymmetricKeyType === "ed25519", edCert.publicKey.asymmetricKeyType);

  r = await ok("generateKey HS256", client.generateKey(null, { key: { algorithm: "HS256", name: "node hmac" } }));
  const hmac = r.response.key;
  const absent = ["certificate", "certificateInformation", "expirationInstant", "hasPrivateKey", "issuer", "length", "publicKey"];
  check("HS256 key omits every asymmetric field", hmac.type === "HMAC" && absent.every((f) => !(f in hmac)), hmac);
  check("HS256 key has a 10-hex-character kid", /^[0-9a-f]{10}$/.test(hmac.kid), hmac.kid);
  noPrivateMaterial("generateKey HS256", r.response);

  // import: node:crypto's own keys, and FusionAuth's documented certificate
  const ecPair = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const ecPublicPem = ecPair.publicKey.export({ type: "spki", format: "pem" });
  r = await ok("importKey an EC P-384 public key from node:crypto",
    client.importKey(null, { key: { name: "node imported ec public key", publicKey: ecPublicPem } }));
  const importedEc = r.response.key;
  const expectedKid = await calculateJwkThumbprint(ecPair.publicKey.export({ format: "jwk" }), "sha256");
  check("imported public key: ES384 inferred, verify-only, kid is the RFC 7638 thumbprint",
    importedEc.algorithm === "ES384" && importedEc.type === "EC" && importedEc.length === 384
      && importedEc.hasPrivateKey === false && importedEc.kid === expectedKid, importedEc);
  check("imported public key: publicKey is the one sent", importedEc.publicKey.trim() === ecPublicPem.trim());

  const rsaPair = generateKeyPairSync("rsa", { modulusLength: 2048 });
  r = await ok("importKey an RSA private key (PKCS#8) from node:crypto", client.importKey(null, {
    key: { name: "node imported rsa private key", algorithm: "RS256", privateKey: rsaPair.privateKey.export({ type: "pkcs8", format: "pem" }) },
  }));
  const importedRsa = r.response.key;
  noPrivateMaterial("importKey of a private key", r.response);
  check("imported private key: the public key is derived, hasPrivateKey",
    importedRsa.hasPrivateKey === true && importedRsa.length === 2048
      && importedRsa.publicKey.trim() === rsaPair.publicKey.export({ type: "spki", format: "pem" }).trim(), importedRsa);

  const secret = randomBytes(48).toString("base64url");
  r = await ok("importKey an HMAC secret", client.importKey(null, { key: { name: "node imported hmac", type: "HMAC", algorithm: "HS256", secret } }));
  const importedHmac = r.response.key;
  check("imported HMAC key does not echo the secret", !JSON.stringify(r.response).includes(secret) && !("secret" in importedHmac));

  r = await ok("importKey (FusionAuth's documented example)",
    client.importKey(null, { key: { name: "SHA-256 with RSA", kid: "zamAX0036820RULfdjUV6YkhYbY", certificate: FA_CERT } }));
  const faKey = r.response.key;
  check("imported certificate matches the documentation",
    faKey.certificateInformation?.sha1Fingerprint === "CD:A9:80:5F:4D:37:EB:CD:B4:45:42:DF:76:35:15:E9:89:21:61:B6"
      && faKey.certificateInformation.sha256Thumbprint === "M3zLTCM79SJJL2jF-tFuPHJUyzzm0XAIVfxDJJqYBc8"
      && faKey.certificateInformation.subject === "CN=acme.com" && faKey.issuer === "acme.com"
      && faKey.hasPrivateKey === false && faKey.length === 2048 && faKey.algorithm === "RS256", faKey);
  checkCertificate("imported certificate", faKey);

  // retrieve and list
  r = await ok("retrieveKey", client.retrieveKey(rsa.id));
  check("retrieveKey returns the generated key unchanged", JSON.stringify(r.response.key) === JSON.stringify(rsa), r.response.key);
  r = await ok("retrieveKeys", client.retrieveKeys());
  const all = r.response.keys;
  check("retrieveKeys lists the 8 keys", all.length === 8 && all.some((k) => k.id === ecId), all.map((k) => k.name));
  noPrivateMaterial("retrieveKeys", r.response);

  // search (body): a name wildcard, paged by startRow/numberOfResults, with totals
  const nodeNames = all.map((k) => k.name).filter((n) => n.startsWith("node ")).sort();
  const pages = [];
  for (const startRow of [0, 3, 6]) {
    r = await ok(`searchKeys name node* startRow ${startRow}`,
      client.searchKeys({ search: { name: "node*", orderBy: "name ASC", numberOfResults: 3, startRow } }));
    check(`searchKeys page at ${startRow}: total counts every match`, r.response.total === nodeNames.length, r.response.total);
    pages.push(...r.response.keys.map((k) => k.name));
  }
  check("searchKeys pages are in name order, disjoint and complete", JSON.stringify(pages) === JSON.stringify(nodeNames), pages);

  r = await ok("searchKeys by type", client.searchKeys({ search: { type: "EC" } }));
  check("searchKeys type EC finds both EC keys", r.response.total === 2
    && JSON.stringify(r.response.keys.map((k) => k.name)) === JSON.stringify(["node ec", "node imported ec public key"]), r.response);
  r = await ok("searchKeys by algorithm and name", client.searchKeys({ search: { algorithm: "RS256", name: "NODE*", orderBy: "insertInstant DESC" } }));
  check("searchKeys algorithm RS256 + case-insensitive name, newest first", r.response.total === 2
    && JSON.stringify(r.response.keys.map((k) => k.name)) === JSON.stringify(["node imported rsa private key", "node rsa"]), r.response);
  r = await ok("searchKeys by a name without wildcard", client.searchKeys({ search: { name: "imported" } }));
  check("a name without a wildcard means contains", r.response.total === 3 && r.response.keys.every((k) => k.name.includes("imported")), r.response);
  // search (query parameters): the client sends every parameter, an omitted one as the text
  // "undefined" (algorithm=undefined&...), so a query it builds is well formed only with all six.
  r = await ok("searchKeysByParameters", client.searchKeysByParameters("Ed25519", "node*", 2, "name DESC", 1, "OKP"));
  check("searchKeysByParameters: type OKP, paging past the only match", r.response.total === 1 && r.response.keys.length === 0, r.response);
  r = await ok("searchKeysByParameters", client.searchKeysByParameters("HS256", "*", 25, "name ASC", 0, "HMAC"));
  check("searchKeysByParameters: algorithm HS256 finds both HMAC keys", r.response.total === 2
    && JSON.stringify(r.response.keys.map((k) => k.name)) === JSON.stringify(["node hmac", "node imported hmac"]), r.response);

  // update: only the name changes
  r = await ok("updateKey", client.updateKey(rsa.id, { key: { ...rsa, name: "node rsa renamed", algorithm: "ES256" } }));
  const renamed = r.response.key;
  check("updateKey renames and changes nothing else", renamed.name === "node rsa renamed" && renamed.id === rsa.id
    && renamed.kid === rsa.kid && renamed.algorithm === "RS256" && renamed.certificate === rsa.certificate, renamed);

  // the JWKS: every asymmetric key, never HMAC, with the certificate's thumbprints and x5c
  r = await ok("retrieveJsonWebKeySet", client.retrieveJsonWebKeySet());
  const jwks = r.response.keys;
  const asymmetric = all.filter((k) => k.type !== "HMAC");
  check("JWKS holds every asymmetric key and no HMAC key", jwks.length === asymmetric.length
    && asymmetric.every((k) => jwks.some((j) => j.kid === k.kid)) && !jwks.some((j) => j.kty === "oct"), jwks.map((j) => j.kid));
  for (const key of [rsa, ec, ed, faKey]) {
    const jwk = jwks.find((j) => j.kid === key.kid);
    const cert = new X509Certificate(key.certificate);
    check(`JWK of ${key.name}: x5c, x5t, x5t#S256 are its certificate's`, jwk.x5c?.[0] === cert.raw.toString("base64")
      && jwk.x5t === key.certificateInformation.sha1Thumbprint && jwk["x5t#S256"] === key.certificateInformation.sha256Thumbprint, jwk);
    check(`JWK of ${key.name}: its public numbers are the key's`, jwk.use === "sig"
      && createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).trim() === key.publicKey.trim(), jwk);
  }
  check("JWK of the Ed25519 key is OKP with alg EdDSA", jwks.find((j) => j.kid === ed.kid)?.alg === "EdDSA"
    && jwks.find((j) => j.kid === ed.kid)?.crv === "Ed25519");

  // the public keys by kid
  r = await ok("retrieveJWTPublicKeys", client.retrieveJWTPublicKeys());
  const publicKeys = r.response.publicKeys;
  check("retrieveJWTPublicKeys maps every asymmetric kid to its PEM", Object.keys(publicKeys).length === asymmetric.length
    && asymmetric.every((k) => publicKeys[k.kid]?.trim() === k.publicKey.trim()), Object.keys(publicKeys));
  r = await ok("retrieveJWTPublicKey", client.retrieveJWTPublicKey(ec.kid));
  check("retrieveJWTPublicKey(kid) is the key's publicKey", r.response.publicKey?.trim() === ec.publicKey.trim());

  // vend, then verify independently: jose through the JWKS, or with the key pair / secret we made
  const jwksSet = createRemoteJWKSet(new URL(`${baseUrl}/.well-known/jwks.json`));
  const tokens = {};
  for (const [key, alg] of [[rsa, "RS256"], [ec, "ES256"], [ed, "EdDSA"], [importedRsa, "RS256"], [importedHmac, "HS256"], [hmac, "HS256"]]) {
    const label = `${key.name} (${alg})`;
    r = await ok(`vendJWT with ${label}`, client.vendJWT({ claims: { sub: "node-user", aud: AUDIENCE, role: "tester" }, keyId: key.id, timeToLiveInSeconds: 300 }));
    const token = r.response.token;
    tokens[key.id] = token;
    const header = decodeProtectedHeader(token);
    check(`${label}: header is {alg, kid, typ}`, header.alg === alg && header.kid === key.kid && header.typ === "JWT", header);
    let verified;
    if (key === importedRsa) {
      verified = await jwtVerify(token, rsaPair.publicKey, { algorithms: [alg], audience: AUDIENCE });
    } else if (key === importedHmac) {
      verified = await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: [alg], audience: AUDIENCE });
    } else if (key !== hmac) {
      verified = await jwtVerify(token, jwksSet, { algorithms: [alg], audience: AUDIENCE });
    }
    if (verified) {
      const c = verified.payload;
      check(`${label}: jose verifies it (${key === importedRsa ? "our own public key" : key === importedHmac ? "our own secret" : "the JWKS"})`,
        c.sub === "node-user" && c.role === "tester" && c.exp - c.iat === 300 && typeof c.jti === "string", c);
      const refused = await jwtVerify(tamper(token), key === importedHmac ? new TextEncoder().encode(secret) : key === importedRsa ? rsaPair.publicKey : jwksSet,
        { algorithms: [alg], audience: AUDIENCE }).then(() => false, (e) => e instanceof joseErrors.JWSSignatureVerificationFailed);
      check(`${label}: jose refuses a tampered token`, refused);
    }
    r = await ok(`validateJWT of ${label}`, client.validateJWT(token));
    check(`${label}: validateJWT returns the claims`, r.statusCode === 200 && r.response.jwt?.sub === "node-user" && r.response.jwt?.role === "tester", r.response);
  }
  let e = await failure("validateJWT of a tampered token", client.validateJWT(tamper(tokens[rsa.id])));
  check("validateJWT refuses a tampered token with 401", e.statusCode === 401, e.statusCode);
  e = await failure("validateJWT of garbage", client.validateJWT("not.a.token"));
  check("validateJWT refuses garbage with 401", e.statusCode === 401, e.statusCode);

  // errors: 400 with FusionAuth's Errors JSON parsed into ClientResponse.exception; 404 and 401 empty
  e = await failure("generateKey with a taken name", client.generateKey(null, { key: { algorithm: "RS256", name: "node ec", length: 2048 } }));
  check("a duplicate name is a 400 with [duplicate]key.name", e.statusCode === 400
    && e.exception?.fieldErrors?.["key.name"]?.[0]?.code === "[duplicate]key.name" && Array.isArray(e.exception.generalErrors), e.exception);
  e = await failure("generateKey with an unknown algorithm", client.generateKey(null, { key: { algorithm: "RS1024", name: "bad" } }));
  const algorithmErrors = e.exception?.fieldErrors?.["key.algorithm"];
  check("an unknown algorithm is a 400 with [invalid]key.algorithm and a message", e.statusCode === 400
    && algorithmErrors?.[0]?.code === "[invalid]key.algorithm" && typeof algorithmErrors[0].message === "string", e.exception);
  e = await failure("generateKey RS256 without a length", client.generateKey(null, { key: { algorithm: "RS256", name: "no length" } }));
  check("RSA without a length is a 400 with [blank]key.length", e.statusCode === 400
    && e.exception?.fieldErrors?.["key.length"]?.[0]?.code === "[blank]key.length", e.exception);
  e = await failure("retrieveKey of a malformed id", client.retrieveKey("not-a-uuid"));
  check("a malformed id is a 400 with [invalid]keyId", e.statusCode === 400
    && JSON.stringify(e.exception ?? {}).includes("[invalid]keyId"), e.exception);
  e = await failure("retrieveKey of an unknown id", client.retrieveKey(randomUUID()));
  check("an unknown key is a 404 with an empty body", e.statusCode === 404 && e.exception === undefined && !e.wasSuccessful(), e.exception);
  e = await failure("retrieveKeys with a wrong API key", new FusionAuthClient(`wrong-${randomUUID()}`, baseUrl).retrieveKeys());
  check("a wrong API key is a 401 with an empty body", e.statusCode === 401 && e.exception === undefined, e.statusCode);

  // delete: gone from retrieve, the JWKS, and validation
  r = await ok("deleteKey", client.deleteKey(ec.id));
  check("deleteKey is a 200 with an empty body", r.statusCode === 200 && r.response === undefined, r.statusCode);
  e = await failure("retrieveKey of the deleted key", client.retrieveKey(ec.id));
  check("a deleted key is a 404", e.statusCode === 404, e.statusCode);
  r = await ok("retrieveJsonWebKeySet after the delete", client.retrieveJsonWebKeySet());
  check("the deleted key is gone from the JWKS", r.response.keys.length === asymmetric.length - 1 && !r.response.keys.some((j) => j.kid === ec.kid));
  e = await failure("validateJWT of a token of the deleted key", client.validateJWT(tokens[ec.id]));
  check("a deleted key's token no longer validates (401)", e.statusCode === 401, e.statusCode);

  console.log("fusionauth typescript client: all checks passed");
}

main().catch((error) => {
  console.log(`FAIL unexpected error: ${error?.stack ?? JSON.stringify(error)}`);
  process.exit(1);
});
