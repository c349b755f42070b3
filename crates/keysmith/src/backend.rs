//! Choosing the crypto backend.

use std::fmt;
use std::sync::Arc;

use keysmith_crypto::KeyBackend;

#[cfg(not(any(feature = "aws-lc", feature = "openssl")))]
compile_error!(
    "keysmith needs a crypto backend: enable the `aws-lc` feature (the default) or the `openssl` feature, e.g. `--no-default-features --features openssl`"
);

/// A backend this build can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// aws-lc-rs (feature `aws-lc`).
    AwsLc,
    /// OpenSSL 3 (feature `openssl`).
    OpenSsl,
}

impl BackendKind {
    /// The name used in configuration: `aws-lc` or `openssl`.
    pub fn config_name(self) -> &'static str {
        match self {
            BackendKind::AwsLc => "aws-lc",
            BackendKind::OpenSsl => "openssl",
        }
    }

    /// Parses a configuration name.
    pub fn from_config_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "aws-lc" | "aws-lc-rs" | "awslc" => Some(BackendKind::AwsLc),
            "openssl" => Some(BackendKind::OpenSsl),
            _ => None,
        }
    }

    /// Whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        compiled_backends().contains(&self)
    }

    fn instantiate(self) -> Option<Arc<dyn KeyBackend>> {
        match self {
            #[cfg(feature = "aws-lc")]
            BackendKind::AwsLc => Some(Arc::new(keysmith_crypto_aws_lc::AwsLcBackend::new())),
            #[cfg(feature = "openssl")]
            BackendKind::OpenSsl => Some(Arc::new(keysmith_crypto_openssl::OpenSslBackend::new())),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

/// The backends compiled into this build, the default first.
pub fn compiled_backends() -> &'static [BackendKind] {
    &[
        #[cfg(feature = "aws-lc")]
        BackendKind::AwsLc,
        #[cfg(feature = "openssl")]
        BackendKind::OpenSsl,
    ]
}

/// The chosen backend and why it was chosen (for the start-up log line).
#[derive(Clone)]
pub struct SelectedBackend {
    /// The backend, shared by everything that needs crypto.
    pub backend: Arc<dyn KeyBackend>,
    /// Which one it is.
    pub kind: BackendKind,
    /// Why: `"configured"`, `"only backend compiled in"` or `"default of several compiled in"`.
    pub reason: &'static str,
}

impl fmt::Debug for SelectedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedBackend")
            .field("kind", &self.kind)
            .field("reason", &self.reason)
            .finish()
    }
}

/// A configured backend this build cannot provide.
#[derive(Debug, thiserror::Error)]
#[error("crypto backend `{requested}` is not available in this build; compiled in: {available}")]
pub struct SelectBackendError {
    /// What configuration asked for.
    pub requested: String,
    /// What the build has, comma-separated.
    pub available: String,
}

/// Chooses the backend: the configured one (`aws-lc` or `openssl`) if given, otherwise the only
/// one compiled in, otherwise `aws-lc` (the default feature).
pub fn select_backend(configured: Option<&str>) -> Result<SelectedBackend, SelectBackendError> {
    let compiled = compiled_backends();
    let error = |requested: &str| SelectBackendError {
        requested: requested.to_owned(),
        available: compiled
            .iter()
            .map(|k| k.config_name())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let (kind, reason) = match configured.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => {
            let kind = BackendKind::from_config_name(name)
                .filter(|k| k.is_compiled())
                .ok_or_else(|| error(name))?;
            (kind, "configured")
        }
        None => match compiled {
            [only] => (*only, "only backend compiled in"),
            [first, ..] => (*first, "default of several compiled in"),
            [] => return Err(error("any")),
        },
    };
    let backend = kind
        .instantiate()
        .ok_or_else(|| error(kind.config_name()))?;
    Ok(SelectedBackend {
        backend,
        kind,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_name_wins_and_unknown_names_fail_clearly() {
        for kind in compiled_backends() {
            let selected = select_backend(Some(kind.config_name())).unwrap();
            assert_eq!(selected.kind, *kind);
            assert_eq!(selected.reason, "configured");
        }
        let err = select_backend(Some("ring")).unwrap_err();
        assert!(err.to_string().contains("`ring` is not available"));
        let default = select_backend(None).unwrap();
        assert_eq!(default.kind, compiled_backends()[0]);
    }
}
