//! Keys: the record, its indexes (name, kid, insertion order, kind), the census kept in the
//! same transaction, restorable deletion, and paged search.

use super::*;

/// A new key's change for the writer: its record encoded and its secret sealed before the
/// transaction, so that a re-run only writes.
struct InsertChange {
    key: Key,
    json: Vec<u8>,
    secret: Option<Vec<u8>>,
    sealed_under: Vec<u8>,
}

impl InsertChange {
    fn of(store: &RedbStore, record: &StoredKey) -> Result<Self, StoreError> {
        Ok(Self {
            key: record.key.clone(),
            json: encode_key(&record.key)?,
            secret: store.stored_secret(record)?,
            sealed_under: store.sealer.sealing_key_id(),
        })
    }

    fn apply(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        insert_in(
            txn,
            &self.key,
            &self.json,
            self.secret.as_deref(),
            &self.sealed_under,
        )
    }
}

/// A key insert queued for the writer with its caller's audit context (taken on the caller's
/// thread) and reply. The writer applies inserts queued next to each other as one run.
pub(super) struct QueuedInsert {
    change: InsertChange,
    context: Option<crate::AuditContext>,
    /// The audit rows written with the key, kept until the commit.
    rows: Option<Vec<keysmith_model::AuditRecord>>,
    reply: writer::Reply<Vec<keysmith_model::AuditRecord>>,
}

impl QueuedInsert {
    fn audit_rows(&self) -> Vec<keysmith_model::AuditRecord> {
        crate::audit::audit_rows(self.context.as_ref(), vec![self.change.key.id.to_string()])
    }

    /// Applies inserts in queue order with each table opened once for all of them: the same
    /// records, indexes, census and audit rows (in the same order) as applying each alone.
    pub(super) fn apply_run(
        txn: &WriteTransaction,
        run: &mut [&mut QueuedInsert],
    ) -> Result<(), StoreError> {
        let Some(first) = run.first() else {
            return Ok(());
        };
        let sealed_under = first.change.sealed_under.clone();
        if run.iter().any(|q| q.change.sealed_under != sealed_under) {
            // Sealed under different master keys (a rotation between them): one by one.
            for insert in run.iter_mut() {
                writer::Queued::apply(&mut **insert, txn)?;
            }
            return Ok(());
        }
        insert_all_in(
            txn,
            run.iter().map(|q| {
                let c = &q.change;
                (&c.key, c.json.as_slice(), c.secret.as_deref())
            }),
            &sealed_under,
        )?;
        let rows: Vec<Vec<keysmith_model::AuditRecord>> =
            run.iter().map(|q| q.audit_rows()).collect();
        append_in(txn, &rows.concat())?;
        for (insert, rows) in run.iter_mut().zip(rows) {
            insert.rows = Some(rows);
        }
        Ok(())
    }
}

impl writer::Queued for QueuedInsert {
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreError> {
        self.change.apply(txn)?;
        let rows = self.audit_rows();
        append_in(txn, &rows)?;
        self.rows = Some(rows);
        Ok(())
    }

    fn answer(self: Box<Self>, result: Result<(), StoreError>) {
        let QueuedInsert { rows, reply, .. } = *self;
        reply(result.and_then(|()| {
            rows.ok_or_else(|| StoreError::Corrupt("a committed insert kept no audit rows".into()))
        }));
    }

    fn as_key_insert(&mut self) -> Option<&mut QueuedInsert> {
        Some(self)
    }
}

