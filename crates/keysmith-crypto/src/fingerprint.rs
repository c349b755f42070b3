//! Fingerprint and thumbprint text forms.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Upper-case hex with `:` between bytes: `CD:A9:80`. Empty input gives an empty string.
pub fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        push_hex_byte(&mut out, *b);
    }
    out
}

/// Decodes exactly [`colon_hex`]'s form (upper-case, one `:` between bytes); `None` on anything
/// else, so `colon_hex(&from_colon_hex(t)?) == t` whenever it is `Some`.
pub fn from_colon_hex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    // Every byte but the last is followed by ':', so only the last chunk has two characters.
    if bytes.len() % 3 != 2 {
        return None;
    }
    bytes
        .chunks(3)
        .map(|chunk| match chunk {
            [hi, lo] | [hi, lo, b':'] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// Upper-case hex without separators: `CDA980`.
pub fn upper_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        push_hex_byte(&mut out, *b);
    }
    out
}

/// Base64url without padding (RFC 7515 §2), the form of JWK `x5t` and `x5t#S256`.
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding; `None` on anything else.
pub fn from_base64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn push_hex_byte(out: &mut String, b: u8) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    out.push(char::from(DIGITS[usize::from(b >> 4)]));
    out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(colon_hex(&[0xcd, 0xa9, 0x80, 0x05]), "CD:A9:80:05");
        assert_eq!(upper_hex(&[0x0c, 0xfb]), "0CFB");
        assert_eq!(colon_hex(&[]), "");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(from_colon_hex("CD:A9:80"), Some(vec![0xcd, 0xa9, 0x80]));
        assert_eq!(from_colon_hex(""), Some(vec![]));
        for bad in ["cd:a9", "CD:A", "CDA9", "CD:A9:", ":CD", "CD;A9", "CD:G9"] {
            assert_eq!(from_colon_hex(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn colon_hex_shape_and_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let text = colon_hex(&bytes);
            prop_assert_eq!(text.len(), (bytes.len() * 3).saturating_sub(1));
            prop_assert_eq!(from_colon_hex(&text), Some(bytes.clone()));
            prop_assert!(text.chars().all(|c| c == ':' || c.is_ascii_digit() || c.is_ascii_uppercase()));
            let back: Vec<u8> = if text.is_empty() { vec![] } else {
                text.split(':').map(|h| u8::from_str_radix(h, 16).unwrap()).collect()
            };
            prop_assert_eq!(&back, &bytes);
            prop_assert_eq!(upper_hex(&bytes), text.replace(':', ""));
        }

        #[test]
        fn base64url_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let text = base64url(&bytes);
            prop_assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
            prop_assert_eq!(from_base64url(&text), Some(bytes));
        }
    }
}
