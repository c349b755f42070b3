//! Runs the `openssl` command line in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use keysmith_model::{Algorithm, HashAlgorithm};
use tempfile::TempDir;

/// A scratch directory and the `openssl` tool.
#[derive(Debug)]
pub struct OpensslCli {
    dir: TempDir,
}

impl Default for OpensslCli {
    fn default() -> Self {
        Self::new()
    }
}

impl OpensslCli {
    /// A new scratch directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// The path of `name` in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` and returns its path as a string.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write scratch file");
        path_str(&path)
    }

    /// Reads `name` from the scratch directory.
    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read scratch file")
    }

    /// Reads `name` as text.
    pub fn read_text(&self, name: &str) -> String {
        String::from_utf8(self.read(name)).expect("utf-8")
    }

    /// Runs `openssl args...` in the scratch directory; panics with its output unless it
    /// succeeds. Returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let (ok, stdout, stderr) = self.try_run(args);
        assert!(ok, "openssl {} failed:\n{stdout}\n{stderr}", args.join(" "));
        stdout
    }

    /// Runs `openssl args...` and returns (success, stdout, stderr).
    pub fn try_run(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the openssl command line must be installed (Debian package `openssl`)");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl OpensslCli {
    /// `openssl dgst -sign` of `message` with the algorithm's hash (and PSS with salt = hash
    /// length for PS*), writing the signature to `out`.
    pub fn dgst_sign(&self, algorithm: Algorithm, key: &str, message: &str, out: &str) {
        let mut args = vec!["dgst", digest_flag(algorithm), "-sign", key, "-out", out];
        args.extend_from_slice(pss_options(algorithm));
        args.push(message);
        self.run(&args);
    }

    /// `openssl dgst -verify` of `message` against `signature`; returns the CLI's output.
    pub fn dgst_verify(
        &self,
        algorithm: Algorithm,
        public_key: &str,
        signature: &str,
        message: &str,
    ) -> String {
        let mut args = vec![
            "dgst",
            digest_flag(algorithm),
            "-verify",
            public_key,
            "-signature",
            signature,
        ];
        args.extend_from_slice(pss_options(algorithm));
        args.push(message);
        self.run(&args)
    }
}

/// The `openssl dgst` flag for an algorithm's hash (SHA-256 for Ed25519, which has none).
pub fn digest_flag(algorithm: Algorithm) -> &'static str {
    match algorithm.hash() {
        Some(HashAlgorithm::Sha384) => "-sha384",
        Some(HashAlgorithm::Sha512) => "-sha512",
        _ => "-sha256",
    }
}

/// RSASSA-PSS with the salt as long as the hash (RFC 7518 §3.5), for PS* algorithms.
fn pss_options(algorithm: Algorithm) -> &'static [&'static str] {
    if algorithm.is_pss() {
        &[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]
    } else {
        &[]
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}