impl KeyRecords for RedbStore {
    fn insert(&self, record: &StoredKey) -> Result<(), StoreError> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.insert_then(
            record,
            Box::new(move |committed| {
                // The caller may be gone (its thread unwound); nothing waits for the answer then.
                let _ = reply.send(committed);
            }),
        );
        let ((), rows) = answer.recv().map_err(|_| writer::stopped())??.log_audit();
        crate::audit::committed(rows);
        Ok(())
    }

    fn insert_then(&self, record: &StoredKey, on_commit: crate::OnCommit<()>) {
        match InsertChange::of(self, record) {
            Ok(change) => {
                let reply = self.writer.counted(Box::new(
                    move |answer: Result<Vec<keysmith_model::AuditRecord>, StoreError>| {
                        on_commit(answer.map(|rows| crate::Committed::with_audit((), rows)));
                    },
                ));
                self.writer.enqueue(Box::new(QueuedInsert {
                    change,
                    context: crate::audit::current(),
                    rows: None,
                    reply,
                }));
            }
            Err(err) => on_commit(Err(err)),
        }
    }

    fn insert_many(&self, records: &[StoredKey]) -> Result<(), StoreError> {
        let prepared = records
            .iter()
            .map(|record| {
                Ok((
                    record.key.clone(),
                    encode_key(&record.key)?,
                    self.stored_secret(record)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let targets: Vec<String> = records.iter().map(|r| r.key.id.to_string()).collect();
        let sealed_under = self.sealer.sealing_key_id();
        self.write_audited(
            move |()| targets.clone(),
            move |txn| {
                insert_all_in(
                    txn,
                    prepared
                        .iter()
                        .map(|(key, record, secret)| (key, record.as_slice(), secret.as_deref())),
                    &sealed_under,
                )
            },
        )
    }

    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        get_in(&self.read()?, &*self.sealer, raw(id))
    }

    fn key_record(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        Ok(keys
            .get(raw(id))?
            .map(|bytes| KeyRecord::new(bytes.value().to_vec())))
    }

    fn id_by_kid(&self, kid: &str) -> Result<Option<KeyId>, StoreError> {
        let id = self
            .read()?
            .open_table(BY_KID)?
            .get(kid)?
            .map(|v| v.value());
        Ok(id.map(|id| KeyId(Uuid::from_u128(id))))
    }

    fn contains(&self, id: &KeyId) -> Result<bool, StoreError> {
        Ok(self.read()?.open_table(KEYS)?.get(raw(id))?.is_some())
    }

    fn id_by_name(&self, name: &str) -> Result<Option<KeyId>, StoreError> {
        let id = id_named(&self.read()?.open_table(BY_NAME)?, name)?;
        Ok(id.map(|id| KeyId(Uuid::from_u128(id))))
    }

    fn rename(&self, id: &KeyId, name: &str, now_millis: i64) -> Result<Option<Key>, StoreError> {
        let target = id.to_string();
        let id = raw(id);
        let name = name.to_owned();
        self.write_audited(changed(target), move |txn| {
            let mut keys = txn.open_table(KEYS)?;
            let Some(bytes) = keys.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(None);
            };
            let mut key = decode_key(&bytes)?;
            if key.name != name {
                let mut by_name = txn.open_table(BY_NAME)?;
                if id_named(&by_name, &name)?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::Name));
                }
                by_name.remove((lower(&key.name).as_str(), id))?;
                by_name.insert((lower(&name).as_str(), id), name.as_str())?;
                drop(by_name);
                index_kind(txn, &key, &lower(&key.name), false)?;
                index_kind(txn, &key, &lower(&name), true)?;
                key.name.clone_from(&name);
            }
            key.last_update_instant = now_millis;
            keys.insert(id, encode_key(&key)?.as_slice())?;
            Ok(Some(key))
        })
    }

    fn delete(&self, id: &KeyId) -> Result<bool, StoreError> {
        let id = *id;
        self.write_audited(if_true(id.to_string()), move |txn| {
            release_from_ring(txn, &id)?;
            delete_in(txn, raw(&id))
        })
    }

    fn delete_restorably(&self, id: &KeyId, purge_at: i64) -> Result<bool, StoreError> {
        let id = *id;
        self.write_audited(if_true(id.to_string()), move |txn| {
            let id = &id;
            let ring = release_from_ring(txn, id)?;
            let Some(key) = txn
                .open_table(KEYS)?
                .get(raw(id))?
                .map(|v| decode_key(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            let secret = txn
                .open_table(SECRETS)?
                .get(raw(id))?
                .map(|v| v.value().to_vec());
            let record = DeletedKey {
                key,
                purge_at,
                ring,
            };
            txn.open_table(DELETED_KEYS)?
                .insert(raw(id), encode_deleted(&record)?.as_slice())?;
            if let Some(secret) = secret {
                txn.open_table(DELETED_SECRETS)?
                    .insert(raw(id), secret.as_slice())?;
            }
            delete_in(txn, raw(id))
        })
    }

    fn restore(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        let id = *id;
        self.write_audited(changed(id.to_string()), move |txn| {
            let id = &id;
            let Some(bytes) = txn
                .open_table(DELETED_KEYS)?
                .remove(raw(id))?
                .map(|v| v.value().to_vec())
            else {
                return Ok(None);
            };
            let deleted = decode_deleted(&bytes)?;
            let secret = txn
                .open_table(DELETED_SECRETS)?
                .remove(raw(id))?
                .map(|v| v.value().to_vec());
            // The secret comes back as it was sealed: its master key is listed already.
            insert_in(
                txn,
                &deleted.key,
                &encode_key(&deleted.key)?,
                secret.as_deref(),
                &[],
            )?;
            if let Some(place) = deleted.ring {
                return_to_ring(txn, place)?;
            }
            Ok(Some(deleted.key))
        })
    }

    fn deleted_keys(&self) -> Result<Vec<(Key, i64)>, StoreError> {
        let txn = self.read()?;
        let mut out = Vec::new();
        for entry in txn.open_table(DELETED_KEYS)?.iter()? {
            let (_, bytes) = entry?;
            let deleted = decode_deleted(bytes.value())?;
            out.push((deleted.key, deleted.purge_at));
        }
        out.sort_by_key(|(_, purge_at)| *purge_at);
        Ok(out)
    }

    fn purge_deleted(&self, now_millis: i64) -> Result<Vec<KeyId>, StoreError> {
        let purged = |ids: &Vec<KeyId>| ids.iter().map(ToString::to_string).collect();
        self.write_audited_alone(purged, |txn| {
            let mut deleted = txn.open_table(DELETED_KEYS)?;
            let mut due = Vec::new();
            for entry in deleted.iter()? {
                let (id, bytes) = entry?;
                let record = decode_deleted(bytes.value())?;
                if record.purge_at <= now_millis {
                    due.push(id.value());
                }
            }
            let mut secrets = txn.open_table(DELETED_SECRETS)?;
            for id in &due {
                deleted.remove(*id)?;
                secrets.remove(*id)?;
            }
            Ok(due
                .into_iter()
                .map(|id| KeyId(Uuid::from_u128(id)))
                .collect())
        })
    }

    fn list(&self) -> Result<Vec<Key>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        let mut out = Vec::with_capacity(usize::try_from(keys.len()?).unwrap_or(0));
        for entry in txn.open_table(BY_INSERTION)?.iter()? {
            let (_, id) = entry?;
            if let Some(bytes) = keys.get(id.value())? {
                out.push(decode_key(bytes.value())?);
            }
        }
        Ok(out)
    }

    fn keys_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Key)>, StoreError> {
        let txn = self.read()?;
        let keys = txn.open_table(KEYS)?;
        let order = txn.open_table(BY_INSERTION)?;
        let range = match after {
            None => order.range(0..)?,
            Some(last) => match last.checked_add(1) {
                Some(next) => order.range(next..)?,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in range.take(limit) {
            let (seq, id) = entry?;
            if let Some(bytes) = keys.get(id.value())? {
                out.push((seq.value(), decode_key(bytes.value())?));
            }
        }
        Ok(out)
    }

    fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read()?.open_table(KEYS)?.len()?)
    }

    fn keys_by_issuer(
        &self,
        issuer: &str,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(BY_ISSUER)?;
        let keys = txn.open_table(KEYS)?;
        let range = match after.map(|id| raw(&id).checked_add(1)) {
            None => index.range((issuer, 0u128)..=(issuer, u128::MAX))?,
            Some(Some(next)) => index.range((issuer, next)..=(issuer, u128::MAX))?,
            Some(None) => return Ok(Vec::new()),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for entry in range.take(limit) {
            let (_, id) = entry?.0.value();
            if let Some(bytes) = keys.get(id)? {
                out.push(decode_key(bytes.value())?);
            }
        }
        Ok(out)
    }

    fn census(&self, expiring_before: i64) -> Result<KeyCensus, StoreError> {
        let txn = self.read()?;
        let mut by_kind = Vec::new();
        for entry in txn.open_table(KEY_COUNTS)?.iter()? {
            let (kind, count) = entry?;
            let (key_type, algorithm) = kind.value().split_once('/').unwrap_or((kind.value(), ""));
            by_kind.push((key_type.to_owned(), algorithm.to_owned(), count.value()));
        }
        let mut expiring = 0;
        for entry in txn
            .open_table(BY_EXPIRATION)?
            .range(..(expiring_before, u128::MAX))?
        {
            entry?;
            expiring += 1;
        }
        Ok(KeyCensus { by_kind, expiring })
    }

    fn expiring_before(
        &self,
        before: i64,
        after: Option<(i64, KeyId)>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError> {
        let txn = self.read()?;
        let index = txn.open_table(BY_EXPIRATION)?;
        let keys = txn.open_table(KEYS)?;
        let after = after.map(|(at, id)| (at, raw(&id)));
        let start = after.unwrap_or((i64::MIN, 0));
        let mut found = Vec::new();
        if start >= (before, 0) {
            return Ok(found);
        }
        for entry in index.range(start..(before, 0))? {
            let position = entry?.0.value();
            if Some(position) == after {
                continue;
            }
            if found.len() >= limit {
                break;
            }
            if let Some(bytes) = keys.get(position.1)? {
                found.push(decode_key(bytes.value())?);
            }
        }
        Ok(found)
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        let (txn, generation) = self.commits.generation.snapshot(|| self.read());
        let txn = txn?;
        // A total this snapshot's generation already counted for these filters (`totals`).
        let filters = super::totals::FilterKey::of(query);
        // Without `accurateTotal` a count stops one match past its bound (which is never
        // before the end of the page), and the total reads as the bound.
        let bound = query.count_bound();
        // A search by issuer alone reads its total from the issuer's count.
        let issuer_keys = match query.issuer.as_deref() {
            Some(issuer) => Some(issuer_count(&txn, issuer)?),
            None => None,
        };
        let no_filter_but_issuer =
            query.name.is_none() && query.key_type.is_none() && query.algorithm.is_none();
        let known = generation
            .and_then(|g| self.search_totals.get(&filters, g, bound))
            .or(issuer_keys.filter(|_| no_filter_but_issuer));
        // Whether `pager.seen` ends up as the count of every match (to keep for later pages).
        let mut counted_every_match = true;
        let keys = txn.open_table(KEYS)?;
        let load = |id: u128| -> Result<Option<Key>, StoreError> {
            keys.get(id)?
                .map(|bytes| decode_key(bytes.value()))
                .transpose()
        };
        let mut pager = Pager {
            query,
            seen: 0,
            keys: Vec::new(),
        };
        // Indexed orders stream in order, and a record is decoded only when the index cannot
        // answer a filter or the key is on the page; the others keep a bounded heap of the
        // page's end.
        // Without any filter the total is the number of keys, so a stream stops at the end of
        // the page instead of counting the rest.
        let unfiltered = no_filter_but_issuer && query.issuer.is_none();
        // With the total known another way, a stream stops at the end of the page.
        let total_known = unfiltered || known.is_some();
        let past_bound = |pager: &Pager<'_>| bound.is_some_and(|b| pager.seen > b);
        let mut stopped_at_bound = false;
        macro_rules! stream {
            ($iter:expr, $visit:expr) => {{
                let iter = $iter;
                let full =
                    |pager: &Pager<'_>| total_known && pager.keys.len() >= query.number_of_results;
                if query.descending {
                    for entry in iter.rev() {
                        if full(&pager) {
                            break;
                        }
                        $visit(entry?)?;
                        if past_bound(&pager) {
                            stopped_at_bound = true;
                            break;
                        }
                    }
                } else {
                    for entry in iter {
                        if full(&pager) {
                            break;
                        }
                        $visit(entry?)?;
                        if past_bound(&pager) {
                            stopped_at_bound = true;
                            break;
                        }
                    }
                }
                if unfiltered {
                    pager.seen = keys.len()?;
                } else if let Some(total) = known {
                    pager.seen = total;
                }
                counted_every_match = !total_known && !stopped_at_bound;
            }};
        }
        // Filters only a record answers (the name index answers the name pattern).
        let kind_filter = query.key_type.is_some() || query.algorithm.is_some();
        // An issuer read through another order's index is checked on the issuer index (an
        // entry of a few dozen bytes), not on the record.
        // The issuer index, opened only for a search by issuer.
        let issuers = match query.issuer.as_deref() {
            Some(issuer) => Some((issuer, txn.open_table(BY_ISSUER)?)),
            None => None,
        };
        let of_issuer = |id: u128| -> Result<bool, StoreError> {
            match &issuers {
                None => Ok(true),
                Some((issuer, index)) => Ok(index.get((*issuer, id))?.is_some()),
            }
        };
        // Which index an issuer filter reads: its own (decoding each of the issuer's keys), or,
        // in name or insertion order, that order's, each entry checked on the issuer index
        // (passing at most the other issuers' keys plus the matches it must read), whichever
        // reads fewer.
        let read_issuer_index = match issuer_keys {
            None => false,
            Some(count) if matches!(query.order_by, SortField::Name | SortField::InsertInstant) => {
                let page_end = query.start_row.saturating_add(query.number_of_results);
                let matches_read = match (known, bound) {
                    (Some(_), _) => Some(u64::try_from(page_end).unwrap_or(u64::MAX)),
                    (None, Some(bound)) => Some(bound.saturating_add(1)),
                    // Every match counted: the order's index would read every key.
                    (None, None) => None,
                };
                match matches_read {
                    None => true,
                    Some(reads) => keys.len()?.saturating_sub(count).saturating_add(reads) >= count,
                }
            }
            Some(_) => true,
        };
        let issuer_index = issuers.as_ref().filter(|_| read_issuer_index);
        match (query.order_by, issuer_index) {
            // The issuer index answers an issuer filter: that issuer's keys, in id order, are
            // the only candidates, each record read to check the other filters. In id order
            // they stream; in any other order the matches are sorted, so the work is the
            // issuer's keys, not the store's. An issuer of most of the store in name or
            // insertion order is read through that order's index instead (below), each entry
            // checked on the issuer index.
            (order, Some((issuer, index))) => {
                let range = index.range((*issuer, 0u128)..=(*issuer, u128::MAX))?;
                if order == SortField::Id {
                    stream!(range, |entry: (
                        redb::AccessGuard<(&str, u128)>,
                        redb::AccessGuard<()>
                    )| pager
                        .consider(true, || load(entry.0.value().1)))
                } else {
                    let insertion_of = txn.open_table(INSERTION_OF)?;
                    let candidates = range.filter_map(|entry| match entry {
                        Ok(entry) => load(entry.0.value().1).transpose(),
                        Err(err) => Some(Err(StoreError::from(err))),
                    });
                    sorted_page(
                        &mut pager,
                        candidates,
                        |key| {
                            let mut sort = sort_key(order, key, query.descending);
                            if order == SortField::InsertInstant {
                                let seq = insertion_of.get(raw(&key.id))?.map_or(0, |v| v.value());
                                sort.0 = format!("{seq:020}");
                            }
                            Ok(sort)
                        },
                        load,
                    )?;
                }
            }
            (SortField::Name, None) if kind_filter => {
                // The kind index answers the type or algorithm (a type: the merged ranges of
                // its algorithms); the name pattern is checked on its entries as below. A type
                // and an algorithm of another type match nothing.
                let kinds: Vec<String> = match (query.key_type, query.algorithm) {
                    (Some(t), Some(a)) if a.key_type() != t => Vec::new(),
                    (_, Some(a)) => vec![kind_tag(a)],
                    (Some(t), None) => Algorithm::ALL
                        .into_iter()
                        .filter(|a| a.key_type() == t)
                        .map(kind_tag)
                        .collect(),
                    (None, None) => Vec::new(),
                };
                if !kinds.is_empty() {
                    let table = txn.open_table(BY_KIND_NAME)?;
                    let pattern = query.name.as_deref().map(lower);
                    let (start, check) = name_scan(pattern.as_deref());
                    let end = successor(&start);
                    let mut streams = Vec::with_capacity(kinds.len());
                    for kind in &kinds {
                        let from = (kind.as_str(), start.as_str(), 0u128);
                        let range = match &end {
                            Some(end) => table.range(from..(kind.as_str(), end.as_str(), 0u128))?,
                            // Past every name of exactly this kind ("EC/ES256\0" sorts after them).
                            None => table.range(from..(format!("{kind}\0").as_str(), "", 0u128))?,
                        };
                        let entries: Box<dyn Iterator<Item = _>> = if query.descending {
                            Box::new(range.rev())
                        } else {
                            Box::new(range)
                        };
                        // The pattern is checked on the entry, so only a match is copied out.
                        streams.push(entries.filter_map(move |entry| {
                            let (position, _) = match entry {
                                Ok(entry) => entry,
                                Err(err) => return Some(Err(StoreError::from(err))),
                            };
                            let (_, name, id) = position.value();
                            if check.is_some_and(|p| {
                                !keysmith_model::search::lowered_name_matches(p, name)
                            }) {
                                return None;
                            }
                            Some(Ok((name.to_owned(), id)))
                        }));
                    }
                    // Without a name pattern the total is the census's count of the kinds, so
                    // the scan stops at the end of the page.
                    let counted = match &pattern {
                        None if query.issuer.is_none() => Some(kinds_total(&txn, &kinds)?),
                        _ => known,
                    };
                    counted_every_match = counted.is_none();
                    for entry in merge_in_order(streams, query.descending) {
                        if counted.is_some() && pager.keys.len() >= query.number_of_results {
                            break;
                        }
                        let (_, id) = entry?;
                        if !of_issuer(id)? {
                            continue;
                        }
                        pager.consider(false, || load(id))?;
                        if counted.is_none() && past_bound(&pager) {
                            counted_every_match = false;
                            stopped_at_bound = true;
                            break;
                        }
                    }
                    if let Some(total) = counted {
                        pager.seen = total;
                    }
                }
            }
            (SortField::Name, None) => {
                let table = txn.open_table(BY_NAME)?;
                let pattern = query.name.as_deref().map(lower);
                // A wildcard pattern's literal start bounds the scan to the names that begin
                // with it; a pattern without one (leading `*`, or no `*`: "contains") scans the
                // whole index, still without decoding a record that does not match.
                let (start, check) = name_scan(pattern.as_deref());
                let end = successor(&start);
                let range = match &end {
                    Some(end) => table.range((start.as_str(), 0u128)..(end.as_str(), 0u128))?,
                    None => table.range((start.as_str(), 0u128)..)?,
                };
                stream!(range, |entry: (
                    redb::AccessGuard<(&str, u128)>,
                    redb::AccessGuard<&str>
                )| {
                    // The entry is decoded only to check a pattern or for the page.
                    if check.is_some_and(|p| {
                        !keysmith_model::search::lowered_name_matches(p, entry.0.value().0)
                    }) {
                        return Ok::<(), StoreError>(());
                    }
                    let id = entry.0.value().1;
                    if !of_issuer(id)? {
                        return Ok(());
                    }
                    pager.consider(kind_filter, || load(id))
                })
            }
            (SortField::InsertInstant, None) => {
                let table = txn.open_table(BY_INSERTION)?;
                let filtered = kind_filter || query.name.is_some();
                stream!(table.iter()?, |entry: (
                    redb::AccessGuard<u64>,
                    redb::AccessGuard<u128>
                )| {
                    let id = entry.1.value();
                    if !of_issuer(id)? {
                        return Ok::<(), StoreError>(());
                    }
                    pager.consider(filtered, || load(id))
                })
            }
            (SortField::Id, None) => {
                // Never with an issuer: the issuer index is in id order (above).
                let filtered = kind_filter || query.name.is_some();
                stream!(keys.iter()?, |entry: (
                    redb::AccessGuard<u128>,
                    redb::AccessGuard<&[u8]>
                )| pager
                    .consider(filtered, || decode_key(entry.1.value()).map(Some)))
            }
            (field, None) => {
                let candidates = keys.iter()?.map(|entry| decode_key(entry?.1.value()));
                sorted_page(
                    &mut pager,
                    candidates,
                    |key| Ok(sort_key(field, key, query.descending)),
                    load,
                )?;
            }
        }
        // A count kept for later pages: every match, or one past the bound (which answers
        // later searches with the same bound or a lower one).
        let counted = if counted_every_match {
            Some(super::totals::Counted::Exact(pager.seen))
        } else if stopped_at_bound {
            Some(super::totals::Counted::AtLeast(pager.seen))
        } else {
            None
        };
        if let Some(generation) = generation
            && let Some(counted) = counted
            && !unfiltered
        {
            self.search_totals.put(filters, generation, counted);
        }
        // A filtered total above the bound reads as the bound, however it was counted, so the
        // answer depends only on the query and the keys (and agrees with the other engine).
        let capped = !unfiltered && past_bound(&pager);
        if capped && let Some(bound) = bound {
            pager.seen = bound;
        }
        Ok(SearchPage {
            keys: pager.keys,
            total: pager.seen,
            exact: !capped,
        })
    }
}

pub(super) fn raw(id: &KeyId) -> u128 {
    id.0.as_u128()
}

pub(super) fn lower(name: &str) -> String {
    name.to_lowercase()
}

pub(super) fn get_in(
    txn: &ReadTransaction,
    sealer: &dyn SecretSealer,
    id: u128,
) -> Result<Option<StoredKey>, StoreError> {
    let keys = txn.open_table(KEYS)?;
    let Some(bytes) = keys.get(id)? else {
        return Ok(None);
    };
    let key = decode_key(bytes.value())?;
    let secrets = txn.open_table(SECRETS)?;
    let private = match secrets.get(id)? {
        Some(bytes) => Some(decode_secret(sealer, &key.id, bytes.value())?),
        None => None,
    };
    Ok(Some(StoredKey { key, private }))
}

/// Stores a key record; `secret` is its private half in stored (sealed) form.
pub(super) fn insert_in(
    txn: &WriteTransaction,
    key: &Key,
    record: &[u8],
    secret: Option<&[u8]>,
    sealed_under: &[u8],
) -> Result<(), StoreError> {
    insert_all_in(txn, std::iter::once((key, record, secret)), sealed_under)
}

/// Stores key records (record bytes, sealed private half) with their index entries and census,
/// opening every table once for all of them. A duplicate id, name or kid, with a stored key or
/// an earlier one of `records`, refuses with its error (the caller's transaction is then
/// abandoned: nothing is kept). `sealed_under` is the master key the secrets were just sealed
/// under, listed in `master_keys_in_use` in the same transaction (empty: listed already).
pub(super) fn insert_all_in<'k>(
    txn: &WriteTransaction,
    records: impl IntoIterator<Item = (&'k Key, &'k [u8], Option<&'k [u8]>)>,
    sealed_under: &[u8],
) -> Result<(), StoreError> {
    let mut keys = txn.open_table(KEYS)?;
    let mut by_name = txn.open_table(BY_NAME)?;
    let mut by_kid = txn.open_table(BY_KID)?;
    let mut by_insertion = txn.open_table(BY_INSERTION)?;
    let mut insertion_of = txn.open_table(INSERTION_OF)?;
    let mut by_kind_name = txn.open_table(BY_KIND_NAME)?;
    let mut secrets = txn.open_table(SECRETS)?;
    let mut by_expiration = txn.open_table(BY_EXPIRATION)?;
    let mut by_issuer = txn.open_table(BY_ISSUER)?;
    let mut meta = txn.open_table(META)?;
    let mut next_insertion = meta.get(META_NEXT_INSERTION)?.map_or(0, |v| v.value());
    let first_insertion = next_insertion;
    // The census, counted here and written once.
    let mut added_by_kind: std::collections::BTreeMap<String, u64> = Default::default();
    let mut added_by_issuer: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut sealed = false;
    for (key, record, secret) in records {
        let id = raw(&key.id);
        if keys.get(id)?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Id));
        }
        if id_named(&by_name, &key.name)?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Name));
        }
        if by_kid.get(key.kid.as_str())?.is_some() {
            return Err(StoreError::Duplicate(UniqueField::Kid));
        }
        let seq = next_insertion;
        next_insertion += 1;
        let name = lower(&key.name);
        let kind = kind_of(key);
        keys.insert(id, record)?;
        by_name.insert((name.as_str(), id), key.name.as_str())?;
        by_kid.insert(key.kid.as_str(), id)?;
        by_insertion.insert(seq, id)?;
        insertion_of.insert(id, seq)?;
        by_kind_name.insert((kind.as_str(), name.as_str(), id), ())?;
        if let Some(secret) = secret {
            secrets.insert(id, secret)?;
            sealed = true;
        }
        if let Some(expires) = key.expiration_instant {
            by_expiration.insert((expires, id), ())?;
        }
        if let Some(issuer) = &key.issuer {
            by_issuer.insert((issuer.as_str(), id), ())?;
            *added_by_issuer.entry(issuer.as_str()).or_default() += 1;
        }
        *added_by_kind.entry(kind).or_default() += 1;
    }
    if sealed && !sealed_under.is_empty() {
        txn.open_table(MASTER_KEYS_IN_USE)?
            .insert(sealed_under, ())?;
    }
    let added = next_insertion - first_insertion;
    meta.insert(META_NEXT_INSERTION, next_insertion)?;
    let census = meta.get(META_CENSUS_KEYS)?.map_or(0, |v| v.value());
    meta.insert(META_CENSUS_KEYS, census.saturating_add(added))?;
    let mut counts = txn.open_table(KEY_COUNTS)?;
    for (kind, added) in added_by_kind {
        adjust_count(&mut counts, &kind, Tally::Add(added))?;
    }
    let mut issuer_counts = txn.open_table(ISSUER_COUNTS)?;
    for (issuer, added) in added_by_issuer {
        adjust_count(&mut issuer_counts, issuer, Tally::Add(added))?;
    }
    Ok(())
}

