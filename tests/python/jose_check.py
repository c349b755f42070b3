"""Checks Keysmith's tokens with libraries nobody here wrote: FusionAuth's official client
(`fusionauth-client`) for the JWT calls, and PyJWT (with `cryptography`) validating a vended token
of every algorithm using only the JWKS.

Usage: python jose_check.py BASE_URL API_KEY
"""

import sys

import jwt
from fusionauth.fusionauth_client import FusionAuthClient
from jwt import PyJWKClient

ASYMMETRIC = [("RS256", 2048), ("RS384", 3072), ("RS512", 2048), ("PS256", 2048), ("PS384", 2048),
              ("PS512", 4096), ("ES256", None), ("ES384", None), ("ES512", None), ("Ed25519", None)]
SECRET = "k" * 40 + "-a-shared-secret-long-enough-for-HS512-0123456789"


def check(label, condition, detail=""):
    if not condition:
        print(f"FAIL {label}: {detail}")
        sys.exit(1)
    print(f"ok   {label}")


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    client = FusionAuthClient(api_key, base_url)
    jwks_client = PyJWKClient(f"{base_url}/.well-known/jwks.json", cache_keys=False, cache_jwk_set=False)

    for algorithm, length in ASYMMETRIC:
        request = {"key": {"algorithm": algorithm, "name": f"jose {algorithm}"}}
        if length:
            request["key"]["length"] = length
        r = client.generate_key(request)
        check(f"{algorithm}: generate_key", r.was_successful(), r.error_response)
        key = r.success_response["key"]

        r = client.vend_jwt({"claims": {"sub": "py-user", "aud": "keysmith-tests"}, "keyId": key["id"], "timeToLiveInSeconds": 300})
        check(f"{algorithm}: vend_jwt", r.was_successful(), r.error_response)
        token = r.success_response["token"]

        jws_alg = "EdDSA" if algorithm == "Ed25519" else algorithm
        check(f"{algorithm}: header names the key", jwt.get_unverified_header(token) == {"alg": jws_alg, "kid": key["kid"], "typ": "JWT"})
        signing_key = jwks_client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, signing_key.key, algorithms=[jws_alg], audience="keysmith-tests")
        check(f"{algorithm}: PyJWT validates through the JWKS", claims["sub"] == "py-user" and claims["exp"] - claims["iat"] == 300, claims)
        try:
            jwt.decode(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), signing_key.key, algorithms=[jws_alg], audience="keysmith-tests")
            check(f"{algorithm}: PyJWT refuses a tampered token", False)
        except jwt.InvalidSignatureError:
            check(f"{algorithm}: PyJWT refuses a tampered token", True)

        r = client.validate_jwt(token)
        check(f"{algorithm}: validate_jwt", r.was_successful() and r.success_response["jwt"]["sub"] == "py-user", r.status)

        r = client.retrieve_jwt_public_key(key["kid"])
        check(f"{algorithm}: retrieve_jwt_public_key", r.was_successful() and r.success_response["publicKey"] == key["publicKey"])

    for algorithm in ["HS256", "HS384", "HS512"]:
        r = client.import_key({"key": {"name": f"jose {algorithm}", "type": "HMAC", "algorithm": algorithm, "secret": SECRET}})
        check(f"{algorithm}: import_key with a known secret", r.was_successful(), r.error_response)
        key = r.success_response["key"]
        r = client.vend_jwt({"claims": {"sub": "hmac-user"}, "keyId": key["id"], "timeToLiveInSeconds": 60})
        token = r.success_response["token"]
        claims = jwt.decode(token, SECRET, algorithms=[algorithm])
        check(f"{algorithm}: PyJWT validates with the shared secret", claims["sub"] == "hmac-user")
        check(f"{algorithm}: validate_jwt", client.validate_jwt(token).success_response["jwt"]["sub"] == "hmac-user")

    r = client.retrieve_json_web_key_set()
    jwks = r.success_response["keys"]
    check("retrieve_json_web_key_set: every asymmetric key, no HMAC key", r.was_successful() and len(jwks) == len(ASYMMETRIC), len(jwks))
    r = client.retrieve_jwt_public_keys()
    check("retrieve_jwt_public_keys", r.was_successful() and len(r.success_response["publicKeys"]) == len(ASYMMETRIC))
    r = client.validate_jwt("not.a.token")
    check("validate_jwt refuses garbage with 401", r.status == 401)
    print("jose: all checks passed")


if __name__ == "__main__":
    main()
