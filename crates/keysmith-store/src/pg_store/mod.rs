//! The PostgreSQL engine (feature `postgres`): many stateless Keysmith nodes on one database.
//!
//! Invariants:
//! - Every method is one database transaction at `SERIALIZABLE` isolation, so a
//!   read-modify-write inside it is atomic across nodes. A serialization failure or deadlock
//!   re-runs the whole transaction, at most [`MAX_ATTEMPTS`] times, then fails with the
//!   database's error. This is why a change is `FnMut`.
//! - Uniqueness is the database's: a unique violation on a known constraint is answered
//!   [`StoreError::Duplicate`], whichever node wrote the other row.
//! - The postgres client runs its own runtime per connection, which cannot run on a thread
//!   that drives an async runtime. A call made on such a thread (the server's start and stop,
//!   a handler that reads without `web::block`) runs its transaction on a scoped thread of its
//!   own, and dropping the store lets go of its connections on one too. Blocking threads, where
//!   the server makes its calls, run them directly.
//! - Errors name the server and database, never the password.
//!
//! The schema is in [`migrations`]; records use the same bytes as the redb engine.

mod api_keys;
mod audit_log;
mod changes;
mod connections;
mod filters;
mod key_rows;
mod keys;
mod migrations;
mod rings;
mod transfer;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keysmith_model::SecretSealer;
use postgres::error::SqlState;
use postgres::{IsolationLevel, Transaction};
use postgres_openssl::MakeTlsConnector;
use r2d2_postgres::PostgresConnectionManager;

use crate::audit::{audit_rows, committed_audit};
use crate::error::UniqueField;
use crate::health::WriteHealth;
use crate::records::encode_audit;
use crate::sealed::rewrap_secret;
use crate::{CommitStats, KeyStore, StoreError};

pub use migrations::{LATEST as SCHEMA_VERSION, Migrated};

/// A function [`KeyStore::watch_changes`] calls when another node changed the store.
type Callback = Arc<dyn Fn() + Send + Sync>;

/// How many times a transaction runs when the database reports a serialization failure or a
/// deadlock before the error is returned.
pub const MAX_ATTEMPTS: u32 = 8;

/// How [`PgStore::connect`] connects.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections kept in the pool (each is one server process).
    pub pool_size: u32,
    /// How long a call waits for a pooled connection (or a new one) before failing.
    pub connect_timeout: Duration,
    /// Whether the change feed's watcher listens for notifications (`LISTEN`); without, it
    /// only polls (for a pooler in transaction mode, which does not pass notifications on).
    pub listen: bool,
    /// How often the watcher polls the change feed when no notification came: the longest
    /// another node's change can go unseen if its notification is lost.
    pub change_poll: Duration,
    /// Whether connecting applies the migrations the database lacks; without, connecting
    /// changes no schema and refuses a database that lacks one
    /// ([`StoreError::DatabaseSchemaTooOld`]).
    pub migrate: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            listen: true,
            change_poll: Duration::from_secs(1),
            migrate: true,
        }
    }
}

