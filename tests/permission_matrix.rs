//! `tests/permission-matrix.txt`, parsed once for the two test crates that check it (each
//! includes this file with `#[path]`): `crates/keysmith-api/tests/permissions.rs` and the
//! end-to-end `permissions.rs`.

/// Every row: (method, path template, family), where family `anonymous` marks a route that
/// needs no key and `*` one that only admin keys may call.
pub(crate) fn rows() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("permission-matrix.txt")
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some(method), Some(path), Some(family), None) => (method, path, family),
                _ => panic!("tests/permission-matrix.txt: a row is `method path family`: {line}"),
            }
        })
        .collect()
}

/// The rows of routes that need a key.
pub(crate) fn keyed() -> Vec<(&'static str, &'static str, &'static str)> {
    rows()
        .into_iter()
        .filter(|&(_, _, family)| family != ANONYMOUS)
        .collect()
}

/// The rows of routes that need no key: (method, path template).
pub(crate) fn anonymous() -> Vec<(&'static str, &'static str)> {
    rows()
        .into_iter()
        .filter(|&(_, _, family)| family == ANONYMOUS)
        .map(|(method, path, _)| (method, path))
        .collect()
}

/// The family word of rows that need no key.
pub(crate) const ANONYMOUS: &str = "anonymous";
