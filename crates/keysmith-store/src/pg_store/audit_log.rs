//! The audit trail: rows appended in the transaction of the change they record, pruning by
//! age and count, and search newest first.

use postgres::types::ToSql;

use super::{PgStore, append_audit_in};
use crate::records::decode_audit;
use crate::{AuditLog, StoreError};

/// The most audit records one pruning transaction deletes (a large backlog takes several).
const PRUNE_CHUNK: i64 = 10_000;

impl AuditLog for PgStore {
    fn append_audit(&self, records: &[keysmith_model::AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(|txn| append_audit_in(txn, &mut records.to_vec()))
    }

    fn prune_audit(
        &self,
        older_than: Option<i64>,
        max_records: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(before) = older_than {
            loop {
                let n = self.write(|txn| {
                    Ok(txn.execute(
                        "DELETE FROM audit_log WHERE seq IN (
                            SELECT seq FROM audit_log WHERE at < $1 ORDER BY at, seq LIMIT $2)",
                        &[&before, &PRUNE_CHUNK],
                    )?)
                })?;
                deleted += n;
                if n < PRUNE_CHUNK.unsigned_abs() {
                    break;
                }
            }
        }
        if let Some(max) = max_records {
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            loop {
                let n = self.write(|txn| {
                    let len: i64 = txn.query_one("SELECT count(*) FROM audit_log", &[])?.get(0);
                    let excess = (len - max).clamp(0, PRUNE_CHUNK);
                    Ok(txn.execute(
                        "DELETE FROM audit_log WHERE seq IN (
                            SELECT seq FROM audit_log ORDER BY at, seq LIMIT $1)",
                        &[&excess],
                    )?)
                })?;
                deleted += n;
                if n < PRUNE_CHUNK.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    fn search_audit(
        &self,
        query: &keysmith_model::AuditQuery,
    ) -> Result<(Vec<keysmith_model::AuditRecord>, u64), StoreError> {
        let mut filters = Vec::new();
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        if let Some(action) = &query.action {
            params.push(Box::new(action.clone()));
            filters.push(format!("action = ${}", params.len()));
        }
        if let Some(text) = &query.text {
            params.push(Box::new(text.clone()));
            let n = params.len();
            filters.push(format!(
                "(strpos(actor, ${n}) > 0 OR strpos(target, ${n}) > 0)"
            ));
        }
        if let Some(start) = query.start {
            params.push(Box::new(start));
            filters.push(format!("at >= ${}", params.len()));
        }
        if let Some(end) = query.end {
            params.push(Box::new(end));
            filters.push(format!("at <= ${}", params.len()));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        let offset = i64::try_from(query.start_row).unwrap_or(i64::MAX);
        let limit = i64::try_from(query.number_of_results).unwrap_or(i64::MAX);
        let page_sql = format!(
            "SELECT seq, record FROM audit_log {filter} ORDER BY at DESC, seq DESC OFFSET ${} LIMIT ${}",
            params.len() + 1,
            params.len() + 2
        );
        let count_sql = format!("SELECT count(*) FROM audit_log {filter}");
        self.read(|txn| {
            let filter_params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p).collect();
            let mut page_params = filter_params.clone();
            page_params.push(&offset);
            page_params.push(&limit);
            let page = txn
                .query(page_sql.as_str(), &page_params)?
                .iter()
                .map(|row| decode_audit(row.get(1)))
                .collect::<Result<Vec<_>, _>>()?;
            let total: i64 = txn.query_one(count_sql.as_str(), &filter_params)?.get(0);
            Ok((page, u64::try_from(total).unwrap_or_default()))
        })
    }
}
