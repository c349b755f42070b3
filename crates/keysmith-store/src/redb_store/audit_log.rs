//! The audit trail: rows appended in the transaction of the change they record, the time
//! index, pruning and search.

use super::*;

impl AuditLog for RedbStore {
    fn append_audit(&self, records: &[keysmith_model::AuditRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let records = records.to_vec();
        self.writer.submit(move |txn| append_in(txn, &records))
    }

    fn prune_audit(
        &self,
        older_than: Option<i64>,
        max_records: Option<u64>,
    ) -> Result<u64, StoreError> {
        crate::audit::prune_in_chunks(
            older_than,
            max_records,
            |before, chunk| self.write(|txn| prune_oldest_in(txn, Some(before), chunk)),
            |max, chunk| {
                self.write(|txn| {
                    let len = txn.open_table(AUDIT_LOG)?.len()?;
                    let excess = usize::try_from(len.saturating_sub(max)).unwrap_or(usize::MAX);
                    prune_oldest_in(txn, None, excess.min(chunk))
                })
            },
        )
    }

    fn search_audit(
        &self,
        query: &keysmith_model::AuditQuery,
    ) -> Result<(Vec<keysmith_model::AuditRecord>, u64), StoreError> {
        let txn = self.read()?;
        let log = txn.open_table(AUDIT_LOG)?;
        let by_time = txn.open_table(AUDIT_BY_TIME)?;
        let from = (query.start.unwrap_or(i64::MIN), 0);
        let to = (query.end.unwrap_or(i64::MAX), u64::MAX);
        let mut page = Vec::new();
        if query.is_unfiltered() {
            // Every record matches: the total is the table's length, and only the page is read.
            for entry in by_time.iter()?.rev().skip(query.start_row) {
                if page.len() >= query.number_of_results {
                    break;
                }
                let ((_, seq), ()) = {
                    let (key, value) = entry?;
                    (key.value(), value.value())
                };
                page.push(audit_record_at(&log, seq)?);
            }
            return Ok((page, log.len()?));
        }
        let mut total = 0u64;
        if from > to {
            return Ok((page, total));
        }
        for entry in by_time.range(from..=to)?.rev() {
            let ((_, seq), _) = {
                let (key, value) = entry?;
                (key.value(), value.value())
            };
            let record = audit_record_at(&log, seq)?;
            if !query.matches(&record) {
                continue;
            }
            let index = usize::try_from(total).unwrap_or(usize::MAX);
            if index >= query.start_row && page.len() < query.number_of_results {
                page.push(record);
            }
            total += 1;
        }
        Ok((page, total))
    }

    fn audit_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<keysmith_model::AuditRecord>, StoreError> {
        let txn = self.read()?;
        let log = txn.open_table(AUDIT_LOG)?;
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        log.range(first..)?
            .take(limit)
            .map(|entry| decode_audit(entry?.1.value()))
            .collect()
    }
}

/// Appends audit records after the last one, with their sequence numbers, and indexes them by
/// time.
pub(super) fn append_in(
    txn: &WriteTransaction,
    records: &[keysmith_model::AuditRecord],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let mut log = txn.open_table(AUDIT_LOG)?;
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    let first = log.last()?.map_or(1, |(seq, _)| seq.value() + 1);
    for (seq, record) in (first..).zip(records) {
        let mut record = record.clone();
        record.id = seq;
        log.insert(seq, encode_audit(&record)?.as_slice())?;
        by_time.insert((record.at, seq), ())?;
    }
    Ok(())
}

/// Builds the audit time index unless it is in step with the log (one scan, at open, only for
/// files written by a build without it).
pub(super) fn ensure_audit_index(txn: &WriteTransaction) -> Result<(), StoreError> {
    let records = txn.open_table(AUDIT_LOG)?.len()?;
    if txn.open_table(AUDIT_BY_TIME)?.len()? == records {
        return Ok(());
    }
    txn.delete_table(AUDIT_BY_TIME)?;
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    for entry in txn.open_table(AUDIT_LOG)?.iter()? {
        let (seq, bytes) = entry?;
        let record = decode_audit(bytes.value())?;
        by_time.insert((record.at, seq.value()), ())?;
    }
    tracing::info!(records, "audit time index built");
    Ok(())
}

/// The audit record numbered `seq`, which the time index names.
pub(super) fn audit_record_at(
    log: &impl ReadableTable<u64, &'static [u8]>,
    seq: u64,
) -> Result<keysmith_model::AuditRecord, StoreError> {
    let Some(bytes) = log.get(seq)? else {
        return Err(StoreError::Corrupt(
            "audit time index names a missing record".into(),
        ));
    };
    decode_audit(bytes.value())
}

/// Deletes up to `limit` of the oldest audit records, those before `before` when given.
/// Returns how many.
pub(super) fn prune_oldest_in(
    txn: &WriteTransaction,
    before: Option<i64>,
    limit: usize,
) -> Result<usize, StoreError> {
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    let mut doomed = Vec::new();
    let range = match before {
        Some(before) => by_time.range(..(before, 0))?,
        None => by_time.range::<(i64, u64)>(..)?,
    };
    for entry in range.take(limit) {
        doomed.push(entry?.0.value());
    }
    let mut log = txn.open_table(AUDIT_LOG)?;
    for key in &doomed {
        by_time.remove(*key)?;
        log.remove(key.1)?;
    }
    Ok(doomed.len())
}
