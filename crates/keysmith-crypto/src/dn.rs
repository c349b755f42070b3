//! Distinguished names as RFC 4514 strings, formatted once for every backend.
//!
//! Backends differ in how they name attributes (x509-parser writes `Email=` where OpenSSL
//! writes `emailAddress=`), so each backend hands over raw attributes (dotted OID and value)
//! and this module does the naming, ordering and escaping. The result equals
//! `openssl x509 -nameopt RFC2253` for printable ASCII names.

use std::fmt::Write as _;

/// The value of one attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeValue {
    /// A string type (UTF8String, PrintableString, IA5String, ...), decoded.
    Text(String),
    /// Any other type: the complete DER encoding of the value, printed as `#hex`.
    Der(Vec<u8>),
}

/// One attribute type and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute type as a dotted OID, e.g. `2.5.4.3`.
    pub oid: String,
    /// The value.
    pub value: AttributeValue,
}

/// A relative distinguished name: one or more attributes (usually one).
pub type Rdn = Vec<Attribute>;

/// Short names, as OpenSSL prints them.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "street"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.17", "postalCode"),
    ("2.5.4.42", "GN"),
    ("2.5.4.43", "initials"),
    ("2.5.4.46", "dnQualifier"),
    ("2.5.4.65", "pseudonym"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
];

/// The short name of an attribute type, or the dotted OID when it has none.
pub fn attribute_name(oid: &str) -> &str {
    SHORT_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or(oid, |(_, name)| name)
}

/// Formats `rdns`, given in certificate order (most general first), as RFC 4514: most specific
/// first, RDNs separated by `,`, multi-valued RDNs joined by `+`.
pub fn format_rfc4514(rdns: &[Rdn]) -> String {
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            out.push_str(attribute_name(&attribute.oid));
            out.push('=');
            match &attribute.value {
                AttributeValue::Text(text) => escape_value(&mut out, text),
                AttributeValue::Der(der) => {
                    out.push('#');
                    for b in der {
                        let _ = write!(out, "{b:02X}");
                    }
                }
            }
        }
    }
    out
}

/// RFC 4514 §2.4 escaping.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(oid: &str, value: &str) -> Attribute {
        Attribute {
            oid: oid.into(),
            value: AttributeValue::Text(value.into()),
        }
    }

    #[test]
    fn reverses_names_and_escapes_values() {
        let rdns = vec![
            vec![text("2.5.4.6", "US")],
            vec![text("2.5.4.10", "Acme, Inc.")],
            vec![
                text("2.5.4.3", "acme.com"),
                text("1.2.840.113549.1.9.1", "a@acme.com"),
            ],
        ];
        assert_eq!(
            format_rfc4514(&rdns),
            "CN=acme.com+emailAddress=a@acme.com,O=Acme\\, Inc.,C=US"
        );
        assert_eq!(
            format_rfc4514(&[vec![text("2.5.4.3", " #x ")]]),
            "CN=\\ #x\\ "
        );
        assert_eq!(format_rfc4514(&[vec![text("2.5.4.3", "#x")]]), "CN=\\#x");
        assert_eq!(format_rfc4514(&[vec![text("1.2.3.4", "v")]]), "1.2.3.4=v");
        assert_eq!(format_rfc4514(&[]), "");
    }
}
