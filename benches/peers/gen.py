"""Key generation in Python `cryptography`: one JSON line per algorithm (see README.md).

Per key: generate, then private key as PKCS#8 DER and public key as SPKI DER.
HMAC: random bytes from the platform CSPRNG (os.urandom), nothing else.
"""

import argparse
import json
import os
import statistics
import sys
import time

import cryptography
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def pair(generate):
    def one():
        key = generate()
        return (
            key.private_bytes(DER, PKCS8, serialization.NoEncryption()),
            key.public_key().public_bytes(DER, SPKI),
        )

    return one


def rsa_pair(bits):
    return pair(lambda: rsa.generate_private_key(public_exponent=65537, key_size=bits))


def ec_pair(curve):
    return pair(lambda: ec.generate_private_key(curve))


def secret(size):
    return lambda: os.urandom(size)


# (label, one key, slow)
ALGORITHMS = [
    ("RSA-2048", rsa_pair(2048), True),
    ("RSA-3072", rsa_pair(3072), True),
    ("RSA-4096", rsa_pair(4096), True),
    ("P-256", ec_pair(ec.SECP256R1()), False),
    ("P-384", ec_pair(ec.SECP384R1()), False),
    ("P-521", ec_pair(ec.SECP521R1()), False),
    ("Ed25519", pair(ed25519.Ed25519PrivateKey.generate), False),
    ("HS256", secret(32), False),
    ("HS384", secret(48), False),
    ("HS512", secret(64), False),
]


def check(label, out):
    """The first key's output looks right: two DER SEQUENCEs, or a secret of the right size."""
    if isinstance(out, tuple):
        ok = all(isinstance(d, bytes) and d[:1] == b"\x30" for d in out)
    else:
        ok = len(out) == int(label[2:]) // 8
    if not ok:
        sys.exit(f"{label}: unexpected output")


def median_us(one, slow, samples, batch):
    """Median time per key: one key per sample (RSA) or a batch divided by its size."""
    n = 1 if slow else batch
    for _ in range(3 if slow else 200):
        one()
    times = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        for _ in range(n):
            one()
        times.append((time.perf_counter_ns() - start) / n / 1000)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    if args.samples < 1 or args.batch < 1:
        parser.error("--samples and --batch must be positive")
    peer = f"python-cryptography {cryptography.__version__} ({backend.openssl_version_text()})"
    for label, one, slow in ALGORITHMS:
        check(label, one())
        median = median_us(one, slow, args.samples, args.batch)
        line = {"peer": peer, "algorithm": label, "median_us": round(median, 3), "samples": args.samples}
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