/// A change to a count row: keys added or removed.
#[derive(Clone, Copy)]
enum Tally {
    Add(u64),
    Remove(u64),
}

/// Changes a count row (`key_counts`, `issuer_counts`). Invariant of both tables: a row that
/// reaches 0 is removed, so every row counts at least one live key.
fn adjust_count(
    table: &mut redb::Table<&'static str, u64>,
    row: &str,
    tally: Tally,
) -> Result<(), StoreError> {
    let now = table.get(row)?.map_or(0, |v| v.value());
    let next = match tally {
        Tally::Add(n) => now.saturating_add(n),
        Tally::Remove(n) => now.saturating_sub(n),
    };
    if next == 0 {
        table.remove(row)?;
    } else {
        table.insert(row, next)?;
    }
    Ok(())
}

pub(super) fn kind_of(key: &Key) -> String {
    format!("{}/{}", key.key_type.as_str(), key.algorithm.as_str())
}

/// Takes a removed key out of the census (KEY_COUNTS, ISSUER_COUNTS, BY_EXPIRATION,
/// META_CENSUS_KEYS); `insert_all_in` adds keys to it.
fn uncount_key(txn: &WriteTransaction, key: &Key) -> Result<(), StoreError> {
    adjust_count(
        &mut txn.open_table(KEY_COUNTS)?,
        &kind_of(key),
        Tally::Remove(1),
    )?;
    if let Some(issuer) = &key.issuer {
        adjust_count(
            &mut txn.open_table(ISSUER_COUNTS)?,
            issuer,
            Tally::Remove(1),
        )?;
    }
    if let Some(expires) = key.expiration_instant {
        txn.open_table(BY_EXPIRATION)?
            .remove((expires, raw(&key.id)))?;
    }
    let mut meta = txn.open_table(META)?;
    let total = meta.get(META_CENSUS_KEYS)?.map_or(0, |v| v.value());
    meta.insert(META_CENSUS_KEYS, total.saturating_sub(1))?;
    Ok(())
}

