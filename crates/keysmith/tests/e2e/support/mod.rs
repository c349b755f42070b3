//! The test kit: starts the real `keysmith` binary on a free port with a temporary data
//! directory, and talks HTTP/1.1 to it over a plain TCP socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The API key every test server accepts.
pub(crate) const API_KEY: &str = "test-api-key-0123456789abcdef";

/// A response.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a 400 with FusionAuth's Errors JSON and returns its codes.
    pub(crate) fn error_codes(&self) -> Vec<String> {
        assert_eq!(
            self.status,
            400,
            "expected 400, got {}: {}",
            self.status,
            self.text()
        );
        assert!(
            self.header("content-type")
                .unwrap_or_default()
                .starts_with("application/json")
        );
        let json = self.json();
        let mut codes = Vec::new();
        for details in json["fieldErrors"]
            .as_object()
            .expect("fieldErrors")
            .values()
        {
            for d in details.as_array().unwrap() {
                codes.push(d["code"].as_str().unwrap().to_owned());
            }
        }
        for d in json["generalErrors"].as_array().expect("generalErrors") {
            codes.push(d["code"].as_str().unwrap().to_owned());
        }
        codes
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    try_http(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} on {addr}: {e}"))
}

/// The same, with connection failures (a server that died) as errors.
pub(crate) fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    // Read the head, then the body by its Content-Length (not to EOF: a server may keep the
    // connection a while to drain an unread request body).
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let n = read_some(&mut stream, &mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::other(
                "connection closed before the end of the headers",
            ));
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let length = String::from_utf8_lossy(&raw[..split])
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
    match length {
        Some(length) => {
            while raw.len() < split + 4 + length {
                let n = read_some(&mut stream, &mut chunk)?;
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut raw)?;
        }
    }
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// One `read`, again if a signal interrupted it. A socket with a receive timeout is never
/// restarted after a signal handler runs (socket(7)), and the test process gets signals it
/// does not send itself: glibc's set-id broadcast, or a stop and continue of its process group,
/// which the PostgreSQL servers of the tests share.
fn read_some(stream: &mut TcpStream, buffer: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match stream.read(buffer) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A running server.
pub(crate) struct Server {
    child: Option<Child>,
    pub addr: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    tls: bool,
    _temp: Option<tempfile::TempDir>,
    /// The database server of a server on a PostgreSQL store (stopped after it).
    _postgres: Option<keysmith_store::testing::postgres::TestPostgres>,
}

/// Set to `postgres` (`.ci/run` does, for the suites that do not test the data file), every
/// server [`Server::start`] starts keeps its keys in a PostgreSQL server of its own instead of
/// the data file.
pub(crate) const E2E_STORE: &str = "KS_E2E_STORE";

/// The master key of servers on a PostgreSQL store (a node never generates one there).
const POSTGRES_MASTER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

/// Whether [`E2E_STORE`] asks for PostgreSQL.
pub(crate) fn on_postgres() -> bool {
    std::env::var(E2E_STORE).is_ok_and(|v| v == "postgres")
}

/// How to start a server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub api_key: Option<String>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl Server {
    /// A server with `backend` on a fresh data directory (or, with [`E2E_STORE`], a fresh
    /// PostgreSQL database), accepting [`API_KEY`].
    pub(crate) fn start(backend: &str) -> Server {
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let mut options = Options {
            api_key: Some(API_KEY.into()),
            ..Default::default()
        };
        let postgres = on_postgres().then(|| {
            let server = keysmith_store::testing::postgres::TestPostgres::start()
                .unwrap_or_else(|why| panic!("{E2E_STORE}=postgres, but {why}"));
            server.create_database("keysmith").unwrap();
            options
                .env
                .push(("KEYSMITH_STORE".into(), server.url("keysmith")));
            options
                .env
                .push(("KEYSMITH_MASTER_KEY".into(), POSTGRES_MASTER_KEY.into()));
            server
        });
        let mut server = Self::start_in(&data, backend, options);
        server._temp = Some(temp);
        server._postgres = postgres;
        if on_postgres() {
            assert!(
                server.log().contains("store=postgres 127.0.0.1:"),
                "{}",
                server.log()
            );
        }
        server
    }

    /// A server on `data`.
    pub(crate) fn start_in(data: &Path, backend: &str, options: Options) -> Server {
        Self::try_start_in(data, backend, options)
            .unwrap_or_else(|(status, log)| panic!("keysmith exited ({status:?}):\n{log}"))
    }

    /// A server on `data`, or its exit status and output if it stops before serving.
    pub(crate) fn try_start_in(
        data: &Path,
        backend: &str,
        options: Options,
    ) -> Result<Server, (Option<ExitStatus>, String)> {
        Self::spawn_in(data, backend, options).ready()
    }

    /// Starts the binary on `data` and returns at once, before it serves: for a test that
    /// kills a server while it starts.
    pub(crate) fn spawn_in(data: &Path, backend: &str, options: Options) -> Server {
        // Port 0: the server takes a free port itself and names it in its start-up line, which
        // `ready` reads. (A port picked here and bound later could be taken in between, by
        // another test's server or PostgreSQL, and the probe would then talk to that.)
        let addr = "127.0.0.1:0".to_owned();
        let mut command = keysmith_command();
        command
            .args(["serve", "--bind", &addr, "--data"])
            .arg(data)
            .args(["--backend", backend]);
        command.args(&options.args);
        command.env("KEYSMITH_LOG", "info,actix_server=warn");
        if let Some(key) = &options.api_key {
            command.env("KEYSMITH_API_KEY", key);
        }
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keysmith");
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let tls = options
            .env
            .iter()
            .any(|(name, _)| name == "KEYSMITH_TLS_CERTIFICATE");
        Server {
            child: Some(child),
            addr,
            stderr,
            reader: Some(reader),
            tls,
            _temp: None,
            _postgres: None,
        }
    }

    /// Waits up to 30 s until the server serves, or returns its exit status and output if it
    /// stops first.
    fn ready(mut self) -> Result<Server, (Option<ExitStatus>, String)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let child = self.child.as_mut().unwrap();
            if let Some(status) = child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return Err((Some(status), self.log()));
            }
            if self.addr.ends_with(":0")
                && let Some(bound) = bound_address(&self.log())
            {
                self.addr = bound;
            }
            let ready = if self.addr.ends_with(":0") {
                false
            } else if self.tls {
                // HTTPS: this plain-HTTP client cannot ask; the start-up line says it listens.
                true
            } else {
                try_http(&self.addr, "GET", "/api/status", &[], None)
                    .is_ok_and(|response| response.status == 200)
            };
            if ready {
                return Ok(self);
            }
            assert!(
                Instant::now() < deadline,
                "keysmith did not become ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything the server wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A request with the test API key.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| b.to_string().into_bytes());
        http(
            &self.addr,
            method,
            path,
            &[
                ("Authorization", API_KEY),
                ("Content-Type", "application/json"),
            ],
            body.as_deref(),
        )
    }

    /// A request with explicit headers and a raw body.
    pub(crate) fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        http(&self.addr, method, path, headers, body)
    }

    /// Kills the process with SIGKILL: no chance to flush or close anything.
    pub(crate) fn kill_9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits up to `timeout` for the process to exit by itself. Returns its status (`None`:
    /// still running, then killed) and whole log.
    pub(crate) fn wait_for_exit(mut self, timeout: Duration) -> (Option<ExitStatus>, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.log())
    }

    /// Sends SIGTERM, waits for the process to exit, and returns its status and whole log.
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                if let Some(reader) = self.reader.take() {
                    reader.join().unwrap();
                }
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "keysmith did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `keysmith` binary as a command, with no `KEYSMITH_*` variable inherited from the test's
/// environment (each test sets what it needs).
pub(crate) fn keysmith_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keysmith"));
    for (name, _) in std::env::vars() {
        if name.starts_with("KEYSMITH_") {
            command.env_remove(name);
        }
    }
    command
}

