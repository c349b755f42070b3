//! A real PostgreSQL server for tests: a new cluster in a temporary directory on a free
//! loopback port, run with the Debian `postgresql` package's own `initdb` and `pg_ctl` (from
//! `/usr/lib/postgresql/<version>/bin`, the newest there, or `KS_POSTGRES_BIN`). As root the
//! tools run as the `postgres` user, since PostgreSQL refuses to run as root.
//!
//! Tests use it to crash the server (`stop_immediately`: no shutdown checkpoint, so the next
//! start runs crash recovery), to take it away for a while (`stop`, then `start` on the same
//! directory and port), and to read its log. Dropping it stops the server and removes the
//! directory.
//!
//! Without PostgreSQL installed, [`TestPostgres::start`] says so ([`Unavailable`]): the caller
//! prints `SKIPPED` and, under CI (`CI` set), fails instead (see [`TestPostgres::start_or_skip`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The role every test cluster is created with (trust authentication on loopback only).
pub const TEST_ROLE: &str = "keysmith";

/// PostgreSQL is not installed here, or its tools could not run: why.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A running (or stopped) test cluster. See the module docs.
#[derive(Debug)]
pub struct TestPostgres {
    bin: PathBuf,
    /// Removed on drop (after the server is stopped).
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
    as_postgres_user: bool,
}

impl TestPostgres {
    /// Creates a cluster (`initdb`, `--no-sync`: tests that cut the power use a disk of their
    /// own) and starts it on a free loopback port.
    pub fn start() -> Result<Self, Unavailable> {
        let bin = find_bin()?;
        let as_postgres_user = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("keysmith-pg-")
            .tempdir()
            .map_err(|e| Unavailable(format!("no temporary directory: {e}")))?;
        if as_postgres_user {
            // The cluster's files must belong to the user the server runs as.
            run_checked(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
            )?;
        }
        let mut server = Self {
            bin,
            dir,
            port: free_port()?,
            running: false,
            as_postgres_user,
        };
        let data = server.data_dir();
        server.tool_checked(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                TEST_ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        server.start_again()?;
        Ok(server)
    }

    /// [`Self::start`], or `None` after printing `SKIPPED: <what>` when PostgreSQL is not
    /// installed. Under CI (`CI` set) a missing PostgreSQL fails the test instead.
    #[allow(clippy::panic)]
    pub fn start_or_skip(what: &str) -> Option<Self> {
        match Self::start() {
            Ok(server) => Some(server),
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("{what} needs PostgreSQL, and CI must not skip it: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: {what}: {why} (scripts/install-deps.sh installs it)");
                None
            }
        }
    }

    /// The server's port on 127.0.0.1 (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the test role.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{TEST_ROLE}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Creates a database owned by the test role (through the `postgres` database).
    pub fn create_database(&self, name: &str) -> Result<(), Unavailable> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Unavailable(format!("not a plain database name: {name}")));
        }
        let psql = self.bin.join("psql");
        let url = self.url("postgres");
        run_checked(
            Command::new(psql)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-c"])
                .arg(format!("CREATE DATABASE {name}")),
        )
        .map(drop)
    }

    /// Starts the server on its directory and port (after [`Self::stop`] or
    /// [`Self::stop_immediately`]; recovers from a crash), waiting until it accepts connections.
    pub fn start_again(&mut self) -> Result<(), Unavailable> {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log");
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=on",
            self.port,
            path_str(self.dir.path())?
        );
        self.tool_checked(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        )?;
        self.running = true;
        Ok(())
    }

    /// Stops the server cleanly (clients are disconnected; a shutdown checkpoint is written).
    pub fn stop(&mut self) -> Result<(), Unavailable> {
        self.stop_with("fast")
    }

    /// Stops the server as a crash would (`pg_ctl -m immediate`: no checkpoint; the next start
    /// replays the write-ahead log).
    pub fn stop_immediately(&mut self) -> Result<(), Unavailable> {
        self.stop_with("immediate")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn stop_with(&mut self, mode: &str) -> Result<(), Unavailable> {
        if !self.running {
            return Ok(());
        }
        let data = self.data_dir();
        self.tool_checked(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", mode, "-w", "stop"],
        )?;
        self.running = false;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn tool_checked(&self, tool: &str, args: &[&str]) -> Result<Output, Unavailable> {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args);
        // A process group of its own: the server it starts never shares the test's, so no
        // signal meant for one reaches the other.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        run_checked(&mut command)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Immediate: the cluster is thrown away with its directory.
        let _ = self.stop_with("immediate");
    }
}

fn run_checked(command: &mut Command) -> Result<Output, Unavailable> {
    let output = command
        .output()
        .map_err(|e| Unavailable(format!("{command:?} could not run: {e}")))?;
    if !output.status.success() {
        return Err(Unavailable(format!(
            "{command:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(output)
}

/// `KS_POSTGRES_BIN`, or the newest `/usr/lib/postgresql/<version>/bin` with an `initdb`.
fn find_bin() -> Result<PathBuf, Unavailable> {
    if let Some(bin) = std::env::var_os("KS_POSTGRES_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .map_err(|_| {
            Unavailable(format!(
                "PostgreSQL is not installed ({} is missing)",
                root.display()
            ))
        })?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    newest
        .map(|(_, bin)| bin)
        .ok_or_else(|| Unavailable(format!("no initdb under {}", root.display())))
}

fn free_port() -> Result<u16, Unavailable> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| Unavailable(format!("no free port: {e}")))
}

fn path_str(path: &Path) -> Result<&str, Unavailable> {
    path.to_str()
        .ok_or_else(|| Unavailable(format!("not a UTF-8 path: {}", path.display())))
}

/// Whether this process runs as root (the server must then run as `postgres`).
fn running_as_root() -> bool {
    // `id -u` keeps `unsafe` (getuid) out of the crate; it runs once per test cluster.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}
