//! Runs the `openssl` command line in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::Command;

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

fn path_str(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}