/// A self-signed P-256 certificate for `localhost` and 127.0.0.1, valid `days`, made by the
/// `openssl` command line in `dir`: (certificate path, private key path).
pub(crate) fn openssl_certificate(dir: &Path, days: u32) -> (String, String) {
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args([
            "-days",
            &days.to_string(),
            "-subj",
            "/CN=localhost",
            "-addext",
        ])
        .args([
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &cert,
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// The address in the start-up line (`keysmith listening … bind=127.0.0.1:PORT …`), once
/// it is logged.
fn bound_address(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("keysmith listening"))?;
    let start = line.find(" bind=")? + " bind=".len();
    let address = line[start..].split([' ', ',']).next()?;
    Some(address.to_owned())
}

/// The backends this build of the binary has, by their config names.
pub(crate) fn backends() -> Vec<&'static str> {
    keysmith::backend::compiled_backends()
        .iter()
        .map(|k| k.config_name())
        .collect()
}

/// The value of `variable`, which names a tool a test needs that `.ci/run` installs (the
/// official clients' Python, the browser). Without it the test is skipped and says so with
/// `SKIPPED` on stderr, except under CI (`CI` set), where a skip is a failure.
pub(crate) fn tool(variable: &str, what: &str) -> Option<std::ffi::OsString> {
    if let Some(value) = std::env::var_os(variable) {
        return Some(value);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{variable} is not set, so {what} cannot run; CI must not skip it (.ci/run sets it)"
    );
    eprintln!("SKIPPED: {what}: {variable} is not set (.ci/run sets it)");
    None
}

/// Runs a check script written against tools nobody here wrote (the vendors' clients):
/// `program script args…`, in `dir` when given, with `env` added. Prints its output and asserts
/// that it succeeds and prints `done`; `label` names the run in failures.
pub(crate) fn run_check_script(
    program: &std::ffi::OsStr,
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    dir: Option<&Path>,
    label: &str,
    done: &str,
) {
    let mut command = Command::new(program);
    command.arg(script).args(args).envs(env.iter().copied());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{label}: cannot run {program:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{label}:\n{stdout}");
    assert!(
        output.status.success(),
        "{label} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(done), "{label} did not finish:\n{stdout}");
}
