"""Drives a running Keysmith with Auth0's official Python SDK (auth0-python 5.x).

Usage: python auth0_client_check.py BASE_URL API_KEY   (BASE_URL like http://127.0.0.1:8080/api/v2)

Connection keys (provision, get, rotate, conflict, not found) and tenant signing keys (list, get,
rotate, revoke), every certificate checked with `cryptography`. Prints one line per step and exits
non-zero at the first surprise.
"""

import re
import secrets
import sys
from datetime import datetime
from importlib.metadata import version

from auth0.management import (Auth0, ConflictError, NotFoundError, PostConnectionKeysRequestContent,
                              RotateConnectionKeysRequestContent, UnauthorizedError)
from auth0.management.core.api_error import ApiError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID


def check(cond, msg, detail=""):
    if not cond:
        print(f"FAIL {msg}: {detail}")
        sys.exit(1)
    print(f"ok {msg}")


def expect_error(error, status, msg, call, *args, **kwargs):
    """Runs an SDK call that must raise `error` (an ApiError subclass, i.e. a JSON body) with `status`."""
    try:
        result = call(*args, **kwargs)
    except ApiError as e:
        check(isinstance(e, error) and e.status_code == status, msg, f"{type(e).__name__} status {e.status_code}, body {e.body!r}")
        return e
    check(False, msg, f"expected HTTP {status}, the call returned {result!r}")


def iso8601(value):
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def check_cert(key, pkcs_pem, label):
    """cert is PEM; fingerprint/thumbprint are its SHA-1; the PKCS#7 bundle holds exactly that cert."""
    cert = x509.load_pem_x509_certificate(key.cert.encode())
    sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()
    check(key.thumbprint == sha1, f"{label}: thumbprint is the certificate's SHA-1", key.thumbprint)
    check(key.fingerprint == ":".join(re.findall("..", sha1)), f"{label}: fingerprint is the colon-separated SHA-1", key.fingerprint)
    check(bool(pkcs_pem) and "-----BEGIN PKCS7-----" in pkcs_pem, f"{label}: PKCS#7 is PEM", pkcs_pem)
    bundle = pkcs7.load_pem_pkcs7_certificates(pkcs_pem.encode())
    check(bundle == [cert], f"{label}: PKCS#7 holds exactly the certificate", bundle)
    return cert


