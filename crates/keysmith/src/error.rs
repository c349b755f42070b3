//! [`ServerError`]: why the server could not start, or why a command failed, with its cause.

/// Why the server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The crypto backend is not available.
    #[error(transparent)]
    Backend(#[from] crate::backend::SelectBackendError),
    /// A command-line action failed; the text says why.
    #[error("{0}")]
    Cli(String),
    /// A backup or restore failed.
    #[error("backup: {0}")]
    Backup(String),
    /// The `--url` of a command that talks to a running server cannot be used (an invalid URL,
    /// API key or CA file).
    #[error("--url {url}")]
    Client {
        /// The URL as given, credentials removed (`client::shown_url`).
        url: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be used.
    #[error("tls: {0}")]
    Tls(String),
    /// The master keys are missing, malformed or cannot open the stored secrets.
    #[error("master key: {0}")]
    MasterKey(String),
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The data directory could not be prepared.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Another keysmith process (a server or a restore) holds the data directory's lock.
    #[error("{0}")]
    DataDirInUse(String),
    /// The data file at `path` could not be opened.
    #[error("data file {path}")]
    DataFile {
        /// The file.
        path: String,
        /// The cause.
        source: keysmith_store::StoreError,
    },
    /// The store failed (the data file or the PostgreSQL database).
    #[error("store")]
    Store(#[from] keysmith_store::StoreError),
    /// The address could not be bound, or serving failed.
    #[error("http server on {bind}")]
    Http {
        /// The address.
        bind: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Key material could not be generated.
    #[error("crypto")]
    Crypto(#[from] keysmith_crypto::Error),
}

/// A data file that did not open, with its path.
pub(crate) fn data_file_error(
    path: &std::path::Path,
) -> impl FnOnce(keysmith_store::StoreError) -> ServerError {
    let path = path.display().to_string();
    move |source| ServerError::DataFile { path, source }
}