/// Adds or removes a key's entry in `keys_by_kind_and_name` under `lower_name`.
fn index_kind(
    txn: &WriteTransaction,
    key: &Key,
    lower_name: &str,
    added: bool,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(BY_KIND_NAME)?;
    let kind = kind_of(key);
    let entry = (kind.as_str(), lower_name, raw(&key.id));
    if added {
        table.insert(entry, ())?;
    } else {
        table.remove(entry)?;
    }
    Ok(())
}

/// Builds `keys_by_kind_and_name` from KEYS unless it holds its one entry per key already
/// (one scan, at open, only for files written without it or with a type entry per key too, as
/// schema 4 kept; redb keeps each table's length, so the check reads no entry).
pub(super) fn ensure_kind_index(txn: &WriteTransaction) -> Result<(), StoreError> {
    let live = txn.open_table(KEYS)?.len()?;
    if txn.open_table(BY_KIND_NAME)?.len()? == live {
        return Ok(());
    }
    txn.delete_table(BY_KIND_NAME)?;
    let mut index = txn.open_table(BY_KIND_NAME)?;
    for entry in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = entry?;
        let key = decode_key(bytes.value())?;
        let kind = kind_of(&key);
        index.insert((kind.as_str(), lower(&key.name).as_str(), id.value()), ())?;
    }
    tracing::info!(keys = live, "key kind index built");
    Ok(())
}