/// Keys in a PostgreSQL database, shared by any number of Keysmith nodes.
pub struct PgStore {
    /// Always `Some` until the store is dropped (see `Drop`).
    pool: Option<r2d2::Pool<PostgresConnectionManager<MakeTlsConnector>>>,
    /// Seals private halves bound to their key's id.
    sealer: Arc<dyn SecretSealer>,
    /// Whether write transactions have been failing, for `/api/status`.
    health: WriteHealth,
    /// Write transactions committed by this node.
    commits: AtomicU64,
    /// How the change feed's watchers connect, and whether to listen.
    config: postgres::Config,
    tls: MakeTlsConnector,
    options: PgOptions,
    /// Set when the store is dropped: its watchers stop.
    stopped: Arc<std::sync::atomic::AtomicBool>,
    /// This store's name in the change feed's notifications (random per process).
    node: String,
    /// What [`KeyStore::watch_changes`] was given; its one watcher calls each.
    callbacks: Arc<std::sync::Mutex<Vec<Callback>>>,
    /// `host:port/database` (never the password), for errors and logs.
    target: String,
    migrated: Migrated,
    /// Test failpoint: how long a ring change waits, written but uncommitted, before its commit.
    #[cfg(feature = "failpoints")]
    ring_commit_pause: Option<Duration>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .field("schema", &self.migrated.to)
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// with libpq's `sslmode` and other parameters), applies the migrations it lacks (or
    /// refuses a newer schema) and returns the store. TLS, when the URL asks for it
    /// (`sslmode=require`, or `prefer`, libpq's default), verifies the server's certificate
    /// against the system's trust store.
    pub fn connect(
        url: &str,
        sealer: Arc<dyn SecretSealer>,
        options: &PgOptions,
    ) -> Result<Self, StoreError> {
        let (config, tls, target) = parse_url(url, options)?;
        let manager = PostgresConnectionManager::new(config.clone(), tls.clone());
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(0))
            .connection_timeout(options.connect_timeout)
            .build_unchecked(manager);
        let mut store = Self {
            pool: Some(pool),
            sealer,
            health: WriteHealth::default(),
            commits: AtomicU64::new(0),
            config,
            tls,
            options: options.clone(),
            stopped: Arc::default(),
            node: uuid::Uuid::new_v4().simple().to_string(),
            callbacks: Arc::default(),
            target,
            migrated: Migrated { from: 0, to: 0 },
            #[cfg(feature = "failpoints")]
            ring_commit_pause: None,
        };
        let apply = options.migrate;
        store.migrated = store.run(IsolationLevel::ReadCommitted, |txn| {
            migrations::migrate(txn, apply)
        })?;
        store.check_master_keys()?;
        Ok(store)
    }

    /// Applies the migrations the database at `url` lacks, on one connection, and returns what
    /// it did (`keysmith migrate-schema`): the nodes may then run with `migrate` off. Needs no
    /// master key: it reads and writes no secret.
    pub fn migrate_schema(url: &str, options: &PgOptions) -> Result<Migrated, StoreError> {
        let (config, tls, target) = parse_url(url, options)?;
        off_runtime(move || {
            let mut client = config.connect(tls).map_err(|e| {
                StoreError::Unavailable(format!("cannot reach PostgreSQL at {target}: {e}"))
            })?;
            let mut txn = client.transaction()?;
            let migrated = migrations::migrate(&mut txn, true)?;
            txn.commit()?;
            Ok(migrated)
        })
    }

    /// Refuses a database whose secrets are sealed under a master key this node does not have
    /// (every node needs the same master keys). Reads `master_keys_in_use`; decrypts nothing.
    fn check_master_keys(&self) -> Result<(), StoreError> {
        let in_use: Vec<Vec<u8>> = self.read(|txn| {
            Ok(txn
                .query("SELECT id FROM master_keys_in_use ORDER BY id", &[])?
                .iter()
                .map(|row| row.get(0))
                .collect())
        })?;
        for id in &in_use {
            match self.sealer.knows_master_key(id) {
                Ok(()) => {}
                Err(keysmith_model::SealError::UnknownMasterKey(master)) => {
                    return Err(StoreError::MasterKey(format!(
                        "stored secrets in {} are sealed under master key {master}, which is not configured on this node (every node needs the same master keys); nothing was changed",
                        self.target
                    )));
                }
                Err(other) => return Err(StoreError::Sealing(other)),
            }
        }
        Ok(())
    }

    /// Re-wraps every data key (of keys and of restorably deleted keys) under the sealing
    /// master key, in one transaction, all or nothing; then the sealing key is the only master
    /// key in use, and nodes configured with it alone can open every secret. Other nodes keep
    /// reading meanwhile; their writes to keys wait for it (the tables are locked against
    /// writers). Returns how many were re-wrapped.
    pub fn rewrap_secrets(&self) -> Result<usize, StoreError> {
        /// Secrets read per query, so memory stays bounded whatever the number of keys.
        const BATCH: i64 = 1_000;
        let sealing = self.sealer.sealing_key_id();
        self.write(|txn| {
            txn.batch_execute(
                "LOCK TABLE keys, deleted_keys, master_keys_in_use IN EXCLUSIVE MODE",
            )?;
            let mut total = 0;
            for table in ["keys", "deleted_keys"] {
                let select = format!(
                    "SELECT id, secret FROM {table} WHERE secret IS NOT NULL AND id > $1 ORDER BY id LIMIT $2"
                );
                let update = format!("UPDATE {table} SET secret = $2 WHERE id = $1");
                let mut after = uuid::Uuid::nil();
                loop {
                    let rows = txn.query(&select, &[&after, &BATCH])?;
                    let Some(last) = rows.last() else { break };
                    after = last.get(0);
                    for row in &rows {
                        let id: uuid::Uuid = row.get(0);
                        let stored: &[u8] = row.get(1);
                        if let Some(value) =
                            rewrap_secret(&*self.sealer, &keysmith_model::KeyId(id), stored)?
                        {
                            txn.execute(&update, &[&id, &value])?;
                            total += 1;
                        }
                    }
                }
            }
            txn.execute("DELETE FROM master_keys_in_use", &[])?;
            txn.execute(
                "INSERT INTO master_keys_in_use (id) VALUES ($1)",
                &[&sealing],
            )?;
            Ok(total)
        })
    }

    /// A failpoint for crash tests: every ring change sleeps for `pause` after writing and
    /// before committing, so a test can kill the process mid-rotation. Only with the
    /// `failpoints` feature (never in a release build).
    #[cfg(feature = "failpoints")]
    pub fn with_ring_commit_pause(mut self, pause: Duration) -> Self {
        self.ring_commit_pause = Some(pause);
        self
    }

    /// What the migrations at connect did.
    pub fn migrated(&self) -> &Migrated {
        &self.migrated
    }

    /// `host:port/database`, without credentials.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` in one `SERIALIZABLE` transaction, re-run on a serialization failure (see the
    /// module docs), then appends the audit rows of its targets under the thread's audit
    /// context in the same transaction and logs them after the commit.
    fn write_audited<T: Send>(
        &self,
        targets: impl Fn(&T) -> Vec<String> + Send + Sync,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let context = crate::audit::current();
        let (out, rows) = self.write(|txn| {
            let out = f(txn)?;
            let mut rows = audit_rows(context.as_ref(), targets(&out));
            append_audit_in(txn, &mut rows)?;
            changes::note_change_in(txn, &self.node)?;
            Ok((out, rows))
        })?;
        committed_audit(&rows);
        Ok(out)
    }

    /// [`Self::write_audited`] for a change that cannot run twice (it decides from a one-shot
    /// closure): one `READ COMMITTED` transaction, never re-run, so `f` must take the locks
    /// that order it against concurrent changes before it reads (see `rings`).
    fn write_audited_once<T: Send>(
        &self,
        targets: impl FnOnce(&T) -> Vec<String> + Send,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let context = crate::audit::current();
        let result = off_runtime(|| {
            let mut client = self.client()?;
            let mut txn = client
                .build_transaction()
                .isolation_level(IsolationLevel::ReadCommitted)
                .start()?;
            let out = f(&mut txn)?;
            let mut rows = audit_rows(context.as_ref(), targets(&out));
            append_audit_in(&mut txn, &mut rows)?;
            changes::note_change_in(&mut txn, &self.node)?;
            txn.commit()?;
            Ok((out, rows))
        });
        self.record_write(&result);
        let (out, rows) = result?;
        committed_audit(&rows);
        Ok(out)
    }

    /// Runs `f` in one `SERIALIZABLE` transaction, re-run on a serialization failure.
    fn write<T: Send>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        let result = self.run(IsolationLevel::Serializable, f);
        self.record_write(&result);
        result
    }

    fn record_write<T>(&self, result: &Result<T, StoreError>) {
        // A refused change (a duplicate, a ring rule) is the caller's, not the database's.
        let engine_failed = matches!(result, Err(StoreError::Engine(_)));
        if result.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        if result.is_ok() || engine_failed {
            self.health.record(result);
        }
    }

    /// Runs `f` in one read-only transaction (a consistent snapshot of the database).
    fn read<T: Send>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.run(IsolationLevel::RepeatableRead, |txn| f(txn))
    }

    fn client(
        &self,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeTlsConnector>>, StoreError>
    {
        let pool = self.pool.as_ref().ok_or_else(|| {
            StoreError::Engine(format!("the store on {} is closed", self.target).into())
        })?;
        pool.get().map_err(|e| {
            StoreError::Unavailable(format!("cannot reach PostgreSQL at {}: {e}", self.target))
        })
    }

    fn run<T: Send>(
        &self,
        isolation: IsolationLevel,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        off_runtime(move || self.run_here(isolation, &mut f))
    }

    fn run_here<T>(
        &self,
        isolation: IsolationLevel,
        f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client()?;
        let mut attempt = 1;
        loop {
            let result = client
                .build_transaction()
                .isolation_level(isolation)
                .start()
                .map_err(StoreError::from)
                .and_then(|mut txn| {
                    let out = f(&mut txn)?;
                    txn.commit()?;
                    Ok(out)
                });
            match result {
                Err(err) if attempt < MAX_ATTEMPTS && is_retryable(&err) => {
                    attempt += 1;
                    // A short, growing pause lets the transaction it collided with finish.
                    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 2));
                }
                other => return other,
            }
        }
    }
}

