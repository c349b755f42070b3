//! FusionAuth's public-key response (`GET /api/jwt/public-key`): one key's PEM with `?kid=`,
//! otherwise every published key's PEM by kid.

use std::collections::BTreeMap;

use serde::Serialize;

/// `{"publicKey": PEM}` for one kid, or `{"publicKeys": {kid: PEM}}` for all.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PublicKeys<'a> {
    /// The key's public key (or certificate) in PEM, with `?kid=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<&'a str>,
    /// Kid → PEM, without `?kid=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<&'a BTreeMap<String, String>>,
}