/// Builds the name index from KEYS (the schema 4 → 5 upgrade, in the open transaction).
pub(super) fn build_name_index(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(BY_NAME)?;
    let mut index = txn.open_table(BY_NAME)?;
    let mut keys = 0;
    for entry in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = entry?;
        let key = decode_key(bytes.value())?;
        index.insert((lower(&key.name).as_str(), id.value()), key.name.as_str())?;
        keys += 1;
    }
    Ok(keys)
}

/// Builds the issuer index from KEYS (the schema 5 → 6 upgrade, in the open transaction).
/// Returns the number of keys indexed.
pub(super) fn build_issuer_index(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(BY_ISSUER)?;
    let mut index = txn.open_table(BY_ISSUER)?;
    let mut indexed = 0;
    for entry in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = entry?;
        if let Some(issuer) = decode_key(bytes.value())?.issuer {
            index.insert((issuer.as_str(), id.value()), ())?;
            indexed += 1;
        }
    }
    Ok(indexed)
}

/// Counts the issuer index's entries per issuer into `issuer_counts` (the schema 6 → 7
/// upgrade, in the open transaction). Returns the number of issuers.
pub(super) fn build_issuer_counts(txn: &WriteTransaction) -> Result<u64, StoreError> {
    txn.delete_table(ISSUER_COUNTS)?;
    let mut counts = txn.open_table(ISSUER_COUNTS)?;
    let index = txn.open_table(BY_ISSUER)?;
    // The index is in issuer order: one run of entries per issuer.
    let mut run: Option<(String, u64)> = None;
    let mut issuers = 0;
    for entry in index.iter()? {
        let position = entry?.0;
        let (issuer, _) = position.value();
        match &mut run {
            Some((current, count)) if current == issuer => *count += 1,
            _ => {
                if let Some((done, count)) = run.replace((issuer.to_owned(), 1)) {
                    counts.insert(done.as_str(), count)?;
                    issuers += 1;
                }
            }
        }
    }
    if let Some((done, count)) = run {
        counts.insert(done.as_str(), count)?;
        issuers += 1;
    }
    Ok(issuers)
}

