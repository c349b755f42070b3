//! Key search: FusionAuth's search criteria, and how names match.

use crate::algorithm::{Algorithm, KeyType};
use crate::key::Key;

/// The default page size, as FusionAuth's.
pub const DEFAULT_NUMBER_OF_RESULTS: usize = 25;

/// Without `accurateTotal`, a search counts matches up to this many (or to the end of its
/// page, if that is further) and reports at most this total, as FusionAuth's own searches do
/// without `accurateTotal`: the work of one request stays bounded however many keys match.
pub const TOTAL_COUNT_BOUND: u64 = 10_000;

/// A field keys can be ordered by (FusionAuth's `orderBy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortField {
    /// `name` (case-insensitive), the default.
    #[default]
    Name,
    /// `insertInstant`: insertion order.
    InsertInstant,
    /// `id`.
    Id,
    /// `algorithm`.
    Algorithm,
    /// `type`.
    Type,
    /// `expiration` (`expirationInstant`; keys without one sort last).
    Expiration,
}

impl SortField {
    /// Parses FusionAuth's field name.
    pub fn parse(field: &str) -> Option<Self> {
        match field {
            "name" => Some(SortField::Name),
            "insertInstant" => Some(SortField::InsertInstant),
            "id" => Some(SortField::Id),
            "algorithm" => Some(SortField::Algorithm),
            "type" => Some(SortField::Type),
            "expiration" | "expirationInstant" => Some(SortField::Expiration),
            _ => None,
        }
    }
}

/// A validated search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Name pattern: case-insensitive, `*` matches any run of characters, and a pattern without
    /// `*` matches names that contain it.
    pub name: Option<String>,
    /// Only keys of this type.
    pub key_type: Option<KeyType>,
    /// Only keys with this algorithm.
    pub algorithm: Option<Algorithm>,
    /// Only keys whose issuer is exactly this (case-sensitive, as the per-issuer JWKS matches
    /// it): keys without an issuer never match.
    pub issuer: Option<String>,
    /// Sort field.
    pub order_by: SortField,
    /// Descending instead of ascending.
    pub descending: bool,
    /// Rows to skip.
    pub start_row: usize,
    /// Rows to return.
    pub number_of_results: usize,
    /// Count every match for the total, however many (FusionAuth's `accurateTotal`).
    pub accurate_total: bool,
}

impl SearchQuery {
    /// The most matches this search counts for its total: `None` when it counts them all.
    /// Always at least the end of the page, so a bounded count never cuts the page short.
    pub fn count_bound(&self) -> Option<u64> {
        if self.accurate_total {
            return None;
        }
        let page_end = self.start_row.saturating_add(self.number_of_results);
        Some(TOTAL_COUNT_BOUND.max(u64::try_from(page_end).unwrap_or(u64::MAX)))
    }

    /// Whether `key` passes the filters.
    pub fn matches(&self, key: &Key) -> bool {
        self.key_type.is_none_or(|t| t == key.key_type)
            && self.algorithm.is_none_or(|a| a == key.algorithm)
            && self
                .issuer
                .as_deref()
                .is_none_or(|i| key.issuer.as_deref() == Some(i))
            && self
                .name
                .as_deref()
                .is_none_or(|p| name_matches(p, &key.name))
    }
}

/// FusionAuth's name matching: case-insensitive; `*` is a wildcard; no `*` means "contains".
pub fn name_matches(pattern: &str, name: &str) -> bool {
    lowered_name_matches(&pattern.to_lowercase(), &name.to_lowercase())
}

/// [`name_matches`] for a pattern and a name both already in lower case (a name index's
/// entries): no allocation, for searches that test every entry of a range.
pub fn lowered_name_matches(pattern: &str, name: &str) -> bool {
    let stars = pattern.matches('*').count();
    if stars == 0 {
        return name.contains(pattern);
    }
    // `stars` stars split the pattern into a first part, `stars - 1` middle parts and a last.
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    for part in parts.by_ref().take(stars - 1) {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    let last = parts.next().unwrap_or_default();
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Backtracking wildcard matching, the obvious way: the reference for the fast matcher.
    fn wildcard(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                name.starts_with(head)
                    && (head.len()..=name.len()).any(|at| wildcard(tail, &name[at..]))
            }
        }
    }

    #[test]
    fn wildcards_and_contains() {
        assert!(name_matches("rsa", "My RSA key"));
        assert!(name_matches("my*", "My RSA key"));
        assert!(!name_matches("rsa*", "My RSA key"));
        assert!(name_matches("*key", "My RSA key"));
        assert!(name_matches("m*r*y", "My RSA key"));
        assert!(name_matches("*", ""));
        assert!(!name_matches("a*a", "a"));
        assert!(name_matches("a*a", "aa"));
    }

    proptest! {
        /// The allocation-free matcher agrees with a plain reading of the rules: `*` is any
        /// run of characters (a regular expression built from the pattern), no `*` is
        /// "contains".
        #[test]
        fn the_matcher_agrees_with_a_regular_expression(
            pattern in "[ab*]{0,8}", name in "[abAB]{0,10}",
        ) {
            let lower = name.to_lowercase();
            let expected = if pattern.contains('*') {
                // Anchored: every `*` any run, everything else literal.
                wildcard(&pattern, &lower)
            } else {
                lower.contains(&pattern)
            };
            prop_assert_eq!(name_matches(&pattern, &name), expected, "{} {}", pattern, name);
        }

        #[test]
        fn a_name_matches_itself_and_star_matches_all(name in ".{0,40}") {
            prop_assert!(name_matches(&name.replace('*', ""), &name.replace('*', "")));
            prop_assert!(name_matches("*", &name));
        }
    }
}
