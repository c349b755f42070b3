//! Auth0 connections: the record and its unique name.

use super::*;

impl ConnectionRecords for RedbStore {
    fn insert_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let json = encode_connection(connection)?;
        let connection = connection.clone();
        let target = connection.id.clone();
        self.write_audited(
            move |()| vec![target.clone()],
            move |txn| {
                let mut connections = txn.open_table(CONNECTIONS)?;
                if connections.get(connection.id.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionId));
                }
                let mut by_name = txn.open_table(CONNECTIONS_BY_NAME)?;
                if by_name.get(connection.name.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionName));
                }
                connections.insert(connection.id.as_str(), json.as_slice())?;
                by_name.insert(connection.name.as_str(), connection.id.as_str())?;
                Ok(())
            },
        )
    }

    fn connection(&self, id: &str) -> Result<Option<Connection>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(CONNECTIONS)?;
        let found = table.get(id)?;
        found
            .map(|bytes| decode_connection(bytes.value()))
            .transpose()
    }

    fn connections(&self) -> Result<Vec<Connection>, StoreError> {
        let txn = self.read()?;
        let connections = txn.open_table(CONNECTIONS)?;
        let mut out = Vec::new();
        for entry in txn.open_table(CONNECTIONS_BY_NAME)?.iter()? {
            let (_, id) = entry?;
            if let Some(bytes) = connections.get(id.value())? {
                out.push(decode_connection(bytes.value())?);
            }
        }
        Ok(out)
    }

    fn replace_connection(&self, connection: &Connection) -> Result<bool, StoreError> {
        let json = encode_connection(connection)?;
        let connection = connection.clone();
        self.write_audited(if_true(connection.id.clone()), move |txn| {
            let mut connections = txn.open_table(CONNECTIONS)?;
            let Some(old) = connections
                .get(connection.id.as_str())?
                .map(|v| decode_connection(v.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            if old.name != connection.name {
                let mut by_name = txn.open_table(CONNECTIONS_BY_NAME)?;
                if by_name.get(connection.name.as_str())?.is_some() {
                    return Err(StoreError::Duplicate(UniqueField::ConnectionName));
                }
                by_name.remove(old.name.as_str())?;
                by_name.insert(connection.name.as_str(), connection.id.as_str())?;
            }
            connections.insert(connection.id.as_str(), json.as_slice())?;
            Ok(true)
        })
    }

    fn delete_connection(&self, id: &str) -> Result<Option<Vec<KeyId>>, StoreError> {
        let id = id.to_owned();
        self.write_audited(changed(id.clone()), move |txn| {
            let id = id.as_str();
            let Some(old) = txn
                .open_table(CONNECTIONS)?
                .remove(id)?
                .map(|v| decode_connection(v.value()))
                .transpose()?
            else {
                return Ok(None);
            };
            txn.open_table(CONNECTIONS_BY_NAME)?
                .remove(old.name.as_str())?;
            let mut deleted = Vec::new();
            for key_use in [KeyUse::Signing, KeyUse::Encryption] {
                deleted.extend(drop_ring_in(txn, &RingOwner::connection(id, key_use))?);
            }
            Ok(Some(deleted))
        })
    }
}