impl KeyStore for PgStore {
    /// Not offered by this engine: a PostgreSQL database is backed up with PostgreSQL's own
    /// tools (`pg_dump`, base backups); `keysmith migrate` will copy one into a data file.
    fn snapshot_to(
        &self,
        _path: &std::path::Path,
        _progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, StoreError> {
        Err(StoreError::Engine(
            format!(
                "a PostgreSQL store ({}) is not snapshotted by keysmith; back it up with pg_dump",
                self.target
            )
            .into(),
        ))
    }

    fn health(&self) -> crate::StoreHealth {
        self.health.get()
    }

    fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.execute("SELECT 1", &[])?;
            Ok(())
        })
    }

    /// The database server's clock (`clock_timestamp()`), the same for every node.
    fn now_millis(&self) -> Result<i64, StoreError> {
        self.read(|txn| {
            Ok(txn
                .query_one(
                    "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                    &[],
                )?
                .get(0))
        })
    }

    /// One watcher (one connection) per store, whatever the number of callbacks: the first
    /// call starts it, later ones join its list.
    fn watch_changes(&self, changed: Arc<dyn Fn() + Send + Sync>) -> Result<(), StoreError> {
        let mut callbacks = match self.callbacks.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let first = callbacks.is_empty();
        callbacks.push(changed);
        drop(callbacks);
        if !first {
            return Ok(());
        }
        let callbacks = self.callbacks.clone();
        changes::Watch {
            config: self.config.clone(),
            tls: self.tls.clone(),
            node: self.node.clone(),
            target: self.target.clone(),
            listen: self.options.listen,
            poll: self.options.change_poll,
            stop: self.stopped.clone(),
        }
        .start(Arc::new(move || {
            let callbacks = match callbacks.lock() {
                Ok(guard) => guard.clone(),
                Err(poisoned) => poisoned.into_inner().clone(),
            };
            for callback in callbacks {
                callback();
            }
        }))
    }

    fn commit_stats(&self) -> CommitStats {
        let commits = self.commits.load(Ordering::Relaxed);
        CommitStats {
            commits,
            changes: commits,
            waiting: 0,
            run_inserts: 0,
        }
    }
}

