//! A small HTTP/1.1 client for the command line's online mode (`--url`): one request per
//! connection, `http://` or `https://` (on the backend's TLS stack, trusting `--ca-file`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where a URL points: `http://` or `https://`, a host (a bracketed IPv6 literal keeps its
/// colons), a port (the scheme's by default) and a path (`/` by default). A URL with
/// credentials in it is refused. The error says what is wrong, to follow the setting's name.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host:port` as the `Host` header gives it.
    pub(crate) authority: String,
    pub(crate) path: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("must start with http:// or https://".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err("must not carry credentials".into());
        }
        let default_port = if https { 443 } else { 80 };
        let port_of = |text: &str| {
            text.parse::<u16>()
                .map_err(|_| "has a port that is not a number".to_owned())
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "has a [ without its ]".to_owned())?;
            match after.strip_prefix(':') {
                Some(port) => (host, port_of(port)?),
                None if after.is_empty() => (host, default_port),
                None => return Err("has text after its ]".into()),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port_of(port)?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() || path.contains(['\r', '\n', ' ']) {
            return Err("has no host, or a path with spaces or line breaks".into());
        }
        Ok(Self {
            https,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Where the server is and how to authenticate.
#[derive(Clone)]
pub struct Client {
    https: bool,
    host: String,
    port: u16,
    api_key: String,
    ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Client({}:{}, https: {})",
            self.host, self.port, self.https
        )
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, message.into())
}

/// `url` as it may be shown in a message: anything before an `@` in its authority (a user name
/// and password, which Keysmith never takes there) is replaced by `…`.
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if scheme.is_empty() => format!("…{}", &rest[at..]),
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl Client {
    /// A client for `url` (`http://host:port` or `https://host:port`).
    pub fn new(url: &str, api_key: &str, ca_file: Option<PathBuf>) -> std::io::Result<Self> {
        let Endpoint {
            https,
            host,
            port,
            path,
            ..
        } = Endpoint::parse(url).map_err(|why| {
            if why.contains("credentials") {
                invalid(format!(
                    "--url {why}: give the API key with --api-key or KEYSMITH_API_KEY"
                ))
            } else {
                invalid(format!("--url {why}"))
            }
        })?;
        if path != "/" {
            return Err(invalid(
                "--url takes the server's address only, without a path",
            ));
        }
        if https && ca_file.is_none() {
            return Err(invalid(
                "https needs --ca-file with the server's CA certificate (PEM)",
            ));
        }
        Ok(Self {
            https,
            host,
            port,
            api_key: api_key.to_owned(),
            ca_file,
        })
    }

    /// Sends one request with the API key; calls `progress(received, total)` while reading.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> std::io::Result<Response> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(300)))?;
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            self.api_key,
            body.len()
        );
        let mut stream = self.wrap(tcp)?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        read_response(&mut *stream, progress)
    }

    fn wrap(&self, tcp: TcpStream) -> std::io::Result<Box<dyn ReadWrite>> {
        if !self.https {
            return Ok(Box::new(tcp));
        }
        let ca = self.ca_file.clone().unwrap_or_default();
        tls_stream(tcp, &self.host, &ca)
    }
}

/// A byte stream both ways.
pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A TLS client stream over `tcp` to `host`, trusting the CAs in `ca` (PEM).
#[cfg(feature = "aws-lc")]
pub(crate) fn tls_stream(
    tcp: TcpStream,
    host: &str,
    ca: &std::path::Path,
) -> std::io::Result<Box<dyn ReadWrite>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| invalid(e.to_string()))? {
        roots
            .add(cert.map_err(|e| invalid(e.to_string()))?)
            .map_err(|e| invalid(e.to_string()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| invalid(e.to_string()))?;
    let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(Box::new(rustls::StreamOwned::new(connection, tcp)))
}

/// A TLS client stream over `tcp` to `host`, trusting the CAs in `ca` (PEM).
#[cfg(not(feature = "aws-lc"))]
pub(crate) fn tls_stream(
    tcp: TcpStream,
    host: &str,
    ca: &std::path::Path,
) -> std::io::Result<Box<dyn ReadWrite>> {
    use openssl::ssl::{SslConnector, SslMethod};
    let mut builder =
        SslConnector::builder(SslMethod::tls_client()).map_err(|e| invalid(e.to_string()))?;
    builder
        .set_ca_file(ca)
        .map_err(|e| invalid(e.to_string()))?;
    let stream = builder
        .build()
        .connect(host, tcp)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(Box::new(stream))
}

/// Reads a whole response (the peer closes the connection after it).
pub(crate) fn read_response(
    stream: &mut dyn ReadWrite,
    progress: &mut dyn FnMut(u64, u64),
) -> std::io::Result<Response> {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            // A TLS peer that closes without close_notify: what was read is what was sent.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        };
        raw.extend_from_slice(&buffer[..read]);
        if total == 0
            && let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            total = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
        }
        progress(raw.len() as u64, total);
    }
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("the server closed the connection before answering"))?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("not an HTTP response"))?;
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body).ok_or_else(|| invalid("a malformed chunked body"))?;
    }
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = data.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_into_host_port_and_path() {
        let t = Endpoint::parse("https://hooks.example.com/k?x=1").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "hooks.example.com", 443, "/k?x=1")
        );
        let t = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.authority.as_str()),
            (8080, "/", "127.0.0.1:8080")
        );
        let t = Endpoint::parse("http://[::1]:9/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert_eq!(Endpoint::parse("http://[::1]/").unwrap().port, 80);
        for bad in [
            "ftp://h/",
            "http://u:p@h/",
            "http://h:port/",
            "http:///x",
            "http://[::1/",
            "http://h/a b",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        let url = "http://admin:hunter2@127.0.0.1:9011/";
        let Err(refusal) = Client::new(url, "key", None) else {
            panic!("a URL with credentials was accepted");
        };
        assert!(!refusal.to_string().contains("hunter2"), "{refusal}");
        assert_eq!(shown_url(url), "http://…@127.0.0.1:9011/");
        assert_eq!(shown_url("admin:pw@host:1"), "…@host:1");
        assert_eq!(shown_url("http://host:1/a@b"), "http://host:1/a@b");
    }
}
