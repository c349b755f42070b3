//! Keys: the record with its indexed columns, restorable deletion, the census and paged search,
//! each in one transaction.

use keysmith_model::search::{SearchQuery, SortField};
use keysmith_model::{Key, KeyId};

use super::PgStore;
use super::filters::Filters;
use super::key_rows::{Prepared, delete_in, insert_in};
use super::rings::{release_from_ring, return_to_ring};
use crate::audit::{changed, if_true};
use crate::records::{DeletedKey, decode_deleted, decode_key, encode_deleted, encode_key};
use crate::sealed::decode_secret;
use crate::{KeyCensus, KeyRecord, KeyRecords, SearchPage, StoreError, StoredKey};

impl KeyRecords for PgStore {
    fn insert(&self, record: &StoredKey) -> Result<(), StoreError> {
        let prepared = self.prepare(record)?;
        let sealed_under = self.sealer.sealing_key_id();
        let target = record.key.id.to_string();
        self.write_audited(
            |()| vec![target.clone()],
            |txn| insert_in(txn, &prepared, &sealed_under),
        )
    }

    fn insert_many(&self, records: &[StoredKey]) -> Result<(), StoreError> {
        let prepared = records
            .iter()
            .map(|record| self.prepare(record))
            .collect::<Result<Vec<_>, _>>()?;
        let sealed_under = self.sealer.sealing_key_id();
        let targets: Vec<String> = records.iter().map(|r| r.key.id.to_string()).collect();
        self.write_audited(
            |()| targets.clone(),
            |txn| {
                for key in &prepared {
                    insert_in(txn, key, &sealed_under)?;
                }
                Ok(())
            },
        )
    }

    fn get(&self, id: &KeyId) -> Result<Option<StoredKey>, StoreError> {
        let row = self.read(|txn| {
            Ok(txn.query_opt("SELECT record, secret FROM keys WHERE id = $1", &[&id.0])?)
        })?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = decode_key(row.get(0))?;
        let private = row
            .get::<_, Option<&[u8]>>(1)
            .map(|bytes| decode_secret(&*self.sealer, &key.id, bytes))
            .transpose()?;
        Ok(Some(StoredKey { key, private }))
    }