/// The id of the live key named exactly `name`: of the entries under its lower case (one, or
/// a few names that differ only in case), the one whose exact name it is.
fn id_named(
    index: &impl ReadableTable<(&'static str, u128), &'static str>,
    name: &str,
) -> Result<Option<u128>, StoreError> {
    let folded = lower(name);
    for entry in index.range((folded.as_str(), 0u128)..=(folded.as_str(), u128::MAX))? {
        let (position, exact) = entry?;
        if exact.value() == name {
            return Ok(Some(position.value().1));
        }
    }
    Ok(None)
}

/// Builds the census from KEYS unless it is already in step with it (one scan, at open, only
/// for files a build without the census wrote).
pub(super) fn ensure_census(txn: &WriteTransaction) -> Result<(), StoreError> {
    let live = txn.open_table(KEYS)?.len()?;
    let counted = txn
        .open_table(META)?
        .get(META_CENSUS_KEYS)?
        .map(|v| v.value());
    if counted == Some(live) {
        return Ok(());
    }
    txn.delete_table(KEY_COUNTS)?;
    txn.delete_table(BY_EXPIRATION)?;
    let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut by_expiration = txn.open_table(BY_EXPIRATION)?;
    for entry in txn.open_table(KEYS)?.iter()? {
        let (id, bytes) = entry?;
        let key = decode_key(bytes.value())?;
        *counts.entry(kind_of(&key)).or_default() += 1;
        if let Some(expires) = key.expiration_instant {
            by_expiration.insert((expires, id.value()), ())?;
        }
    }
    let mut table = txn.open_table(KEY_COUNTS)?;
    for (kind, count) in &counts {
        table.insert(kind.as_str(), *count)?;
    }
    txn.open_table(META)?.insert(META_CENSUS_KEYS, live)?;
    tracing::info!(keys = live, "key census built");
    Ok(())
}

/// Deletes a key and its index entries, whatever ring holds it. Returns whether it existed.
pub(super) fn delete_in(txn: &WriteTransaction, id: u128) -> Result<bool, StoreError> {
    let mut keys = txn.open_table(KEYS)?;
    let Some(bytes) = keys.remove(id)?.map(|v| v.value().to_vec()) else {
        return Ok(false);
    };
    let key = decode_key(&bytes)?;
    uncount_key(txn, &key)?;
    index_kind(txn, &key, &lower(&key.name), false)?;
    txn.open_table(SECRETS)?.remove(id)?;
    txn.open_table(BY_NAME)?
        .remove((lower(&key.name).as_str(), id))?;
    txn.open_table(BY_KID)?.remove(key.kid.as_str())?;
    if let Some(issuer) = &key.issuer {
        txn.open_table(BY_ISSUER)?.remove((issuer.as_str(), id))?;
    }
    if let Some(seq) = txn.open_table(INSERTION_OF)?.remove(id)?.map(|v| v.value()) {
        txn.open_table(BY_INSERTION)?.remove(seq)?;
    }
    Ok(true)
}

/// A sort key for orderings without an index: (field, lower-case name, id).
pub(super) type SortKey = (String, String, u128);

pub(super) fn sort_key(field: SortField, key: &Key, descending: bool) -> SortKey {
    let primary = match field {
        SortField::Algorithm => key.algorithm.as_str().to_owned(),
        SortField::Type => key.key_type.as_str().to_owned(),
        // Zero-padded so text order is numeric order; keys without an expiration sort last in
        // either direction ("~" is after every digit, "" before).
        SortField::Expiration => match key.expiration_instant {
            Some(instant) => format!("{:020}", instant.max(0)),
            None if descending => String::new(),
            None => "~".to_owned(),
        },
        SortField::Name | SortField::InsertInstant | SortField::Id => String::new(),
    };
    (primary, lower(&key.name), raw(&key.id))
}

/// How many live keys have `issuer` (its `issuer_counts` row).
fn issuer_count(txn: &ReadTransaction, issuer: &str) -> Result<u64, StoreError> {
    Ok(txn
        .open_table(ISSUER_COUNTS)?
        .get(issuer)?
        .map_or(0, |v| v.value()))
}

/// The page of a search in an order no index gives: every candidate that matches is counted,
/// and a heap keeps the first `startRow + numberOfResults` in the query's order (`sort`); the
/// page is those past `startRow`, read again by id.
fn sorted_page(
    pager: &mut Pager<'_>,
    candidates: impl Iterator<Item = Result<Key, StoreError>>,
    sort: impl Fn(&Key) -> Result<SortKey, StoreError>,
    load: impl Fn(u128) -> Result<Option<Key>, StoreError>,
) -> Result<(), StoreError> {
    let query = pager.query;
    let window = query.start_row.saturating_add(query.number_of_results);
    let mut ascending: BinaryHeap<SortKey> = BinaryHeap::new();
    let mut descending: BinaryHeap<Reverse<SortKey>> = BinaryHeap::new();
    for key in candidates {
        let key = key?;
        if !query.matches(&key) {
            continue;
        }
        pager.seen += 1;
        let sort = sort(&key)?;
        if query.descending {
            descending.push(Reverse(sort));
            if descending.len() > window {
                descending.pop();
            }
        } else {
            ascending.push(sort);
            if ascending.len() > window {
                ascending.pop();
            }
        }
    }
    let ordered: Vec<u128> = if query.descending {
        descending
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(k)| k.2)
            .collect()
    } else {
        ascending
            .into_sorted_vec()
            .into_iter()
            .map(|k| k.2)
            .collect()
    };
    for id in ordered.into_iter().skip(query.start_row) {
        if let Some(key) = load(id)? {
            pager.keys.push(key);
        }
    }
    Ok(())
}

