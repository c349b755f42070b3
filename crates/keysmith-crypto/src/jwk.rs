//! JSON Web Keys (RFC 7517) for public keys.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keysmith_model::{Algorithm, CertificateInformation, Curve, KeyUse};
use serde::{Deserialize, Serialize};

use crate::backend::{PublicKeyComponents, PublicKeyInfo};
use crate::fingerprint::{base64url, from_base64url};

/// A JWK Set (RFC 7517 section 5): the body of `/.well-known/jwks.json`. Each key is a [`Jwk`]
/// serialised once, when its key was published, so a set of many keys is built by copying
/// bytes, not by serialising every key again.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JwkSet<'a> {
    /// The public keys, in the order they were stored.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Jwk>))]
    pub keys: Vec<&'a serde_json::value::RawValue>,
}

/// A public JWK. Fields that do not apply are left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// `RSA`, `EC`, `OKP` or `AKP`.
    pub kty: String,
    /// The key id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kid: Option<String>,
    /// The JWS algorithm (`EdDSA` for Ed25519, `ML-DSA-65` for ML-DSA-65).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alg: Option<String>,
    /// `sig` or `enc`.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none", default)]
    pub key_use: Option<String>,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// Curve name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate or the OKP public key, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// The AKP (ML-DSA) public key, base64url (draft-ietf-cose-dilithium).
    #[serde(rename = "pub", skip_serializing_if = "Option::is_none", default)]
    pub public: Option<String>,
    /// The certificate chain, standard base64 DER, leaf first.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5c: Option<Vec<String>>,
    /// SHA-1 thumbprint of the certificate, base64url.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5t: Option<String>,
    /// SHA-256 thumbprint of the certificate, base64url.
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none", default)]
    pub x5t_s256: Option<String>,
}

impl Jwk {
    /// The JWK of a public key with `kid`, `alg` and `use`.
    pub fn new(public: &PublicKeyInfo, kid: &str, algorithm: Algorithm, key_use: KeyUse) -> Self {
        let mut jwk = Jwk {
            kty: public.key_type.as_str().to_owned(),
            kid: Some(kid.to_owned()),
            alg: Some(algorithm.jws_name().to_owned()),
            key_use: Some(key_use.jwk_use().to_owned()),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
            public: None,
            x5c: None,
            x5t: None,
            x5t_s256: None,
        };
        match &public.components {
            PublicKeyComponents::Rsa { n, e } => {
                jwk.n = Some(base64url(n));
                jwk.e = Some(base64url(e));
            }
            PublicKeyComponents::Ec { curve, x, y } => {
                jwk.crv = Some(curve.jwk_name().to_owned());
                jwk.x = Some(base64url(x));
                jwk.y = Some(base64url(y));
            }
            PublicKeyComponents::Okp { curve, x } => {
                jwk.crv = Some(curve.jwk_name().to_owned());
                jwk.x = Some(base64url(x));
            }
            PublicKeyComponents::Akp { public, .. } => {
                jwk.public = Some(base64url(public));
            }
        }
        jwk
    }

    /// Adds `x5c`, `x5t` and `x5t#S256` for the key's certificate.
    pub fn with_certificate(mut self, der: &[u8], info: &CertificateInformation) -> Self {
        self.x5c = Some(vec![STANDARD.encode(der)]);
        self.x5t = Some(info.sha1_thumbprint.clone());
        self.x5t_s256 = Some(info.sha256_thumbprint.clone());
        self
    }

    /// Reads the key's numbers back; `None` if the JWK is not a well-formed public key.
    pub fn components(&self) -> Option<PublicKeyComponents> {
        let curve = |name: &str| {
            [Curve::P256, Curve::P384, Curve::P521, Curve::Ed25519]
                .into_iter()
                .find(|c| c.jwk_name() == name)
        };
        match self.kty.as_str() {
            "RSA" => Some(PublicKeyComponents::Rsa {
                n: from_base64url(self.n.as_deref()?)?,
                e: from_base64url(self.e.as_deref()?)?,
            }),
            "EC" => Some(PublicKeyComponents::Ec {
                curve: curve(self.crv.as_deref()?).filter(|c| *c != Curve::Ed25519)?,
                x: from_base64url(self.x.as_deref()?)?,
                y: from_base64url(self.y.as_deref()?)?,
            }),
            "OKP" => Some(PublicKeyComponents::Okp {
                curve: curve(self.crv.as_deref()?).filter(|c| *c == Curve::Ed25519)?,
                x: from_base64url(self.x.as_deref()?)?,
            }),
            "AKP" => {
                let public = from_base64url(self.public.as_deref()?)?;
                let algorithm = self
                    .alg
                    .as_deref()?
                    .parse::<Algorithm>()
                    .ok()
                    .filter(|alg| alg.implied_length().map(|l| l as usize) == Some(public.len()))
                    .filter(|alg| alg.is_ml_dsa())?;
                Some(PublicKeyComponents::Akp { algorithm, public })
            }
            _ => None,
        }
    }
}

