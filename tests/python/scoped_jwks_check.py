"""Checks Keysmith's scoped JWKS with PyJWT (which nobody here wrote): a token vended with a
connection's current key verifies through `/.well-known/jwks/connections/{id}`, one vended with
the tenant's current signing key through `/.well-known/jwks/signing-keys`, and neither set serves
the other's key nor a key outside any ring (which the full `/.well-known/jwks.json` serves).
Keys generated with an issuer verify through `/.well-known/jwks/issuers/{issuer}` (an issuer with
a `/` percent-encoded) and through no other issuer's set, and a key search by `issuer` (through
the official client's `search_keys`) finds exactly the keys of that issuer's set.

Usage: python scoped_jwks_check.py BASE_URL API_KEY
"""

import json
import sys
import urllib.parse
import urllib.request

import jwt
from fusionauth.fusionauth_client import FusionAuthClient
from jwt import PyJWKClient, PyJWKClientError
from jwt.exceptions import PyJWKSetError


def check(label, condition, detail=""):
    if not condition:
        print(f"FAIL {label}: {detail}")
        sys.exit(1)
    print(f"ok   {label}")


def auth0(base_url, api_key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


def vend(client, key_id):
    r = client.vend_jwt({"claims": {"sub": "scoped", "aud": "rp"}, "keyId": key_id, "timeToLiveInSeconds": 120})
    check(f"vend with key {key_id}", r.was_successful(), r.error_response)
    return r.success_response["token"]


def verifies(url, token):
    """Whether PyJWT finds the token's key in the JWKS at `url` and the signature checks."""
    client = PyJWKClient(url, cache_keys=False, cache_jwk_set=False)
    try:
        key = client.get_signing_key_from_jwt(token)
    except (PyJWKClientError, PyJWKSetError):  # not in the set, or the set is empty
        return False
    alg = jwt.get_unverified_header(token)["alg"]
    return jwt.decode(token, key.key, algorithms=[alg], audience="rp")["sub"] == "scoped"


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    client = FusionAuthClient(api_key, base_url)
    connection = auth0(base_url, api_key, "POST", "/api/v2/connections", {"name": "scoped-jwks", "strategy": "samlp"})
    cid = connection["id"]
    auth0(base_url, api_key, "POST", f"/api/v2/connections/{cid}/keys", {"signing_alg": "ES256"})
    connection_kid = next(k["kid"] for k in auth0(base_url, api_key, "GET", f"/api/v2/connections/{cid}/keys") if k["current"])
    tenant_kid = next(k["kid"] for k in auth0(base_url, api_key, "GET", "/api/v2/keys/signing") if k["current"])
    outside = client.generate_key({"key": {"algorithm": "ES256", "name": "outside any ring"}}).success_response["key"]

    r = client.retrieve_keys()
    check("retrieve_keys", r.was_successful(), r.error_response)
    id_of = {k["kid"]: k["id"] for k in r.success_response["keys"]}
    connection_token = vend(client, id_of[connection_kid])
    tenant_token = vend(client, id_of[tenant_kid])
    outside_token = vend(client, outside["id"])

    connection_url = f"{base_url}/.well-known/jwks/connections/{cid}"
    tenant_url = f"{base_url}/.well-known/jwks/signing-keys"
    everything_url = f"{base_url}/.well-known/jwks.json"
    check("the connection's token verifies through its scoped JWKS", verifies(connection_url, connection_token))
    check("the tenant's token verifies through the signing-keys JWKS", verifies(tenant_url, tenant_token))
    check("the tenant's key is not in the connection's JWKS", not verifies(connection_url, tenant_token))
    check("the connection's key is not in the signing-keys JWKS", not verifies(tenant_url, connection_token))
    for url in (connection_url, tenant_url):
        check(f"a key outside any ring is not in {url}", not verifies(url, outside_token))
    for token in (connection_token, tenant_token, outside_token):
        check("the full JWKS serves every key", verifies(everything_url, token))

    # Per issuer: two keys of one issuer (ES256 and EdDSA), one of an issuer with a slash.
    acme = [client.generate_key({"key": {"algorithm": alg, "name": f"acme {alg}", "issuer": "acme.example"}})
            for alg in ("ES256", "EdDSA")]
    slashed = client.generate_key({"key": {"algorithm": "ES384", "name": "slashed", "issuer": "tenant/one"}})
    for r in acme + [slashed]:
        check("generate with an issuer", r.was_successful(), r.error_response)
    acme_tokens = [vend(client, r.success_response["key"]["id"]) for r in acme]
    slashed_token = vend(client, slashed.success_response["key"]["id"])

    def issuer_url(issuer):
        return f"{base_url}/.well-known/jwks/issuers/{urllib.parse.quote(issuer, safe='')}"

    for token in acme_tokens:
        check("an issuer's token verifies through its issuer's JWKS", verifies(issuer_url("acme.example"), token))
        check("... and not through another issuer's", not verifies(issuer_url("tenant/one"), token))
        check("... nor through the same issuer in another case", not verifies(issuer_url("ACME.example"), token))
    check("a percent-encoded issuer's token verifies", verifies(issuer_url("tenant/one"), slashed_token))
    check("it is not in acme.example's JWKS", not verifies(issuer_url("acme.example"), slashed_token))
    for token in (connection_token, tenant_token, outside_token):
        check("a key without that issuer is not in its JWKS", not verifies(issuer_url("acme.example"), token))
    with urllib.request.urlopen(issuer_url("acme.example")) as response:
        served = json.loads(response.read())
    check("the issuer's JWKS holds its two keys", len(served["keys"]) == 2, served)

    # Keysmith's `issuer` search filter, sent through the official client's search_keys: it
    # finds exactly the keys of the issuer's JWKS, in the same (id) order.
    for issuer in ("acme.example", "tenant/one", "ACME.example"):
        r = client.search_keys({"search": {"issuer": issuer, "orderBy": "id ASC"}})
        check(f"search by issuer {issuer}", r.was_successful(), r.error_response)
        found = [key["kid"] for key in r.success_response.get("keys", [])]
        with urllib.request.urlopen(issuer_url(issuer)) as response:
            published = [jwk["kid"] for jwk in json.loads(response.read())["keys"]]
        check(f"the search by issuer {issuer} finds its JWKS's keys", found == published, (found, published))
        check(f"... and its total counts them", r.success_response["total"] == len(found), r.success_response)
    print("scoped jwks: all checks passed")


if __name__ == "__main__":
    main()
