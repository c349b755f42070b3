//! Certs-only PKCS#7 (RFC 2315 SignedData with no signers), Auth0's `pkcs` / `pkcs7` field.
//!
//! Neither backend has a safe API for this (the openssl crate's `Pkcs7::sign` wants a signer;
//! aws-lc-rs has no PKCS#7), and it involves no cryptography, so it is written once here. The
//! output is byte-identical to `openssl crl2pkcs7 -nocrl`, which the conformance suite checks.

use crate::der::{self, TAG_CONTEXT_0, TAG_INTEGER, TAG_OID, TAG_SEQUENCE, TAG_SET};
use crate::pem::{self, LineEnding};

/// OID 1.2.840.113549.1.7.2 (signedData).
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// OID 1.2.840.113549.1.7.1 (data).
const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// The DER ContentInfo holding `certificates` (each a DER certificate) and nothing else.
pub fn certs_only_der(certificates: &[&[u8]]) -> Vec<u8> {
    let signed_data = der::constructed(
        TAG_SEQUENCE,
        &[
            &der::tlv(TAG_INTEGER, &[1]),
            &der::tlv(TAG_SET, &[]),
            &der::constructed(TAG_SEQUENCE, &[&der::tlv(TAG_OID, OID_DATA)]),
            &der::constructed(TAG_CONTEXT_0, certificates),
            &der::tlv(TAG_SET, &[]),
        ],
    );
    der::constructed(
        TAG_SEQUENCE,
        &[
            &der::tlv(TAG_OID, OID_SIGNED_DATA),
            &der::tlv(TAG_CONTEXT_0, &signed_data),
        ],
    )
}

/// The same as PEM (`BEGIN PKCS7`).
pub fn certs_only_pem(certificates: &[&[u8]], line_ending: LineEnding) -> String {
    pem::encode("PKCS7", &certs_only_der(certificates), line_ending)
}
