//! API key permissions: which endpoint families and methods a key may call, as FusionAuth's
//! API keys restrict endpoints and methods.
//!
//! A permission is `<family>:<methods>`: a family (`keys`, `sign`, `connections`,
//! `signing-keys`, `audit`, `metrics`, or `*`) and methods separated by `|` (`GET`, `POST`,
//! `PUT`, `PATCH`, `DELETE`, or `*`). Presets: `admin` (`*:*`), `read-only` (`*:GET`), `vend`
//! (`sign:POST`). Routes that belong to no family (backups) are granted only by `*`.
//!
//! Which family a route belongs to is declared by the API crate's route table, next to the
//! route; nothing here looks at request paths.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A group of routes a permission names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// FusionAuth's Keys API: `/api/key...` (except sign and verify).
    Keys,
    /// Uses of a private key: `POST /api/jwt/vend`, `/api/key/{id}/sign`, `/api/key/{id}/verify`.
    Sign,
    /// Auth0 connections and their keys: `/api/v2/connections...`.
    Connections,
    /// Auth0 tenant signing keys: `/api/v2/keys/signing...`.
    SigningKeys,
    /// The audit trail: `/api/system/audit-log...`.
    Audit,
    /// Prometheus scrapes of `/metrics`.
    Metrics,
}

impl Family {
    /// Every family a permission can name.
    pub const NAMED: [Family; 6] = [
        Family::Keys,
        Family::Sign,
        Family::Connections,
        Family::SigningKeys,
        Family::Audit,
        Family::Metrics,
    ];

    /// The word in a permission.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Keys => "keys",
            Family::Sign => "sign",
            Family::Connections => "connections",
            Family::SigningKeys => "signing-keys",
            Family::Audit => "audit",
            Family::Metrics => "metrics",
        }
    }
}

/// The methods a permission can name, in bit order.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// One permission: a family (or all) and a set of methods (bit i = `METHODS[i]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Grant {
    family: Option<Family>,
    methods: u8,
}

/// What one API key may call. Parsed from, and shown as, permission strings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Permissions {
    grants: Vec<Grant>,
}

/// A permission string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionError(pub String);

impl fmt::Display for PermissionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid permission {:?}: expected admin, read-only, vend, or <family>:<methods> with family one of keys, sign, connections, signing-keys, audit, metrics, * and methods GET|POST|PUT|PATCH|DELETE or *",
            self.0
        )
    }
}

impl std::error::Error for PermissionError {}

impl Permissions {
    /// Every route, every method.
    pub fn admin() -> Self {
        Self {
            grants: vec![Grant {
                family: None,
                methods: 0b1_1111,
            }],
        }
    }

    /// Parses permission strings (see the module documentation). An empty list grants nothing.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, PermissionError> {
        let mut grants = Vec::new();
        for item in items {
            let text = item.as_ref().trim();
            let expanded = match text {
                "admin" => "*:*",
                "read-only" => "*:GET",
                "vend" => "sign:POST",
                other => other,
            };
            let error = || PermissionError(text.to_owned());
            let (family, methods) = expanded.split_once(':').ok_or_else(error)?;
            let family = match family {
                "*" => None,
                name => Some(
                    Family::NAMED
                        .into_iter()
                        .find(|f| f.as_str() == name)
                        .ok_or_else(error)?,
                ),
            };
            let mut bits = 0u8;
            for method in methods.split('|') {
                if method == "*" {
                    bits = 0b1_1111;
                } else {
                    let index = METHODS
                        .iter()
                        .position(|m| *m == method)
                        .ok_or_else(error)?;
                    bits |= 1 << index;
                }
            }
            grants.push(Grant {
                family,
                methods: bits,
            });
        }
        Ok(Self { grants })
    }

    /// Whether `method` on a route of `family` is allowed. `HEAD` counts as `GET`; any other
    /// method is refused.
    pub fn allows(&self, family: Family, method: &str) -> bool {
        self.allows_where(method, |granted| granted.is_none_or(|f| f == family))
    }

    /// Whether `method` on a route of no family (admin only) is allowed: only a grant for
    /// every family (`*`) does.
    pub fn allows_admin_only(&self, method: &str) -> bool {
        self.allows_where(method, |granted| granted.is_none())
    }

    fn allows_where(&self, method: &str, family_matches: impl Fn(Option<Family>) -> bool) -> bool {
        let method = if method == "HEAD" { "GET" } else { method };
        let Some(index) = METHODS.iter().position(|m| *m == method) else {
            return false;
        };
        self.grants
            .iter()
            .any(|g| family_matches(g.family) && g.methods & (1 << index) != 0)
    }

    /// The permission strings, normalised (`keys:GET|POST`).
    pub fn to_strings(&self) -> Vec<String> {
        self.grants
            .iter()
            .map(|g| {
                let family = g.family.map_or("*", Family::as_str);
                let methods = if g.methods == 0b1_1111 {
                    "*".to_owned()
                } else {
                    METHODS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| g.methods & (1 << i) != 0)
                        .map(|(_, m)| *m)
                        .collect::<Vec<_>>()
                        .join("|")
                };
                format!("{family}:{methods}")
            })
            .collect()
    }
}

/// An API key kept in the data file: its SHA-256 (never the key) and what it may do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The key's id (not secret): how `list` and `revoke` name it.
    pub id: uuid::Uuid,
    /// A name for people.
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// Permission strings.
    pub permissions: Vec<String>,
    /// When it was created, epoch milliseconds.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_grants() {
        let read_only = Permissions::parse(&["read-only"]).unwrap();
        assert!(read_only.allows(Family::Keys, "GET"));
        assert!(read_only.allows(Family::Connections, "HEAD"));
        assert!(!read_only.allows(Family::Keys, "POST"));
        assert!(!read_only.allows(Family::Sign, "POST"));
        let vend = Permissions::parse(&["vend"]).unwrap();
        assert!(vend.allows(Family::Sign, "POST"));
        assert!(!vend.allows(Family::Keys, "GET"));
        let mixed = Permissions::parse(&["keys:GET|DELETE", "connections:*"]).unwrap();
        assert!(mixed.allows(Family::Keys, "DELETE") && !mixed.allows(Family::Keys, "PUT"));
        assert!(mixed.allows(Family::Connections, "PATCH"));
        assert_eq!(mixed.to_strings(), vec!["keys:GET|DELETE", "connections:*"]);
        assert!(Permissions::admin().allows_admin_only("DELETE"));
        assert!(read_only.allows_admin_only("GET") && !read_only.allows_admin_only("POST"));
        assert!(
            !mixed.allows_admin_only("GET"),
            "a family grant is not an admin grant"
        );
        let scraper = Permissions::parse(&["metrics:GET"]).unwrap();
        assert!(scraper.allows(Family::Metrics, "GET") && !scraper.allows(Family::Keys, "GET"));
        assert!(
            !Permissions::parse::<&str>(&[])
                .unwrap()
                .allows(Family::Keys, "GET")
        );
        assert!(!Permissions::admin().allows(Family::Keys, "TRACE"));
        for bad in ["keys", "keyz:GET", "keys:FETCH", "", "keys:"] {
            assert!(Permissions::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
