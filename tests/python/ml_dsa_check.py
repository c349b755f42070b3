"""Checks Keysmith's ML-DSA keys (FIPS 204) with code nobody here wrote: FusionAuth's official
client (`fusionauth-client`) for the calls, and pyca/cryptography's ML-DSA (with the OpenSSL
its wheel bundles) to verify certificates, JWKS keys and vended tokens, and to make keys and
tokens that Keysmith imports and validates. No JOSE library supports the ML-DSA draft yet, so
the JWS signing input and signature are checked directly.

Usage: python ml_dsa_check.py BASE_URL API_KEY yes|no
  yes: the server's backend has ML-DSA; no: it must refuse ML-DSA with a clear 400 and still
  serve every other key.
"""

import base64
import json
import sys
import urllib.request

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from fusionauth.fusionauth_client import FusionAuthClient

SETS = {
    "ML-DSA-44": (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey, 1312, "2.16.840.1.101.3.4.3.17"),
    "ML-DSA-65": (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey, 1952, "2.16.840.1.101.3.4.3.18"),
    "ML-DSA-87": (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey, 2592, "2.16.840.1.101.3.4.3.19"),
}


def check(label, condition, detail=""):
    if not condition:
        print(f"FAIL {label}: {detail}")
        sys.exit(1)
    print(f"ok   {label}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def colon_hex(data: bytes) -> str:
    return ":".join(f"{b:02X}" for b in data)


def verifies(public_key, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
        return True
    except InvalidSignature:
        return False


def post(base_url: str, api_key: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{base_url}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": api_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def jws(private_key, kid: str, alg: str, claims: dict) -> str:
    header = b64url(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{b64url(private_key.sign(signing_input))}"


def supported(client, base_url, api_key):
    r = client.generate_key({"key": {"algorithm": "RS256", "name": "classical", "length": 2048}})
    check("an RSA key beside the ML-DSA keys", r.was_successful(), r.error_response)
    for algorithm, (private_class, public_class, length, oid) in SETS.items():
        r = client.generate_key({"key": {"algorithm": algorithm, "name": f"pq {algorithm}"}})
        check(f"{algorithm}: generate_key", r.was_successful(), r.error_response)
        key = r.success_response["key"]
        check(f"{algorithm}: FusionAuth's key object", key["type"] == "AKP" and key["algorithm"] == algorithm
              and key["length"] == length and key["hasPrivateKey"] is True and "privateKey" not in key, key)

        public = serialization.load_pem_public_key(key["publicKey"].encode())
        check(f"{algorithm}: cryptography reads the public key", isinstance(public, public_class), type(public))
        certificate = x509.load_pem_x509_certificate(key["certificate"].encode())
        check(f"{algorithm}: the certificate's signature algorithm is the key's (RFC 9881)",
              certificate.signature_algorithm_oid.dotted_string == oid, certificate.signature_algorithm_oid)
        check(f"{algorithm}: the certificate certifies the key",
              certificate.public_key().public_bytes_raw() == public.public_bytes_raw())
        check(f"{algorithm}: the certificate is signed by its key",
              verifies(public, certificate.signature, certificate.tbs_certificate_bytes))
        info = key["certificateInformation"]
        check(f"{algorithm}: certificate fingerprints",
              info["sha1Fingerprint"] == colon_hex(certificate.fingerprint(hashes.SHA1()))
              and info["sha256Fingerprint"] == colon_hex(certificate.fingerprint(hashes.SHA256())), info)

        r = client.vend_jwt({"claims": {"sub": "pq-user"}, "keyId": key["id"], "timeToLiveInSeconds": 300})
        check(f"{algorithm}: vend_jwt", r.was_successful(), r.error_response)
        token = r.success_response["token"]
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        check(f"{algorithm}: the JWS header", header == {"alg": algorithm, "kid": key["kid"], "typ": "JWT"}, header)

        r = client.retrieve_json_web_key_set()
        jwk = next((k for k in r.success_response["keys"] if k["kid"] == key["kid"]), None)
        check(f"{algorithm}: the JWKS lists an AKP key", jwk is not None and jwk["kty"] == "AKP"
              and jwk["alg"] == algorithm and jwk["use"] == "sig", jwk)
        jwks_key = public_class.from_public_bytes(unb64url(jwk["pub"]))
        signing_input = f"{header_b64}.{payload_b64}".encode()
        check(f"{algorithm}: cryptography verifies the token with the JWKS key",
              verifies(jwks_key, unb64url(signature_b64), signing_input))
        check(f"{algorithm}: and refuses a changed payload",
              not verifies(jwks_key, unb64url(signature_b64), signing_input + b"x"))
        check(f"{algorithm}: x5c is the certificate",
              base64.b64decode(jwk["x5c"][0]) == certificate.public_bytes(serialization.Encoding.DER))

        r = client.validate_jwt(token)
        check(f"{algorithm}: validate_jwt", r.was_successful() and r.success_response["jwt"]["sub"] == "pq-user", r.status)

        # Sign and verify with a key that never leaves the server (Keysmith's own routes).
        payload = b"pq payload " + algorithm.encode()
        signed = post(base_url, api_key, f"/api/key/{key['id']}/sign", {"payload": b64url(payload)})
        check(f"{algorithm}: /sign", signed.get("algorithm") == algorithm, signed)
        check(f"{algorithm}: cryptography verifies the /sign signature",
              verifies(public, unb64url(signed["signature"]), payload))
        verified = post(base_url, api_key, f"/api/key/{key['id']}/verify",
                        {"payload": b64url(payload), "signature": signed["signature"]})
        refused = post(base_url, api_key, f"/api/key/{key['id']}/verify",
                       {"payload": b64url(payload + b"x"), "signature": signed["signature"]})
        check(f"{algorithm}: /verify says true, then false for another payload",
              verified.get("valid") is True and refused.get("valid") is False, (verified, refused))
        r = client.retrieve_jwt_public_key(key["kid"])
        check(f"{algorithm}: retrieve_jwt_public_key", r.was_successful() and r.success_response["publicKey"] == key["publicKey"])

        # The other way: a key cryptography made, imported with its private key, and a token it
        # signed, validated by Keysmith; then the public key alone (verify-only).
        theirs = private_class.generate()
        pem = theirs.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode()
        r = client.import_key({"key": {"name": f"theirs {algorithm}", "privateKey": pem}})
        check(f"{algorithm}: import_key of cryptography's key", r.was_successful(), r.error_response)
        imported = r.success_response["key"]
        check(f"{algorithm}: imported as AKP", imported["type"] == "AKP" and imported["algorithm"] == algorithm, imported)
        token = jws(theirs, imported["kid"], algorithm, {"sub": "their-user"})
        r = client.validate_jwt(token)
        check(f"{algorithm}: validate_jwt of cryptography's token", r.was_successful()
              and r.success_response["jwt"]["sub"] == "their-user", r.status)
        r = client.vend_jwt({"claims": {"sub": "back"}, "keyId": imported["id"]})
        h, p, sig = r.success_response["token"].split(".")
        check(f"{algorithm}: a token vended with the imported key verifies under cryptography's key",
              verifies(theirs.public_key(), unb64url(sig), f"{h}.{p}".encode()))
        public_pem = theirs.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        r = client.import_key({"key": {"name": f"theirs public {algorithm}", "publicKey": public_pem, "kid": f"pub-{algorithm}"}})
        check(f"{algorithm}: import_key of a public key alone", r.was_successful(), r.error_response)
        r = client.validate_jwt(jws(theirs, f"pub-{algorithm}", algorithm, {"sub": "verify-only"}))
        check(f"{algorithm}: validate_jwt with the verify-only key", r.was_successful(), r.status)
        other = "ML-DSA-44" if algorithm != "ML-DSA-44" else "ML-DSA-65"
        r = client.validate_jwt(jws(theirs, f"pub-{algorithm}", other, {"sub": "wrong-alg"}))
        check(f"{algorithm}: a token claiming {other} is refused", r.status == 401, r.status)

    r = client.retrieve_keys()
    keys = r.success_response["keys"]
    types = sorted({k["type"] for k in keys})
    check("retrieve_keys lists ML-DSA keys beside the others", r.was_successful() and types == ["AKP", "RSA"]
          and len(keys) == 1 + 3 * 3, types)
    r = client.search_keys({"search": {"algorithm": "ML-DSA-65"}})
    check("search_keys by algorithm ML-DSA-65", r.was_successful() and r.success_response["total"] == 3, r.success_response)


def unsupported(client):
    r = client.generate_key({"key": {"algorithm": "ML-DSA-65", "name": "pq"}})
    errors = json.dumps(r.error_response)
    check("generate_key of ML-DSA-65 is refused with a 400 that says why", r.status == 400 and "3.5" in errors, errors)
    theirs = mldsa.MLDSA65PrivateKey.generate().public_key()
    pem = theirs.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    r = client.import_key({"key": {"name": "pq public", "publicKey": pem}})
    errors = json.dumps(r.error_response)
    check("import_key of an ML-DSA public key is refused with a 400 that says why", r.status == 400 and "3.5" in errors, errors)
    r = client.generate_key({"key": {"algorithm": "ES256", "name": "classical"}})
    check("other keys are served", r.was_successful() and client.retrieve_keys().was_successful())


def main():
    base_url, api_key, has_ml_dsa = sys.argv[1], sys.argv[2], sys.argv[3]
    client = FusionAuthClient(api_key, base_url)
    if has_ml_dsa == "yes":
        supported(client, base_url, api_key)
    else:
        unsupported(client)
    print("ml-dsa: all checks passed")


if __name__ == "__main__":
    main()
