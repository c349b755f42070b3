//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A unique value is taken. Nothing was written.
    #[error("{0} is already taken")]
    Duplicate(UniqueField),
    /// The key is current, next or previous in a ring. Nothing was written.
    #[error("the key is the {} key of {owner}", role.as_str())]
    InUse {
        /// The ring that holds it.
        owner: keysmith_model::RingOwner,
        /// Its role there.
        role: keysmith_model::RingRole,
    },
    /// A restore was refused: the key was revoked in a ring that no longer exists, so it
    /// cannot come back in the state it was deleted in. Nothing was written.
    #[error("the key was revoked in {owner}, which no longer exists; it cannot be restored")]
    RingGone {
        /// The ring it was revoked in.
        owner: keysmith_model::RingOwner,
    },
    /// A ring change was refused by the ring's rules. Nothing was written.
    #[error("{0}")]
    Ring(keysmith_model::RingError),
    /// The data file was written by a schema this build does not know. It was not modified.
    #[error(
        "the data file has schema version {found}, but this keysmith supports version {supported}; it was left untouched"
    )]
    UnknownSchemaVersion {
        /// The version in the file.
        found: u64,
        /// The version this build reads and writes.
        supported: u64,
    },
    /// The database was migrated by a newer Keysmith (its `keysmith_schema` records a version
    /// this build does not know). Nothing was changed.
    #[error(
        "the database has keysmith schema version {found}, but this keysmith supports up to version {supported}; it was left untouched (run the newer keysmith, or restore a backup taken before it migrated)"
    )]
    DatabaseSchemaTooNew {
        /// The version recorded in the database.
        found: i32,
        /// The newest version this build applies.
        supported: i32,
    },
    /// The database lacks migrations this build needs, and the store was told not to apply
    /// them (`store_migrate = false`). Nothing was changed.
    #[error(
        "the database has keysmith schema version {found}, but this keysmith needs version {needed}; run `keysmith migrate-schema` (store_migrate is off); nothing was changed"
    )]
    DatabaseSchemaTooOld {
        /// The version recorded in the database (0: none).
        found: i32,
        /// The version this build needs.
        needed: i32,
    },
    /// The file exists but is not a Keysmith data file. It was not modified.
    #[error("{0} is not a keysmith data file; it was left untouched")]
    NotKeysmithData(String),
    /// Another process has the data file open (a running server holds it).
    #[error("the data file {0} is in use by another process (is a keysmith server running?)")]
    Locked(String),
    /// The configured master keys cannot open the stored secrets. Nothing was written.
    #[error("{0}")]
    MasterKey(String),
    /// A secret could not be sealed or opened (a changed or moved ciphertext, a crypto failure).
    #[error("stored secret: {0}")]
    Sealing(keysmith_model::SealError),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A copy into a store that is not empty was refused. Nothing was written.
    #[error("the target store is not empty ({0}); nothing was copied")]
    NotEmpty(String),
    /// The store's server cannot be reached (a shared database that is down or unreachable).
    /// Nothing was written; the same call may succeed once it is back.
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
    /// The storage engine failed (I/O, a full disk, ...).
    #[error("storage failure")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Which unique value a [`StoreError::Duplicate`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueField {
    /// The key id.
    Id,
    /// The key name.
    Name,
    /// The kid.
    Kid,
    /// A connection id.
    ConnectionId,
    /// A connection name.
    ConnectionName,
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UniqueField::Id => "the key id",
            UniqueField::Name => "the key name",
            UniqueField::Kid => "the kid",
            UniqueField::ConnectionId => "the connection id",
            UniqueField::ConnectionName => "the connection name",
        })
    }
}

macro_rules! engine_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(err: $t) -> Self {
                StoreError::Engine(Box::new(err))
            }
        }
    )*};
}

engine_errors!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// An error with its causes, joined by ": " (the engine's messages name files and I/O
/// failures, never stored values).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
