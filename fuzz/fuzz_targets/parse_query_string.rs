//! Query strings: every route that reads one, through the parsing its handler runs
//! (`keysmith_api::fuzzing`): FusionAuth's `GET /api/key/search` (parameters bare or
//! `search.`-prefixed, then `Keys::search` with the model's search rules and the store's
//! paging), the audit-log search (then the store's audit search), `GET /api/jwt/public-key`,
//! and Auth0's `GET /api/v2/connections`. The searches run against a store holding the fixture
//! keys and a few audit records.
//!
//! Input: the query string after `?` (UTF-8, as actix hands it over).
//!
//! Checked besides "no panic": a page holds at most the page size, and the total counts at
//! least the page; an Auth0 refusal that names an unknown parameter names one the query has.

#![no_main]

use std::sync::LazyLock;

use keysmith_api::fuzzing;
use keysmith_core::KeyService;
use keysmith_fuzz::{backends, service_with_fixture_keys};
use libfuzzer_sys::fuzz_target;

static SERVICE: LazyLock<KeyService> = LazyLock::new(|| {
    let [(_, aws_lc), _] = backends();
    service_with_fixture_keys(aws_lc)
});

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let parameters = fuzzing::query_parameters(query);
    if let Ok(parameters) = &parameters
        && let Ok((keys, total)) = fuzzing::key_search_query(&SERVICE, parameters.clone())
    {
        let page_size = parameters
            .iter()
            .find(|(name, _)| name.strip_prefix("search.").unwrap_or(name) == "numberOfResults")
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(25);
        assert!(
            keys.len() <= page_size,
            "{} keys in a page of {page_size}",
            keys.len()
        );
        assert!(
            keys.len() as u64 <= total,
            "{} keys but a total of {total}",
            keys.len()
        );
    }
    if let Ok((records, total)) = fuzzing::audit_search_query(&SERVICE, query) {
        assert!(
            records.len() as u64 <= total,
            "{} records but a total of {total}",
            records.len()
        );
    }
    let _ = fuzzing::public_key_query(query);
    if let Err(e) = fuzzing::connections_query(query) {
        let message = e.to_string();
        if let Some((_, named)) = message.split_once("Additional properties not allowed: ") {
            let names: Vec<&str> = parameters
                .iter()
                .flatten()
                .map(|(name, _)| name.as_str())
                .collect();
            assert!(
                names.iter().any(|n| n.starts_with(named)),
                "the refusal names {named:?}, which is not a parameter of {names:?}"
            );
        }
    }
});