    fn key_record(&self, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|txn| {
            Ok(txn
                .query_opt("SELECT record FROM keys WHERE id = $1", &[&id.0])?
                .map(|row| KeyRecord::new(row.get(0))))
        })
    }

    fn id_by_kid(&self, kid: &str) -> Result<Option<KeyId>, StoreError> {
        self.read(|txn| {
            Ok(txn
                .query_opt("SELECT id FROM keys WHERE kid = $1", &[&kid])?
                .map(|row| KeyId(row.get(0))))
        })
    }

    fn contains(&self, id: &KeyId) -> Result<bool, StoreError> {
        self.read(|txn| {
            Ok(txn
                .query_opt("SELECT 1 FROM keys WHERE id = $1", &[&id.0])?
                .is_some())
        })
    }

    fn id_by_name(&self, name: &str) -> Result<Option<KeyId>, StoreError> {
        self.read(|txn| {
            Ok(txn
                .query_opt("SELECT id FROM keys WHERE name = $1", &[&name])?
                .map(|row| KeyId(row.get(0))))
        })
    }

    fn rename(&self, id: &KeyId, name: &str, now_millis: i64) -> Result<Option<Key>, StoreError> {
        self.write_audited(changed(id.to_string()), |txn| {
            let Some(row) =
                txn.query_opt("SELECT record FROM keys WHERE id = $1 FOR UPDATE", &[&id.0])?
            else {
                return Ok(None);
            };
            let mut key = decode_key(row.get(0))?;
            key.name = name.to_owned();
            key.last_update_instant = now_millis;
            txn.execute(
                "UPDATE keys SET name = $2, lower_name = $3, record = $4 WHERE id = $1",
                &[
                    &id.0,
                    &key.name,
                    &key.name.to_lowercase(),
                    &encode_key(&key)?,
                ],
            )?;
            Ok(Some(key))
        })
    }

    fn delete(&self, id: &KeyId) -> Result<bool, StoreError> {
        self.write_audited(if_true(id.to_string()), |txn| {
            release_from_ring(txn, id)?;
            delete_in(txn, id)
        })
    }

    fn delete_restorably(&self, id: &KeyId, purge_at: i64) -> Result<bool, StoreError> {
        self.write_audited(if_true(id.to_string()), |txn| {
            let ring = release_from_ring(txn, id)?;
            let Some(row) = txn.query_opt(
                "DELETE FROM keys WHERE id = $1 RETURNING record, secret",
                &[&id.0],
            )?
            else {
                return Ok(false);
            };
            let deleted = DeletedKey {
                key: decode_key(row.get(0))?,
                purge_at,
                ring,
            };
            let secret: Option<&[u8]> = row.get(1);
            txn.execute(
                "INSERT INTO deleted_keys (id, purge_at, record, secret) VALUES ($1, $2, $3, $4)",
                &[&id.0, &purge_at, &encode_deleted(&deleted)?, &secret],
            )?;
            Ok(true)
        })
    }

    fn restore(&self, id: &KeyId) -> Result<Option<Key>, StoreError> {
        self.write_audited(changed(id.to_string()), |txn| {
            let Some(row) = txn.query_opt(
                "DELETE FROM deleted_keys WHERE id = $1 RETURNING record, secret",
                &[&id.0],
            )?
            else {
                return Ok(None);
            };
            let deleted = decode_deleted(row.get(0))?;
            // The secret comes back as it was sealed: its master key is listed already.
            let prepared = Prepared {
                record: encode_key(&deleted.key)?,
                secret: row.get::<_, Option<&[u8]>>(1).map(<[u8]>::to_vec),
                key: deleted.key,
            };
            insert_in(txn, &prepared, &[])?;
            if let Some(place) = deleted.ring {
                return_to_ring(txn, place)?;
            }
            Ok(Some(prepared.key))
        })
    }

    fn deleted_keys(&self) -> Result<Vec<(Key, i64)>, StoreError> {
        self.read(|txn| {
            txn.query("SELECT record FROM deleted_keys ORDER BY purge_at, id", &[])?
                .iter()
                .map(|row| decode_deleted(row.get(0)).map(|d| (d.key, d.purge_at)))
                .collect()
        })
    }

    fn purge_deleted(&self, now_millis: i64) -> Result<Vec<KeyId>, StoreError> {
        let purged = |ids: &Vec<KeyId>| ids.iter().map(ToString::to_string).collect();
        self.write_audited(purged, |txn| {
            let mut ids: Vec<KeyId> = txn
                .query(
                    "DELETE FROM deleted_keys WHERE purge_at <= $1 RETURNING id",
                    &[&now_millis],
                )?
                .iter()
                .map(|row| KeyId(row.get(0)))
                .collect();
            ids.sort_by_key(|id| id.0);
            Ok(ids)
        })
    }

    fn list(&self) -> Result<Vec<Key>, StoreError> {
        self.read(|txn| {
            txn.query("SELECT record FROM keys ORDER BY seq", &[])?
                .iter()
                .map(|row| decode_key(row.get(0)))
                .collect()
        })
    }

    fn keys_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Key)>, StoreError> {
        let after = after.map_or(Ok(-1), i64::try_from).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|txn| {
            txn.query(
                "SELECT seq, record FROM keys WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )?
            .iter()
            .map(|row| {
                let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or_default();
                decode_key(row.get(1)).map(|key| (seq, key))
            })
            .collect()
        })
    }

    fn keys_by_issuer(
        &self,
        issuer: &str,
        after: Option<KeyId>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|txn| {
            let rows = match &after {
                None => txn.query(
                    "SELECT record FROM keys WHERE issuer = $1 ORDER BY id LIMIT $2",
                    &[&issuer, &limit],
                )?,
                Some(id) => txn.query(
                    "SELECT record FROM keys WHERE issuer = $1 AND id > $2 ORDER BY id LIMIT $3",
                    &[&issuer, &id.0, &limit],
                )?,
            };
            rows.iter().map(|row| decode_key(row.get(0))).collect()
        })
    }

    fn count(&self) -> Result<u64, StoreError> {
        self.read(|txn| {
            let count: i64 = txn.query_one("SELECT count(*) FROM keys", &[])?.get(0);
            Ok(u64::try_from(count).unwrap_or_default())
        })
    }

    fn expiring_before(
        &self,
        before: i64,
        after: Option<(i64, KeyId)>,
        limit: usize,
    ) -> Result<Vec<Key>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|txn| {
            let rows = match &after {
                None => txn.query(
                    "SELECT record FROM keys WHERE expires_at < $1
                     ORDER BY expires_at, id LIMIT $2",
                    &[&before, &limit],
                )?,
                Some((at, id)) => txn.query(
                    "SELECT record FROM keys WHERE expires_at < $1 AND (expires_at, id) > ($2, $3)
                     ORDER BY expires_at, id LIMIT $4",
                    &[&before, at, &id.0, &limit],
                )?,
            };
            rows.iter().map(|row| decode_key(row.get(0))).collect()
        })
    }

    fn census(&self, expiring_before: i64) -> Result<KeyCensus, StoreError> {
        self.read(|txn| {
            let by_kind = txn
                .query(
                    "SELECT key_type, algorithm, count(*) FROM keys GROUP BY key_type, algorithm
                     ORDER BY key_type COLLATE \"C\", algorithm COLLATE \"C\"",
                    &[],
                )?
                .iter()
                .map(|row| {
                    let count: i64 = row.get(2);
                    (
                        row.get(0),
                        row.get(1),
                        u64::try_from(count).unwrap_or_default(),
                    )
                })
                .collect();
            let expiring: i64 = txn
                .query_one(
                    "SELECT count(*) FROM keys WHERE expires_at < $1",
                    &[&expiring_before],
                )?
                .get(0);
            Ok(KeyCensus {
                by_kind,
                expiring: u64::try_from(expiring).unwrap_or_default(),
            })
        })
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        let mut filters = Filters::default();
        if let Some(pattern) = &query.name {
            filters.add(
                "lower_name LIKE $ ESCAPE '\\'",
                like_pattern(&pattern.to_lowercase()),
            );
        }
        if let Some(key_type) = query.key_type {
            filters.add("key_type = $", key_type.as_str());
        }
        if let Some(algorithm) = query.algorithm {
            filters.add("algorithm = $", algorithm.as_str());
        }
        // Served by the `keys_by_issuer` index (migration 3).
        if let Some(issuer) = &query.issuer {
            filters.add("issuer = $", issuer.clone());
        }
        let direction = if query.descending { "DESC" } else { "ASC" };
        // The same orders as the redb engine: the field, then the lower-case name (bytes), then
        // the id; a key without an expiration sorts last either way.
        let order = match query.order_by {
            SortField::Name => format!("lower_name {direction}, id {direction}"),
            SortField::InsertInstant => format!("seq {direction}"),
            SortField::Id => format!("id {direction}"),
            SortField::Algorithm => {
                format!(
                    "algorithm COLLATE \"C\" {direction}, lower_name {direction}, id {direction}"
                )
            }
            SortField::Type => {
                format!(
                    "key_type COLLATE \"C\" {direction}, lower_name {direction}, id {direction}"
                )
            }
            // A negative expiration sorts as 0 (`greatest` would also turn NULL into 0).
            SortField::Expiration => format!(
                "(CASE WHEN expires_at < 0 THEN 0 ELSE expires_at END) {direction} NULLS LAST, \
                 lower_name {direction}, id {direction}"
            ),
        };
        self.read(|txn| {
            let (rows, total, exact) = filters.page(
                txn,
                "record",
                "keys",
                &order,
                query.start_row,
                query.number_of_results,
                query.count_bound(),
            )?;
            let keys = rows
                .iter()
                .map(|row| decode_key(row.get(0)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(SearchPage { keys, total, exact })
        })
    }
}

/// A name pattern as SQL `LIKE` (both lower case): `*` matches any run of characters, and a
/// pattern without `*` matches names that contain it. `%`, `_` and `\` match themselves.
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 2);
    let contains = !pattern.contains('*');
    if contains {
        out.push('%');
    }
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if contains {
        out.push('%');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_become_like_patterns() {
        assert_eq!(like_pattern("s #7*"), "s #7%");
        assert_eq!(like_pattern("key"), "%key%");
        assert_eq!(like_pattern("*a*b"), "%a%b");
        assert_eq!(like_pattern("100%_\\"), "%100\\%\\_\\\\%");
    }
}