/// The JSON whose SHA-256 is the RFC 7638 JWK thumbprint: the required members in
/// lexicographic order, no white space.
pub fn thumbprint_input(components: &PublicKeyComponents) -> String {
    match components {
        PublicKeyComponents::Rsa { n, e } => {
            format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                base64url(e),
                base64url(n)
            )
        }
        PublicKeyComponents::Ec { curve, x, y } => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            curve.jwk_name(),
            base64url(x),
            base64url(y)
        ),
        PublicKeyComponents::Okp { curve, x } => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            curve.jwk_name(),
            base64url(x)
        ),
        // draft-ietf-cose-dilithium: AKP's required members are alg, kty and pub.
        PublicKeyComponents::Akp { algorithm, public } => format!(
            r#"{{"alg":"{}","kty":"AKP","pub":"{}"}}"#,
            algorithm.jws_name(),
            base64url(public)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keysmith_model::KeyType;
    use proptest::prelude::*;

    fn info(components: PublicKeyComponents) -> PublicKeyInfo {
        let (key_type, curve) = match &components {
            PublicKeyComponents::Rsa { .. } => (KeyType::Rsa, None),
            PublicKeyComponents::Ec { curve, .. } => (KeyType::Ec, Some(*curve)),
            PublicKeyComponents::Okp { curve, .. } => (KeyType::Okp, Some(*curve)),
            PublicKeyComponents::Akp { .. } => (KeyType::Akp, None),
        };
        PublicKeyInfo {
            key_type,
            length: 0,
            curve,
            spki_der: vec![],
            components,
        }
    }

    fn components() -> impl Strategy<Value = PublicKeyComponents> {
        let bytes = |n| proptest::collection::vec(any::<u8>(), n);
        prop_oneof![
            (bytes(1..600), bytes(1..8)).prop_map(|(n, e)| PublicKeyComponents::Rsa { n, e }),
            (
                prop_oneof![Just(Curve::P256), Just(Curve::P384), Just(Curve::P521)],
                bytes(66..67),
                bytes(66..67)
            )
                .prop_map(|(curve, x, y)| {
                    let len = curve.coordinate_len();
                    PublicKeyComponents::Ec {
                        curve,
                        x: x[..len].to_vec(),
                        y: y[..len].to_vec(),
                    }
                }),
            bytes(32..33).prop_map(|x| PublicKeyComponents::Okp {
                curve: Curve::Ed25519,
                x
            }),
            prop_oneof![
                Just(Algorithm::MlDsa44),
                Just(Algorithm::MlDsa65),
                Just(Algorithm::MlDsa87)
            ]
            .prop_flat_map(move |algorithm| {
                let len = algorithm.implied_length().unwrap_or(0) as usize;
                bytes(len..len + 1)
                    .prop_map(move |public| PublicKeyComponents::Akp { algorithm, public })
            }),
        ]
    }

    proptest! {
        #[test]
        fn jwk_round_trips_through_json(components in components(), kid in "[A-Za-z0-9_-]{1,40}") {
            let algorithm = match &components {
                PublicKeyComponents::Akp { algorithm, .. } => *algorithm,
                _ => Algorithm::ES256,
            };
            let jwk = Jwk::new(&info(components.clone()), &kid, algorithm, KeyUse::Signing);
            let json = serde_json::to_string(&jwk).unwrap();
            let back: Jwk = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &jwk);
            prop_assert_eq!(back.components(), Some(components));
            prop_assert_eq!(back.kid.as_deref(), Some(kid.as_str()));
        }

        #[test]
        fn components_never_panics_on_arbitrary_jwks(kty in ".{0,4}", crv in ".{0,8}", x in ".{0,20}", n in ".{0,20}") {
            let jwk = Jwk { kty, kid: None, alg: Some(crv.clone()), key_use: None, n: Some(n.clone()), e: Some(n), crv: Some(crv), x: Some(x.clone()), y: Some(x.clone()), public: Some(x), x5c: None, x5t: None, x5t_s256: None };
            let _ = jwk.components();
        }
    }

    #[test]
    fn rfc7638_example_input() {
        // RFC 7638 §3.1: the thumbprint input of its example RSA key starts and ends like this.
        let input = thumbprint_input(&PublicKeyComponents::Rsa {
            n: vec![0xd2, 0xfc],
            e: vec![1, 0, 1],
        });
        assert_eq!(input, r#"{"e":"AQAB","kty":"RSA","n":"0vw"}"#);
    }
}
