//! Key search: FusionAuth's search criteria checked and turned into the store's paged query.

use keysmith_model::search::{DEFAULT_NUMBER_OF_RESULTS, SearchQuery, SortField};
use keysmith_model::validate;
use keysmith_model::{Errors, Reason};
use keysmith_store::SearchPage;

use crate::{Keys, ServiceError};

/// Search criteria, as FusionAuth's `search` object carries them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchRequest<'a> {
    /// Name pattern.
    pub name: Option<&'a str>,
    /// Key type.
    pub key_type: Option<&'a str>,
    /// Algorithm.
    pub algorithm: Option<&'a str>,
    /// Issuer, matched exactly (a Keysmith extension: FusionAuth's search has no issuer).
    pub issuer: Option<&'a str>,
    /// Page size (default 25).
    pub number_of_results: Option<i64>,
    /// Offset (default 0).
    pub start_row: Option<i64>,
    /// `field [ASC|DESC]` (default `name ASC`).
    pub order_by: Option<&'a str>,
    /// Count every match for the total (FusionAuth's `accurateTotal`); otherwise a filtered
    /// total stops at [`TOTAL_COUNT_BOUND`](keysmith_model::search::TOTAL_COUNT_BOUND).
    pub accurate_total: bool,
}

impl Keys<'_> {
    /// One page of matching keys and the total.
    pub fn search(&self, request: &SearchRequest<'_>) -> Result<SearchPage, ServiceError> {
        let query = self.search_query(request)?;
        Ok(self.core.store().search(&query)?)
    }

    fn search_query(&self, request: &SearchRequest<'_>) -> Result<SearchQuery, Errors> {
        let mut errors = Errors::new();
        let algorithm =
            validate::algorithm_field(&mut errors, "search.algorithm", request.algorithm, false);
        let key_type = validate::key_type_field(&mut errors, "search.type", request.key_type);
        // Trimmed as a generated key's issuer is trimmed when it is stored.
        let issuer = validate::optional_text(
            &mut errors,
            "search.issuer",
            request.issuer,
            keysmith_model::MAX_ISSUER_LENGTH,
        );
        let max = self.core.config().max_search_results;
        let number_of_results = match request.number_of_results {
            None => DEFAULT_NUMBER_OF_RESULTS.min(max),
            Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => {
                usize::try_from(n).unwrap_or(max)
            }
            Some(_) => {
                errors.add_field(
                    "search.numberOfResults",
                    Reason::Invalid,
                    format!("numberOfResults must be between 1 and {max}."),
                );
                0
            }
        };
        let start_row = match request.start_row {
            None => 0,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                errors.add_field(
                    "search.startRow",
                    Reason::Invalid,
                    "startRow cannot be negative.",
                );
                0
            }
        };
        let (order_by, descending) = match request.order_by.map(str::trim).filter(|s| !s.is_empty())
        {
            None => (SortField::Name, false),
            Some(text) => {
                let mut words = text.split_whitespace();
                let field = words.next().and_then(SortField::parse);
                let direction = match words.next().map(str::to_ascii_uppercase).as_deref() {
                    None | Some("ASC") => Some(false),
                    Some("DESC") => Some(true),
                    Some(_) => None,
                };
                match (field, direction, words.next()) {
                    (Some(field), Some(descending), None) => (field, descending),
                    _ => {
                        errors.add_field(
                            "search.orderBy",
                            Reason::Invalid,
                            "orderBy is a field (algorithm, expiration, id, insertInstant, name, type) optionally followed by ASC or DESC.",
                        );
                        (SortField::Name, false)
                    }
                }
            }
        };
        let name = request
            .name
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        errors.into_result(SearchQuery {
            name,
            key_type,
            algorithm,
            issuer,
            order_by,
            descending,
            start_row,
            number_of_results,
            accurate_total: request.accurate_total,
        })
    }
}
