//! PEM (RFC 7468) decoding and encoding.
//!
//! Decoding is strict where it matters for keys: exactly one block, matching BEGIN/END labels,
//! no encrypted (`Proc-Type`) blocks, valid base64. Text before the BEGIN line is allowed, as
//! RFC 7468 §5.2 allows explanatory text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::Error;

/// A decoded PEM block. The contents may be a private key, so they are wiped on drop and
/// `Debug` shows only their length.
pub struct Pem {
    /// The label between `BEGIN ` and the dashes, e.g. `PRIVATE KEY`.
    pub label: String,
    /// The DER bytes.
    pub contents: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Pem({}, [REDACTED; {} bytes])",
            self.label,
            self.contents.len()
        )
    }
}

/// Line endings for encoding: FusionAuth uses `\n`, Auth0 uses `\r\n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`.
    Lf,
    /// `\r\n`.
    CrLf,
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// Whether `text` holds a PEM BEGIN line (as opposed to, e.g., bare base64).
pub fn looks_like_pem(text: &str) -> bool {
    text.contains(BEGIN)
}

/// Decodes the one PEM block in `text`.
pub fn decode(text: &str) -> Result<Pem, Error> {
    let start = text
        .find(BEGIN)
        .ok_or_else(|| Error::malformed("no PEM BEGIN line"))?;
    let after_begin = &text[start + BEGIN.len()..];
    let label_end = after_begin
        .find(DASHES)
        .ok_or_else(|| Error::malformed("unterminated PEM BEGIN line"))?;
    let label = &after_begin[..label_end];
    if label.len() > 64
        || !label
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == ' ' || c.is_ascii_digit())
    {
        return Err(Error::malformed("invalid PEM label"));
    }
    let body_and_rest = &after_begin[label_end + DASHES.len()..];
    let end_line = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_line)
        .ok_or_else(|| Error::malformed(format!("no matching END line for {label}")))?;
    let body = &body_and_rest[..body_end];
    let rest = &body_and_rest[body_end + end_line.len()..];
    if rest.contains(BEGIN) {
        return Err(Error::malformed(
            "expected one PEM block, found more than one",
        ));
    }
    if !rest.trim().is_empty() {
        return Err(Error::malformed("unexpected text after the PEM END line"));
    }
    if body.contains(':') {
        if body.contains("ENCRYPTED") {
            return Err(Error::rejected(
                "encrypted PEM is not supported: import the key decrypted",
            ));
        }
        return Err(Error::malformed("PEM headers are not supported"));
    }
    let contents = decode_base64(body)?;
    if contents.is_empty() {
        return Err(Error::malformed("empty PEM block"));
    }
    Ok(Pem {
        label: label.to_owned(),
        contents,
    })
}

/// Decodes standard base64 with any ASCII white space (line breaks) removed.
pub fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !c.is_ascii_whitespace()).collect());
    STANDARD
        .decode(compact.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| Error::malformed("invalid base64"))
}

/// Encodes `der` as one PEM block with 64-character lines and no final line break.
pub fn encode(label: &str, der: &[u8], line_ending: LineEnding) -> String {
    let eol = match line_ending {
        LineEnding::Lf => "\n",
        LineEnding::CrLf => "\r\n",
    };
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 * 2 + 2 * (label.len() + 20));
    out.push_str(BEGIN);
    out.push_str(label);
    out.push_str(DASHES);
    out.push_str(eol);
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str(eol);
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str(DASHES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_with_crlf_and_leading_text() {
        let pem = "subject=CN=x\r\n-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAw==\r\n-----END CERTIFICATE-----\r\n";
        let block = decode(pem).unwrap();
        assert_eq!(block.label, "CERTIFICATE");
        assert_eq!(&block.contents[..], &[0, 1, 2, 3]);
    }

    #[test]
    fn refuses_what_it_must() {
        let cases = [
            "",
            "-----BEGIN X-----\nAAEC\n-----END Y-----",
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN A-----\nAAAA\n-----END A-----\n-----BEGIN A-----\nAAAA\n-----END A-----",
            "-----BEGIN A-----\nAAAA\n-----END A-----trailing",
            "-----BEGIN A-----\n\n-----END A-----",
        ];
        for case in cases {
            assert!(decode(case).is_err(), "{case:?} decoded");
        }
        assert!(matches!(decode(cases[3]), Err(Error::Rejected(_))));
    }

    #[test]
    fn debug_shows_the_label_not_the_contents() {
        let block = decode(
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----",
        )
        .unwrap();
        let printed = format!("{block:?}");
        assert!(printed.contains("PRIVATE KEY") && printed.contains("REDACTED"));
        assert!(
            !printed.contains("115") && !printed.contains("secret"),
            "{printed}"
        );
    }

    proptest! {
        #[test]
        fn round_trips(der in proptest::collection::vec(any::<u8>(), 1..600), crlf: bool) {
            let eol = if crlf { LineEnding::CrLf } else { LineEnding::Lf };
            let text = encode("PUBLIC KEY", &der, eol);
            prop_assert!(text.lines().all(|l| l.trim_end().len() <= 64 || l.starts_with("-----")));
            let back = decode(&text).unwrap();
            prop_assert_eq!(back.label, "PUBLIC KEY");
            prop_assert_eq!(&back.contents[..], &der[..]);
        }

        #[test]
        fn never_panics(text in ".{0,400}") {
            let _ = decode(&text);
            let _ = decode(&format!("-----BEGIN X-----\n{text}\n-----END X-----"));
        }
    }
}