/// Runs `f` here, or on a scoped thread when this thread drives an async runtime (where the
/// postgres client's own runtime cannot run; see the module docs).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::Release);
        // Closing a connection runs the client's runtime: never on an async runtime's thread.
        if let Some(pool) = self.pool.take() {
            off_runtime(move || drop(pool));
        }
    }
}

/// Appends audit rows in `txn`, giving each its sequence number as its id (unique and
/// increasing; a rolled-back transaction leaves a gap, as sequences are not transactional).
fn append_audit_in(
    txn: &mut Transaction<'_>,
    rows: &mut [keysmith_model::AuditRecord],
) -> Result<(), StoreError> {
    for row in rows.iter_mut() {
        let seq: i64 = txn
            .query_one(
                "SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))",
                &[],
            )?
            .get(0);
        row.id = u64::try_from(seq).unwrap_or_default();
        txn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, target, record)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &seq,
                &row.at,
                &row.actor,
                &row.action,
                &row.target,
                &encode_audit(row)?,
            ],
        )?;
    }
    Ok(())
}

/// Whether `err` is a serialization failure or a deadlock, which a re-run may not meet.
fn is_retryable(err: &StoreError) -> bool {
    let StoreError::Engine(source) = err else {
        return false;
    };
    source
        .downcast_ref::<postgres::Error>()
        .and_then(postgres::Error::code)
        .is_some_and(|code| {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        })
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> Self {
        // The connection went away (the server stopped, the network failed): not a refusal
        // of this change, and nothing of it committed.
        if err.is_closed() || (err.code().is_none() && err.as_db_error().is_none()) {
            return StoreError::Unavailable(format!("the connection to PostgreSQL failed: {err}"));
        }
        if err.code() == Some(&SqlState::UNIQUE_VIOLATION)
            && let Some(field) = err
                .as_db_error()
                .and_then(|db| db.constraint())
                .and_then(unique_field)
        {
            return StoreError::Duplicate(field);
        }
        StoreError::Engine(Box::new(err))
    }
}

