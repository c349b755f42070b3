//! The audit trail: one record per mutation and per use of a private key.

use serde::{Deserialize, Serialize};

/// One audited event. Never holds key material: targets are ids, never values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    /// Position in the trail (assigned by the store, increasing).
    #[serde(default)]
    pub id: u64,
    /// When it happened, epoch milliseconds.
    pub at: i64,
    /// Who: `api-key:<id>` for a scoped key, `api-key:admin:<first 8 hex of its SHA-256>` for
    /// an admin key, `cli` for the command line, `scheduler` for scheduled rotation.
    pub actor: String,
    /// What: `key.generate`, `key.delete`, `jwt.vend`, `ring.rotate`, `master-key.rotate`, ...
    pub action: String,
    /// On what: a key id, a connection id, a kid (empty when there is none).
    pub target: String,
    /// How it ended: the HTTP status, or `ok` / `error` outside HTTP.
    pub result: String,
    /// The request's `X-Request-Id`, for HTTP requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For a record that sums up the uses of one key (`audit_uses = "aggregate"`): how many, when
    /// and by whom. `at` is then the first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<AuditUses>,
}

/// The uses of one key by one action in one interval, summed up in one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditUses {
    /// How many uses.
    pub count: u64,
    /// The first use, epoch milliseconds.
    pub first: i64,
    /// The last use, epoch milliseconds.
    pub last: i64,
    /// The distinct callers, in order of first use (a bounded list).
    pub callers: Vec<String>,
    /// Whether there were more distinct callers than the list holds.
    #[serde(default)]
    pub more_callers: bool,
}

/// Criteria for reading the trail, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this action (exact).
    pub action: Option<String>,
    /// Only records whose actor or target contains this text.
    pub text: Option<String>,
    /// Only records at or after this instant (epoch ms).
    pub start: Option<i64>,
    /// Only records at or before this instant (epoch ms).
    pub end: Option<i64>,
    /// Records to skip.
    pub start_row: usize,
    /// Records to return.
    pub number_of_results: usize,
}

impl AuditQuery {
    /// Whether the query has no filter, so every record matches and the total is the trail's
    /// length.
    pub fn is_unfiltered(&self) -> bool {
        self.action.is_none() && self.text.is_none() && self.start.is_none() && self.end.is_none()
    }

    /// Whether `record` matches the filters (not the paging).
    pub fn matches(&self, record: &AuditRecord) -> bool {
        self.action.as_ref().is_none_or(|a| &record.action == a)
            && self.text.as_ref().is_none_or(|t| {
                record.actor.contains(t.as_str()) || record.target.contains(t.as_str())
            })
            && self.start.is_none_or(|s| record.at >= s)
            && self.end.is_none_or(|e| record.at <= e)
    }
}
