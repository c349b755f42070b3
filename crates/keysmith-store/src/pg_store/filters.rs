//! A search's `WHERE` clause with its parameters, and the page and total it selects.

use postgres::types::ToSql;
use postgres::{Row, Transaction};

use crate::StoreError;

/// Filter clauses joined by `AND`, their parameters numbered as they are added.
#[derive(Default)]
pub(super) struct Filters {
    clauses: Vec<String>,
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Filters {
    /// Adds `clause`, in which every `$` stands for the new parameter `value`.
    pub(super) fn add(&mut self, clause: &str, value: impl ToSql + Sync + 'static) {
        self.params.push(Box::new(value));
        self.clauses
            .push(clause.replace('$', &format!("${}", self.params.len())));
    }

    /// The rows `start_row..start_row + number_of_results` of `SELECT columns FROM table`
    /// under these filters in `order`, and how many rows the filters match, in `txn`. With a
    /// `count_bound` the count stops one row past it; then the total reads as the bound and is
    /// not exact (the third value).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn page(
        &self,
        txn: &mut Transaction<'_>,
        columns: &str,
        table: &str,
        order: &str,
        start_row: usize,
        number_of_results: usize,
        count_bound: Option<u64>,
    ) -> Result<(Vec<Row>, u64, bool), StoreError> {
        let filter = if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        };
        let offset = i64::try_from(start_row).unwrap_or(i64::MAX);
        let limit = i64::try_from(number_of_results).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn ToSql + Sync)> = self.params.iter().map(|p| &**p).collect();
        // Without a filter the total is the table's size, counted exactly (as the redb
        // engine reads it from the table's length).
        let count_bound = count_bound.filter(|_| !self.clauses.is_empty());
        let count_sql = match count_bound {
            None => format!("SELECT count(*) FROM {table} {filter}"),
            Some(bound) => format!(
                "SELECT count(*) FROM (SELECT 1 FROM {table} {filter} LIMIT {}) counted",
                bound.saturating_add(1).min(i64::MAX as u64)
            ),
        };
        let total: i64 = txn.query_one(&count_sql, &params)?.get(0);
        let total = u64::try_from(total).unwrap_or_default();
        let (total, exact) = match count_bound {
            Some(bound) if total > bound => (bound, false),
            _ => (total, true),
        };
        let page_sql = format!(
            "SELECT {columns} FROM {table} {filter} ORDER BY {order} OFFSET ${} LIMIT ${}",
            params.len() + 1,
            params.len() + 2
        );
        params.push(&offset);
        params.push(&limit);
        let rows = txn.query(&page_sql, &params)?;
        Ok((rows, total, exact))
    }
}