/// The unique value a constraint of the schema ([`migrations`]) keeps unique.
fn unique_field(constraint: &str) -> Option<UniqueField> {
    Some(match constraint {
        "keys_pkey" | "deleted_keys_pkey" => UniqueField::Id,
        "keys_name_unique" => UniqueField::Name,
        "keys_kid_unique" => UniqueField::Kid,
        "connections_pkey" => UniqueField::ConnectionId,
        "connections_name_unique" => UniqueField::ConnectionName,
        _ => return None,
    })
}

/// The parsed `url` (connect timeout from `options` unless the URL sets one), the TLS
/// connector and the `host:port/database` it names.
fn parse_url(
    url: &str,
    options: &PgOptions,
) -> Result<(postgres::Config, MakeTlsConnector, String), StoreError> {
    let mut config = postgres::Config::from_str(url).map_err(|e| {
        StoreError::Engine(format!("not a PostgreSQL URL ({}): {e}", redacted(url)).into())
    })?;
    let target = describe(&config);
    // A server that does not answer fails a connection attempt after this, not the OS's TCP
    // timeout (the URL's `connect_timeout` wins).
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    // TLS, when the URL asks for it (`sslmode=require`, or `prefer`, libpq's default),
    // verifies the server's certificate against the system's trust store.
    let tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client())
        .map_err(|e| StoreError::Engine(Box::new(e)))?
        .build();
    Ok((config, MakeTlsConnector::new(tls), target))
}

/// `host:port/database` of a parsed URL.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("(the user's database)");
    format!("{host}:{port}/{database}")
}

/// A URL with its password replaced by `***`, for an error about the URL itself.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".into();
    };
    // The last `@` ends the credentials (a password with an unencoded `@` stays hidden).
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redacted("postgres://ks:hunter2@db:5432/keys"),
            "postgres://ks:***@db:5432/keys"
        );
        assert_eq!(redacted("postgres://db/keys"), "postgres://db/keys");
        assert!(!redacted("postgres://ks:p@ss@word@db/keys").contains("word"));
    }
}