def check_connection_key(key, label):
    fields = ("kid", "cert", "fingerprint", "thumbprint", "pkcs", "algorithm", "subject_dn")
    check(all(getattr(key, f) for f in fields) and key.key_use == "signing", f"{label}: has {', '.join(fields)}; key_use signing", key)
    cert = check_cert(key, key.pkcs, label)
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    expected = cns[0] if cns else cert.subject.rfc4514_string()
    check(expected in key.subject_dn, f"{label}: subject_dn names the certificate subject", f"{key.subject_dn!r} vs {expected!r}")
    return cert


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    print(f"auth0-python {version('auth0-python')}")
    client = Auth0(base_url=base_url, token=api_key)
    connections, signing = client.connections, client.keys.signing

    # a. a connection to hang keys on
    name = f"ks-check-{secrets.token_hex(6)}"
    r = connections.with_raw_response.create(name=name, strategy="samlp")
    conn = r.data
    check(r.status_code == 201 and conn.name == name and conn.strategy == "samlp", "connections.create", (r.status_code, conn))
    check(re.fullmatch(r"con_[A-Za-z0-9]{16}", conn.id or "") is not None, "connection id is con_ + 16 alphanumerics", conn.id)
    cid = conn.id

    # b. provision
    r = connections.keys.with_raw_response.create(cid, request=PostConnectionKeysRequestContent(signing_alg="RS256"))
    check(r.status_code == 201 and len(r.data) == 2, "connections.keys.create (RS256) returns 2 keys", (r.status_code, r.data))
    provisioned = {k.kid for k in r.data}
    check(sorted((bool(k.current), bool(k.next)) for k in r.data) == [(False, True), (True, False)],
          "provisioned keys are one current and one next", r.data)

    # c, d. get
    keys = connections.keys.get(cid)
    check(len(keys) == 2 and {k.kid for k in keys} == provisioned, "connections.keys.get returns the 2 provisioned keys", keys)
    current = [k for k in keys if k.current]
    nxt = [k for k in keys if k.next]
    check(len(current) == 1 and len(nxt) == 1 and current[0].kid != nxt[0].kid, "exactly one current and one next", keys)
    current, nxt = current[0], nxt[0]
    check(iso8601(current.current_since) is not None, "current key has an ISO-8601 current_since", current.current_since)
    for k in keys:
        check_connection_key(k, f"RS256 key {k.kid}")
        check(k.algorithm == "RS256", f"RS256 key {k.kid}: algorithm is RS256", k.algorithm)

    # e. rotate to ES256
    r = connections.keys.with_raw_response.rotate(cid, request=RotateConnectionKeysRequestContent(signing_alg="ES256"))
    rotated = r.data
    check(r.status_code == 201 and rotated.kid not in provisioned and rotated.next is not False,
          "connections.keys.rotate (ES256) returns the new next key", (r.status_code, rotated))
    keys = {k.kid: k for k in connections.keys.get(cid)}
    check(len(keys) == 3 and rotated.kid in keys, "after rotation get returns 3 keys", list(keys))
    new_current, old_current, new_next = keys[nxt.kid], keys[current.kid], keys[rotated.kid]
    check(new_current.current and not new_current.next and not new_current.previous, "the old next key is current", new_current)
    check(iso8601(new_current.current_since) is not None, "the new current key has an ISO-8601 current_since", new_current.current_since)
    check(old_current.previous and not old_current.current and not old_current.next, "the old current key is previous", old_current)
    check(new_next.next and not new_next.current and not new_next.previous, "the rotated key is next", new_next)
    check(rotated.cert == new_next.cert and rotated.thumbprint == new_next.thumbprint, "rotate returned the key get lists as next")
    cert = check_connection_key(new_next, f"ES256 key {new_next.kid}")
    pub = cert.public_key()
    check(isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1", "the new next key is EC P-256", pub)
    check(new_next.algorithm == "ES256", "the new next key's algorithm is ES256", new_next.algorithm)

    # f, g. errors
    e = expect_error(ConflictError, 409, "provisioning again is a 409 (ConflictError)", connections.keys.create, cid,
                     request=PostConnectionKeysRequestContent(signing_alg="RS256"))
    e = expect_error(NotFoundError, 404, "keys of a missing connection are a 404 (NotFoundError)", connections.keys.get, "con_AAAAAAAAAAAAAAAA")
    check(isinstance(e.body, dict) and e.body.get("errorCode") == "inexistent_connection" and e.body.get("statusCode") == 404,
          "the 404 body has errorCode inexistent_connection", e.body)

    # h. tenant signing keys
    listed = signing.list()
    for k in listed:
        check(all((k.kid, k.cert, k.fingerprint, k.thumbprint, k.pkcs_7)), f"signing key {k.kid}: has kid, cert, fingerprint, thumbprint, pkcs7", k)
        check_cert(k, k.pkcs_7, f"signing key {k.kid}")
    current = [k for k in listed if k.current]
    nxt = [k for k in listed if k.next]
    check(len(current) == 1 and len(nxt) == 1, "keys.signing.list has one current and one next key", listed)
    current, nxt = current[0], nxt[0]
    got = signing.get(current.kid)
    check(got.kid == current.kid and got.cert == current.cert and got.current, "keys.signing.get(current kid)", got)

    r = signing.with_raw_response.rotate()
    check(r.status_code == 201 and r.data.kid and r.data.cert, "keys.signing.rotate returns {cert, kid}", (r.status_code, r.data))
    new_kid = r.data.kid
    listed = {k.kid: k for k in signing.list()}
    check(new_kid in listed and listed[new_kid].next and listed[new_kid].cert == r.data.cert, "the rotated signing key is listed as next", listed.get(new_kid))
    check(listed[nxt.kid].current and not listed[nxt.kid].next, "the old next signing key is current", listed[nxt.kid])
    check(listed[current.kid].previous and not listed[current.kid].current, "the old current signing key is previous", listed[current.kid])

    r = signing.with_raw_response.revoke(current.kid)
    check(r.status_code == 200 and r.data.kid == current.kid and r.data.cert == current.cert, "keys.signing.revoke(previous kid) returns {cert, kid}", (r.status_code, r.data))
    got = signing.get(current.kid)
    check(got.revoked is True and got.revoked_at and iso8601(got.revoked_at) is not None, "the revoked key shows revoked and revoked_at", got)
    expect_error(NotFoundError, 404, "keys.signing.get of an unknown kid is a 404", signing.get, "no-such-kid")

    # i. a wrong token
    wrong = Auth0(base_url=base_url, token="wrong-" + secrets.token_hex(8))
    expect_error(UnauthorizedError, 401, "a wrong token is a 401 (UnauthorizedError)", wrong.keys.signing.list)

    print("all auth0-python checks passed")


if __name__ == "__main__":
    main()
