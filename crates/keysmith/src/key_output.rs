//! How the key commands print: the key table and failures of the key service. A leaf: the
//! commands (`key_cli`, `bulk`) use it, it uses neither.

use keysmith_core::ServiceError;
use serde_json::Value;

use crate::error::ServerError;

/// A key command's failure, as one line.
pub(crate) fn service_failure(err: ServiceError) -> ServerError {
    match err {
        ServiceError::Invalid(errors) => {
            ServerError::Cli(serde_json::to_string(&errors).unwrap_or_default())
        }
        ServiceError::NotFound => ServerError::Cli("no such key".into()),
        other => ServerError::Cli(other.to_string()),
    }
}

/// The header of the key table.
pub(crate) const TABLE_HEADER: &str = concat!(
    "id                                    name                      ",
    "alg      type   len  priv  expires               kid"
);

/// One key as a row of the key table.
pub(crate) fn table_row(key: &Value) -> String {
    let text = |f: &str| key[f].as_str().unwrap_or("").to_owned();
    let expires = key["expirationInstant"]
        .as_i64()
        .map(|ms| keysmith_api::iso8601(ms)[..19].to_owned())
        .unwrap_or_default();
    let private = match key["hasPrivateKey"].as_bool() {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    let mut name = text("name");
    if name.chars().count() > 24 {
        name = name.chars().take(23).collect::<String>() + "…";
    }
    format!(
        "{:<36}  {:<24}  {:<7}  {:<4}  {:>4}  {:<4}  {:<20}  {}",
        text("id"),
        name,
        text("algorithm"),
        text("type"),
        key["length"]
            .as_u64()
            .map(|l| l.to_string())
            .unwrap_or_default(),
        private,
        expires,
        text("kid")
    )
}
