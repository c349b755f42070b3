"""Drives a running Keysmith with FusionAuth's official Python client (fusionauth-client).

Usage: python fusionauth_client_check.py BASE_URL API_KEY

Every call a FusionAuth user makes against the Keys API: generate, import, retrieve, list,
search (body and parameters), rename, delete, and error responses that parse. Prints one line
per step and exits non-zero at the first surprise.
"""

import sys

from fusionauth.fusionauth_client import FusionAuthClient

FA_CERT = (
    "MIICrjCCAZagAwIBAQIQeA4dW+47Q7KuyNuZuZrcTjANBgkqhkiG9w0BAQsFADATMREwDwYDVQQDEwhhY21lLmNvbTAeFw0xOTA3MDMyMTI0MzJa"
    "Fw0yOTA3MDMyMTI0MzJaMBMxETAPBgNVBAMTCGFjbWUuY29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnbNGwtU33S4vbipGeIwe"
    "/DhLEfc5FaEOHK4WeQ3QF8zZGyI09bNQdkp8uNTFfVehIgmvYHmJWPeaNrYK//qjWAsSvYYoytj1j4BywI8uLSjt8QvzaoFUMOi1cBbXM2586R7y"
    "TRm7jMk91MLM101zkrf1cmFdRUwTpeJjw66XG3JlTGZCmZsJG7m6+nbe5LHt4CiufmJHujGeFzgwby3jXZtuK1y3ua3380Fv95JyG3TucnMwEw5E"
    "YQ8Q+dZzNC8OSaKrgmnN0gWdsJ7P7vu6lMy6sXKhvcxo1p+tXywYPFJahxA+rZDG16RLbUppCx10q8tIcFKeAyl4eywzBaBLxwIDAQABMA0GCSqG"
    "SIb3DQEBCwUAA4IBAQBbsHWIBDwW1hFEin0D5BK/rwpCIZ4jlJ9PON4q0rF/tl9+pSzTqMeEqU0NMlJ7Xm2O5U0i8Sy8Lhemo9qYCZ76qEiHFZwQ"
    "BmNAC4de92KMcw4Q7q5CVjTGv3X+Avlg/c+I+zJLO/IJlzhOvHj+iCeBZDznt6/KlFfXA9EvlznxqZCQHSf2f94UlvBmqbVYOfXE5+OQ3URyNyh8"
    "8g9yClSb4hzu1lmzevZ/AVbe2kTjZQQWB0TmqPg/6SS+nhsauAMK1kSlSK9t6CPz/L7olJeAi7G/PZPaYG1gIFVFaBnYM0rwagQGtPMi1uCERCKr"
    "kUlBh6gSyN7SGJBvWEh6+zZF"
)


def check(label, condition, detail=""):
    if not condition:
        print(f"FAIL {label}: {detail}")
        sys.exit(1)
    print(f"ok   {label}")


def main():
    base_url, api_key = sys.argv[1], sys.argv[2]
    client = FusionAuthClient(api_key, base_url)

    r = client.generate_key({"key": {"algorithm": "RS256", "name": "client rsa", "length": 2048}})
    check("generate_key RS256", r.was_successful() and r.status == 200, r.status)
    rsa = r.success_response["key"]
    check("generated key has a certificate and kid", rsa["kid"] == rsa["certificateInformation"]["sha1Thumbprint"])

    r = client.generate_key({"key": {"algorithm": "ES256", "name": "client ec"}}, "3d2a3c5e-7d3a-4c55-9b8e-0f1e2d3c4b5a")
    check("generate_key ES256 with an id", r.was_successful() and r.success_response["key"]["id"] == "3d2a3c5e-7d3a-4c55-9b8e-0f1e2d3c4b5a")

    r = client.generate_key({"key": {"algorithm": "HS512", "name": "client hmac"}})
    check("generate_key HS512 omits asymmetric fields", r.was_successful() and "publicKey" not in r.success_response["key"])

    r = client.import_key({"key": {"name": "SHA-256 with RSA", "kid": "zamAX0036820RULfdjUV6YkhYbY", "certificate": FA_CERT}})
    check("import_key (FusionAuth's documented example)", r.was_successful(), r.error_response)
    imported = r.success_response["key"]
    check("imported key matches the documentation",
          imported["certificateInformation"]["sha1Fingerprint"] == "CD:A9:80:5F:4D:37:EB:CD:B4:45:42:DF:76:35:15:E9:89:21:61:B6"
          and imported["hasPrivateKey"] is False and imported["length"] == 2048, imported)

    r = client.retrieve_key(rsa["id"])
    check("retrieve_key", r.was_successful() and r.success_response["key"] == rsa)

    r = client.retrieve_keys()
    check("retrieve_keys", r.was_successful() and len(r.success_response["keys"]) == 4, r.success_response)

    r = client.search_keys({"search": {"name": "client*", "orderBy": "name ASC", "numberOfResults": 2}})
    check("search_keys (body)", r.was_successful() and r.success_response["total"] == 3
          and [k["name"] for k in r.success_response["keys"]] == ["client ec", "client hmac"], r.success_response)

    r = client.search_keys_by_parameters(_type="RSA", order_by="insertInstant DESC")
    check("search_keys_by_parameters", r.was_successful() and [k["name"] for k in r.success_response["keys"]] == ["SHA-256 with RSA", "client rsa"], r.success_response)

    r = client.update_key(rsa["id"], {"key": {"name": "client rsa renamed"}})
    check("update_key renames", r.was_successful() and r.success_response["key"]["name"] == "client rsa renamed")

    r = client.generate_key({"key": {"algorithm": "RS256", "name": "client ec", "length": 2048}})
    check("a duplicate name is a 400 whose Errors JSON parses", r.status == 400
          and r.error_response["fieldErrors"]["key.name"][0]["code"] == "[duplicate]key.name", r.error_response)

    r = client.generate_key({"key": {"algorithm": "RS1024", "name": "bad"}})
    check("an unknown algorithm is a 400 whose Errors JSON parses", r.status == 400
          and "key.algorithm" in r.error_response["fieldErrors"], r.error_response)

    r = client.retrieve_key("00000000-0000-4000-8000-000000000000")
    check("a missing key is a 404", r.status == 404 and not r.was_successful())

    r = client.delete_key(rsa["id"])
    check("delete_key", r.was_successful() and r.status == 200)
    r = client.retrieve_key(rsa["id"])
    check("a deleted key is gone", r.status == 404)

    r = FusionAuthClient("wrong-key", base_url).retrieve_keys()
    check("a wrong API key is a 401", r.status == 401)
    print("fusionauth-client: all checks passed")


if __name__ == "__main__":
    main()
