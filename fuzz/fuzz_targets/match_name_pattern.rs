//! Key-name search patterns: `keysmith_model::search::name_matches`, FusionAuth's name match
//! (case-insensitive, `*` matches any run of characters, no `*` means "contains").
//!
//! Input: UTF-8 `pattern \0 name`.
//!
//! Checked besides "no panic": the answer is a plain wildcard match's (dynamic programming over
//! the lower-cased characters), and the name matches itself with its stars removed.

#![no_main]

use keysmith_model::search::name_matches;
use libfuzzer_sys::fuzz_target;

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    // matched[j]: the pattern so far matches name[..j].
    let mut matched = vec![false; name.len() + 1];
    matched[0] = true;
    for &p in pattern {
        if p == '*' {
            for j in 1..=name.len() {
                matched[j] = matched[j] || matched[j - 1];
            }
        } else {
            for j in (1..=name.len()).rev() {
                matched[j] = matched[j - 1] && name[j - 1] == p;
            }
            matched[0] = false;
        }
    }
    matched[name.len()]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, name) = text.split_once('\0').unwrap_or((text, ""));
    let lower_pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let lower_name: Vec<char> = name.to_lowercase().chars().collect();
    let expected = if lower_pattern.contains(&'*') {
        wildcard_match(&lower_pattern, &lower_name)
    } else {
        let mut contains = vec!['*'];
        contains.extend(&lower_pattern);
        contains.push('*');
        wildcard_match(&contains, &lower_name)
    };
    assert_eq!(
        name_matches(pattern, name),
        expected,
        "{pattern:?} against {name:?}"
    );
    let starless = name.replace('*', "");
    assert!(
        name_matches(&starless, &starless),
        "{starless:?} does not match itself"
    );
});
