//! Request bodies: every JSON body a route reads, through the parsing its handler runs
//! (`keysmith_api::fuzzing`): FusionAuth's key generate/import/update, key search, sign and
//! verify, JWT vend and audit-log search bodies; Auth0's connection and connection-keys
//! bodies. The searches run against a store holding the fixture keys.
//!
//! Input: the raw body bytes. Seeds are bodies the end-to-end tests send.
//!
//! Checked besides "no panic": an Auth0 refusal that names an unknown field names one the body
//! has (its messages may name a field, never quote a value: connection options can hold
//! secrets).

#![no_main]

use std::fmt;
use std::sync::LazyLock;

use keysmith_api::fuzzing;
use keysmith_core::KeyService;
use keysmith_fuzz::{backends, service_with_fixture_keys};
use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

static SERVICE: LazyLock<KeyService> = LazyLock::new(|| {
    let [(_, aws_lc), _] = backends();
    service_with_fixture_keys(aws_lc)
});

/// Asserts that an "Additional properties not allowed: X" message names a top-level member of
/// `body` (or the start of one: a name is cut at a backtick).
fn names_only_members(message: &str, body: &[u8]) {
    let Some((_, named)) = message.split_once("Additional properties not allowed: ") else {
        return;
    };
    let members = member_names(body);
    assert!(
        members.iter().any(|m| m.starts_with(named)),
        "the refusal names {named:?}, which is not a member of the body {members:?}"
    );
}

/// The names of a JSON object's top-level members, as far as it parses (the refusal's parser
/// stops at the same place).
fn member_names(body: &[u8]) -> Vec<String> {
    struct Members<'a>(&'a mut Vec<String>);
    impl<'de> DeserializeSeed<'de> for Members<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_map(self)
        }
    }
    impl<'de> Visitor<'de> for Members<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(name) = map.next_key::<String>()? {
                self.0.push(name);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut names = Vec::new();
    let _ = Members(&mut names).deserialize(&mut serde_json::Deserializer::from_slice(body));
    names
}

fuzz_target!(|body: &[u8]| {
    let _ = fuzzing::generate_body(body);
    let _ = fuzzing::key_body(body);
    let _ = fuzzing::key_search_body(&SERVICE, body);
    let _ = fuzzing::sign_body(body);
    let _ = fuzzing::vend_body(body);
    let _ = fuzzing::audit_search_body(&SERVICE, body);
    if let Err(e) = fuzzing::connection_body(body) {
        names_only_members(&e.to_string(), body);
    }
    if let Err(e) = fuzzing::connection_keys_body(body) {
        names_only_members(&e.to_string(), body);
    }
});
