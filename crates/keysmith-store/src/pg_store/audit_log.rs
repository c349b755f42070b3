//! The audit trail: rows appended in the transaction of the change they record, pruning by
//! age and count, and search newest first.

use super::filters::Filters;
use super::{PgStore, append_audit_in};
use crate::records::decode_audit;
use crate::{AuditLog, StoreError};

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
        let rows = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        crate::audit::prune_in_chunks(
            older_than,
            max_records,
            |before, chunk| {
                let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
                self.write(|txn| {
                    Ok(rows(txn.execute(
                        "DELETE FROM audit_log WHERE seq IN (
                            SELECT seq FROM audit_log WHERE at < $1 ORDER BY at, seq LIMIT $2)",
                        &[&before, &chunk],
                    )?))
                })
            },
            |max, chunk| {
                let max = i64::try_from(max).unwrap_or(i64::MAX);
                let chunk = i64::try_from(chunk).unwrap_or(i64::MAX);
                self.write(|txn| {
                    let len: i64 = txn.query_one("SELECT count(*) FROM audit_log", &[])?.get(0);
                    let excess = (len - max).clamp(0, chunk);
                    Ok(rows(txn.execute(
                        "DELETE FROM audit_log WHERE seq IN (
                            SELECT seq FROM audit_log ORDER BY at, seq LIMIT $1)",
                        &[&excess],
                    )?))
                })
            },
        )
    }

    fn search_audit(
        &self,
        query: &keysmith_model::AuditQuery,
    ) -> Result<(Vec<keysmith_model::AuditRecord>, u64), StoreError> {
        let mut filters = Filters::default();
        if let Some(action) = &query.action {
            filters.add("action = $", action.clone());
        }
        if let Some(text) = &query.text {
            filters.add(
                "(strpos(actor, $) > 0 OR strpos(target, $) > 0)",
                text.clone(),
            );
        }
        if let Some(start) = query.start {
            filters.add("at >= $", start);
        }
        if let Some(end) = query.end {
            filters.add("at <= $", end);
        }
        self.read(|txn| {
            let (rows, total, _) = filters.page(
                txn,
                "record",
                "audit_log",
                "at DESC, seq DESC",
                query.start_row,
                query.number_of_results,
                None,
            )?;
            let page = rows
                .iter()
                .map(|row| decode_audit(row.get(0)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((page, total))
        })
    }

    fn audit_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<keysmith_model::AuditRecord>, StoreError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|txn| {
            txn.query(
                "SELECT record FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )?
            .iter()
            .map(|row| decode_audit(row.get(0)))
            .collect()
        })
    }
}