/// Collects one page while counting every match.
pub(super) struct Pager<'q> {
    query: &'q SearchQuery,
    seen: u64,
    keys: Vec<Key>,
}

impl Pager<'_> {
    /// Whether the next match would be on the page.
    fn on_page(&self) -> bool {
        let index = usize::try_from(self.seen).unwrap_or(usize::MAX);
        index >= self.query.start_row && self.keys.len() < self.query.number_of_results
    }

    /// An index entry that matches every filter the index answers. With `filtered`, the record
    /// must be read to apply the rest of the query; otherwise it is read only for the page.
    fn consider(
        &mut self,
        filtered: bool,
        load: impl FnOnce() -> Result<Option<Key>, StoreError>,
    ) -> Result<(), StoreError> {
        if filtered {
            let Some(key) = load()? else {
                return Ok(());
            };
            if !self.query.matches(&key) {
                return Ok(());
            }
            if self.on_page() {
                self.keys.push(key);
            }
        } else if self.on_page()
            && let Some(key) = load()?
        {
            self.keys.push(key);
        }
        self.seen += 1;
        Ok(())
    }
}

/// The kind an algorithm's keys are indexed and counted under: `"<type>/<algorithm>"`.
fn kind_tag(algorithm: Algorithm) -> String {
    format!("{}/{}", algorithm.key_type().as_str(), algorithm.as_str())
}

