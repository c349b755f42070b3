//! Search totals kept between requests, valid for exactly the committed state they were counted
//! in.
//!
//! A filtered search must count every match for its `total` (111,111 index entries for a
//! one-character name prefix in a million keys, about 20 ms), while its page needs only the
//! entries up to `startRow + numberOfResults`. Paging through one result set repeats the same
//! count. So a count is kept, keyed by the query's filters, with the commit generation of the
//! read transaction it was counted in, and a later search of the same filters in the same
//! generation stops at the end of its page.
//!
//! Invariants:
//! - Every write transaction's commit runs inside [`CommitGeneration::commit`], which marks it in
//!   progress before the commit and counts it as completed after.
//! - A read transaction has a generation only if no commit was in progress or completed while
//!   it was begun ([`CommitGeneration::snapshot`]); its snapshot is then exactly the state
//!   after that many commits. A total is kept and used only under such a generation, so a total
//!   is never applied to a snapshot other than the one it was counted in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use keysmith_model::search::SearchQuery;

/// Commits in progress and completed, for [`Totals`].
#[derive(Debug, Default)]
pub(super) struct CommitGeneration {
    in_progress: AtomicU64,
    completed: AtomicU64,
}

impl CommitGeneration {
    /// Runs `commit` (a write transaction's commit) marked as in progress.
    pub(super) fn commit<T>(&self, commit: impl FnOnce() -> T) -> T {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        let result = commit();
        // Completed before no longer in progress: a reader that sees nothing in progress after
        // this commit also sees it completed.
        self.completed.fetch_add(1, Ordering::SeqCst);
        self.in_progress.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Runs `begin` (a read transaction's begin) and returns the generation its snapshot
    /// shows, or `None` when a commit may have become visible meanwhile.
    pub(super) fn snapshot<T>(&self, begin: impl FnOnce() -> T) -> (T, Option<u64>) {
        let completed = self.completed.load(Ordering::SeqCst);
        let idle_before = self.in_progress.load(Ordering::SeqCst) == 0;
        let txn = begin();
        let idle_after = self.in_progress.load(Ordering::SeqCst) == 0;
        let unchanged = self.completed.load(Ordering::SeqCst) == completed;
        let generation = (idle_before && idle_after && unchanged).then_some(completed);
        (txn, generation)
    }
}

/// Most filter combinations remembered; beyond it the remembered totals are dropped and
/// counted again (a few bytes each: this bounds memory, not speed).
const MAX_REMEMBERED: usize = 256;

/// Totals counted per query filters, each with its generation.
#[derive(Debug, Default)]
pub(super) struct Totals {
    counted: Mutex<HashMap<FilterKey, (u64, Counted)>>,
}

/// What a search counted for its filters: every match, or only past its bound (a search
/// without `accurateTotal` stops one match past [`SearchQuery::count_bound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counted {
    /// Every match: the total.
    Exact(u64),
    /// At least this many matches (more than the bound of the search that counted them).
    AtLeast(u64),
}

/// The filters of a query (a total does not depend on order or paging).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct FilterKey {
    name: Option<String>,
    key_type: Option<&'static str>,
    algorithm: Option<&'static str>,
    issuer: Option<String>,
}

impl FilterKey {
    pub(super) fn of(query: &SearchQuery) -> Self {
        Self {
            name: query.name.clone(),
            key_type: query.key_type.map(|t| t.as_str()),
            algorithm: query.algorithm.map(|a| a.as_str()),
            issuer: query.issuer.clone(),
        }
    }
}

impl Totals {
    /// What was counted for `filters` in `generation` that answers a search whose count stops
    /// past `bound` (`None`: it counts every match): the exact total, or a count past `bound`
    /// (the search then answers the bound, as if it had counted that far itself).
    pub(super) fn get(
        &self,
        filters: &FilterKey,
        generation: u64,
        bound: Option<u64>,
    ) -> Option<u64> {
        let counted = self.counted.lock().ok()?;
        let &(at, total) = counted.get(filters)?;
        if at != generation {
            return None;
        }
        match total {
            Counted::Exact(total) => Some(total),
            Counted::AtLeast(seen) => bound.is_some_and(|b| seen > b).then_some(seen),
        }
    }

    /// Remembers what was counted for `filters` in `generation` (an exact total is never
    /// replaced by a lower bound of the same generation).
    pub(super) fn put(&self, filters: FilterKey, generation: u64, total: Counted) {
        let Ok(mut counted) = self.counted.lock() else {
            return;
        };
        if counted.len() >= MAX_REMEMBERED && !counted.contains_key(&filters) {
            counted.clear();
        }
        if let (Counted::AtLeast(_), Some(&(at, Counted::Exact(_)))) =
            (total, counted.get(&filters))
            && at == generation
        {
            return;
        }
        counted.insert(filters, (generation, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_begun_while_a_commit_runs_has_no_generation() {
        let generation = CommitGeneration::default();
        let ((), quiet) = generation.snapshot(|| ());
        assert_eq!(quiet, Some(0));
        let ((), during) = generation.commit(|| generation.snapshot(|| ()));
        assert_eq!(during, None);
        let ((), across) = generation.snapshot(|| generation.commit(|| ()));
        assert_eq!(
            across, None,
            "a commit completed while the snapshot was begun"
        );
        let ((), after) = generation.snapshot(|| ());
        assert_eq!(after, Some(2));
    }

    #[test]
    fn a_total_is_only_used_in_the_generation_it_was_counted_in() {
        let totals = Totals::default();
        let query = |name: &str| SearchQuery {
            name: Some(name.into()),
            ..SearchQuery::default()
        };
        totals.put(FilterKey::of(&query("s #7*")), 3, Counted::Exact(111));
        assert_eq!(
            totals.get(&FilterKey::of(&query("s #7*")), 3, None),
            Some(111)
        );
        assert_eq!(
            totals.get(&FilterKey::of(&query("s #7*")), 3, Some(10)),
            Some(111)
        );
        assert_eq!(totals.get(&FilterKey::of(&query("s #7*")), 4, None), None);
        assert_eq!(totals.get(&FilterKey::of(&query("s #8*")), 3, None), None);
        for n in 0..MAX_REMEMBERED {
            totals.put(
                FilterKey::of(&query(&format!("n{n}"))),
                3,
                Counted::Exact(1),
            );
        }
        assert!(totals.counted.lock().unwrap().len() <= MAX_REMEMBERED);
    }

    #[test]
    fn a_count_stopped_at_its_bound_answers_only_searches_bounded_below_it() {
        let totals = Totals::default();
        let filters = || {
            FilterKey::of(&SearchQuery {
                name: Some("s #7*".into()),
                ..SearchQuery::default()
            })
        };
        totals.put(filters(), 3, Counted::AtLeast(10_001));
        assert_eq!(totals.get(&filters(), 3, Some(10_000)), Some(10_001));
        assert_eq!(
            totals.get(&filters(), 3, Some(20_000)),
            None,
            "a deeper page counts further"
        );
        assert_eq!(
            totals.get(&filters(), 3, None),
            None,
            "accurateTotal counts every match"
        );
        assert_eq!(totals.get(&filters(), 4, Some(10_000)), None);
        totals.put(filters(), 3, Counted::Exact(11_111));
        totals.put(filters(), 3, Counted::AtLeast(10_001));
        assert_eq!(
            totals.get(&filters(), 3, None),
            Some(11_111),
            "the exact total stays"
        );
    }
}
