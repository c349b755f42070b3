//! Auth0 connections: the minimal record Keysmith keeps so connection keys have an owner.

use serde::{Deserialize, Serialize};

/// The longest connection name Auth0 accepts.
pub const MAX_CONNECTION_NAME_LENGTH: usize = 128;
/// The longest strategy or display name accepted.
pub const MAX_CONNECTION_TEXT_LENGTH: usize = 255;
/// The number of alphanumerics after `con_` in a connection id.
pub const CONNECTION_ID_RANDOM_CHARS: usize = 16;

/// One connection, with Auth0's field names. Its `Debug` names the option and metadata keys,
/// never their values: Auth0 strategies keep client secrets in `options`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// `con_` and 16 alphanumerics.
    pub id: String,
    /// Unique; starts and ends with an alphanumeric, else alphanumerics and `-`.
    pub name: String,
    /// Shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The identity provider type (`samlp`, `oidc`, `waad`, ...). Kept, not interpreted.
    pub strategy: String,
    /// Strategy options. Kept, not interpreted.
    #[serde(default)]
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Client ids enabled for the connection. Kept, not interpreted.
    #[serde(default)]
    pub enabled_clients: Vec<String>,
    /// Realms. Defaults to the name.
    #[serde(default)]
    pub realms: Vec<String>,
    /// Whether it is a domain-level connection.
    #[serde(default)]
    pub is_domain_connection: bool,
    /// Keysmith's scheduled rotation period in seconds: `None` uses the configured default,
    /// `Some(0)` turns scheduled rotation off for this connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_seconds: Option<u64>,
    /// When it was created, epoch milliseconds.
    pub created_at: i64,
    /// When it was last changed, epoch milliseconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("option_keys", &self.options.keys().collect::<Vec<_>>())
            .field("metadata_keys", &self.metadata.keys().collect::<Vec<_>>())
            .field("rotation_period_seconds", &self.rotation_period_seconds)
            .finish_non_exhaustive()
    }
}

/// Whether `name` is a valid connection name: 1 to 128 characters, ASCII alphanumerics and
/// `-`, starting and ending with an alphanumeric.
pub fn is_valid_connection_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CONNECTION_NAME_LENGTH
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Whether `id` has the shape of a connection id (`con_` and 16 alphanumerics).
pub fn is_connection_id(id: &str) -> bool {
    id.strip_prefix("con_").is_some_and(|rest| {
        rest.len() == CONNECTION_ID_RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_auth0s_rule() {
        for good in ["a", "my-saml", "A1-b2", &"x".repeat(128)] {
            assert!(is_valid_connection_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a b", "a_b", "é", &"x".repeat(129)] {
            assert!(!is_valid_connection_name(bad), "{bad}");
        }
    }

    #[test]
    fn debug_never_prints_option_values() {
        let mut options = serde_json::Map::new();
        options.insert("client_secret".into(), "hunter2-secret".into());
        let connection = Connection {
            id: "con_AbCdEfGh12345678".into(),
            name: "acme".into(),
            display_name: None,
            strategy: "oidc".into(),
            options,
            metadata: serde_json::Map::new(),
            enabled_clients: Vec::new(),
            realms: Vec::new(),
            is_domain_connection: false,
            rotation_period_seconds: None,
            created_at: 0,
            updated_at: 0,
        };
        let shown = format!("{connection:?}");
        assert!(
            shown.contains("client_secret") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn ids_are_con_and_sixteen_alphanumerics() {
        assert!(is_connection_id("con_AbCdEfGh12345678"));
        assert!(!is_connection_id("con_AbCdEfGh1234567"));
        assert!(!is_connection_id("con_AbCdEfGh1234567-"));
        assert!(!is_connection_id("abc_AbCdEfGh12345678"));
    }
}