/// How many live keys the census counts under these kinds.
fn kinds_total(txn: &ReadTransaction, kinds: &[String]) -> Result<u64, StoreError> {
    let counts = txn.open_table(KEY_COUNTS)?;
    let mut total = 0;
    for kind in kinds {
        total += counts.get(kind.as_str())?.map_or(0, |v| v.value());
    }
    Ok(total)
}

/// Merges streams of (lower-case name, id), each in that order (descending: each in reverse),
/// into one stream in the same order. An error ends the merged stream with it.
fn merge_in_order<I>(
    mut streams: Vec<I>,
    descending: bool,
) -> impl Iterator<Item = Result<(String, u128), StoreError>>
where
    I: Iterator<Item = Result<(String, u128), StoreError>>,
{
    let mut heads: Vec<Option<(String, u128)>> = Vec::with_capacity(streams.len());
    let mut failed: Option<StoreError> = None;
    for stream in &mut streams {
        match stream.next().transpose() {
            Ok(head) => heads.push(head),
            Err(err) => {
                failed.get_or_insert(err);
                heads.push(None);
            }
        }
    }
    std::iter::from_fn(move || {
        if let Some(err) = failed.take() {
            heads.clear();
            return Some(Err(err));
        }
        let live = heads
            .iter()
            .enumerate()
            .filter_map(|(i, head)| head.as_ref().map(|head| (i, head)));
        let next = if descending {
            live.max_by(|a, b| a.1.cmp(b.1))
        } else {
            live.min_by(|a, b| a.1.cmp(b.1))
        };
        let index = next?.0;
        let refill = streams.get_mut(index)?.next().transpose();
        let head = heads.get_mut(index)?;
        match refill {
            Ok(following) => std::mem::replace(head, following).map(Ok),
            Err(err) => {
                heads.clear();
                Some(Err(err))
            }
        }
    })
}

/// How a lower-cased name pattern is scanned in a name-ordered index: the literal start its
/// range begins with (empty: the whole index), and the pattern each entry must still be
/// checked against (`None` when the range holds exactly its matches: no pattern, or `start*`).
fn name_scan(pattern: Option<&str>) -> (String, Option<&str>) {
    let start = pattern.and_then(literal_start).unwrap_or_default();
    let check = pattern.filter(|p| p.strip_prefix(start.as_str()) != Some("*"));
    (start, check)
}

/// The literal start of a wildcard name pattern (before its first `*`), if it has a `*`: every
/// name it matches begins with it. A pattern without `*` matches names that contain it.
fn literal_start(pattern: &str) -> Option<String> {
    pattern.find('*').map(|star| pattern[..star].to_owned())
}

/// The least string greater than every string that begins with `prefix` (`None`: no bound).
fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}
