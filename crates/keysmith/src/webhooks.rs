//! Webhooks: key events read from the audit trail and POSTed, signed, to each configured URL.
//!
//! Invariants:
//! - The audit trail is the outbox. A change's audit record commits in the change's own
//!   transaction, so an event is durable exactly when its change is; nothing is queued in
//!   memory that a crash could lose.
//! - Each webhook keeps its position in the trail as `webhook.position` audit records (target:
//!   the webhook's name, result: the id of the last record it has passed), written after each
//!   delivery and at least hourly. A restart resumes there; an event delivered just before a
//!   crash may be delivered again. Delivery is therefore at least once, and `Webhook-Id` (the
//!   audit record's id) is the same on every attempt, so a receiver drops repeats by it.
//! - Events go out in trail order, one at a time per webhook. A failing receiver holds back its
//!   own webhook's later events only, retried with doubling waits up to
//!   `webhook_retry_max_seconds`, for as long as it takes.
//! - The secret only signs (HMAC-SHA256 on the crypto backend); it is never logged or shown.

use std::collections::HashSet;
use std::io::Write as _;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keysmith_crypto::{KeyBackend, SigningKey};
use keysmith_model::{Algorithm, AuditQuery, AuditRecord, KeyId, PrivateMaterial, SecretBytes};
use keysmith_store::prelude::*;

use serde::Deserialize;

use crate::client::Endpoint;

/// The events a webhook may ask for.
pub const EVENTS: &[&str] = &["key.expiring", "key.rotated", "key.revoked", "key.deleted"];
/// The audit action that keeps a webhook's position in the trail.
pub const POSITION_ACTION: &str = "webhook.position";
/// The audit action of a certificate found to expire within the warning window.
pub const EXPIRING_ACTION: &str = "key.expiring";
/// The actor of the records this module writes.
const ACTOR: &str = "webhooks";
/// The shortest secret accepted (an HMAC-SHA256 key of at least 128 bits of text).
const MIN_SECRET_CHARS: usize = 32;
/// How often the trail is read for new records when there is nothing to send.
const POLL: Duration = Duration::from_secs(1);
/// How long a missing id is waited for before it is passed: on PostgreSQL a record with a
/// smaller id may commit after a greater one is visible (or never, if its transaction failed).
const GAP_WAIT: Duration = Duration::from_secs(5);
/// The position is written at least this often, so retention never prunes the last one.
const POSITION_REFRESH: Duration = Duration::from_secs(3600);
/// Records read from the trail at a time.
const READ_BATCH: usize = 200;
/// Connecting to a receiver, and each read or write on the connection, may take this long.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(10);
/// The CA bundle an https receiver is checked against when its webhook names none.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// One webhook (`[[webhooks]]`): where key events are POSTed, signed with its secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSetting {
    /// Names the webhook in logs and the audit trail (its delivery position is kept under it).
    pub name: String,
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key of the `Keysmith-Signature` header. Never logged.
    pub secret: zeroize::Zeroizing<String>,
    /// The events sent: `key.expiring`, `key.rotated`, `key.revoked`, `key.deleted`.
    pub events: Vec<String>,
    /// PEM file of the CAs an https URL's certificate may chain to; empty for the system's
    /// bundle (`/etc/ssl/certs/ca-certificates.crt`).
    #[serde(default)]
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for WebhookSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSetting")
            .field("name", &self.name)
            .field("url", &crate::client::shown_url(&self.url))
            .field("secret", &"[REDACTED]")
            .field("events", &self.events)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The event an audit record raises, if any: only changes that succeeded.
pub fn event_of(record: &AuditRecord) -> Option<&'static str> {
    let succeeded = record.result == "ok"
        || (record.result.len() == 3
            && record.result.starts_with('2')
            && record.result.bytes().all(|b| b.is_ascii_digit()));
    if !succeeded {
        return None;
    }
    match record.action.as_str() {
        EXPIRING_ACTION => Some("key.expiring"),
        "ring.rotate" | "connection.keys.rotate" | "signing-keys.rotate" => Some("key.rotated"),
        "signing-keys.revoke" => Some("key.revoked"),
        "key.delete" => Some("key.deleted"),
        _ => None,
    }
}

/// Checks the `[[webhooks]]` settings and their timings; each error names the webhook and
/// its field.
pub fn validate(
    hooks: &[WebhookSetting],
    retry_max_seconds: u64,
    expiry_check_seconds: u64,
) -> Result<(), String> {
    let mut names = HashSet::new();
    for hook in hooks {
        let field = |f: &str| format!("webhooks {:?}: {f}", hook.name);
        if hook.name.trim().is_empty() || hook.name.len() > 64 {
            return Err("webhooks: every webhook needs a name of 1 to 64 characters".into());
        }
        if !names.insert(hook.name.as_str()) {
            return Err(field("the name is used twice"));
        }
        Endpoint::parse(&hook.url).map_err(|why| field(&format!("url {why}")))?;
        if hook.secret.chars().count() < MIN_SECRET_CHARS {
            return Err(field(&format!(
                "secret must be at least {MIN_SECRET_CHARS} characters"
            )));
        }
        if hook.events.is_empty() {
            return Err(field(&format!(
                "events is empty; give some of {}",
                EVENTS.join(", ")
            )));
        }
        for event in &hook.events {
            if !EVENTS.contains(&event.as_str()) {
                return Err(field(&format!(
                    "unknown event {event:?}; the events are {}",
                    EVENTS.join(", ")
                )));
            }
        }
    }
    if retry_max_seconds == 0 || expiry_check_seconds == 0 {
        return Err(
            "webhook_retry_max_seconds and webhook_expiry_check_seconds must be at least 1".into(),
        );
    }
    Ok(())
}

/// One configured webhook, ready to send.
struct Hook {
    name: String,
    target: Endpoint,
    ca_file: PathBuf,
    events: Vec<String>,
    signer: Box<dyn SigningKey>,
}

impl Hook {
    fn new(setting: &WebhookSetting, backend: &dyn KeyBackend) -> Result<Self, String> {
        let fail = |why: String| format!("webhooks {:?}: {why}", setting.name);
        let target = Endpoint::parse(&setting.url).map_err(|why| fail(format!("url {why}")))?;
        let ca_file = if setting.ca_file.as_os_str().is_empty() {
            PathBuf::from(SYSTEM_CA_BUNDLE)
        } else {
            setting.ca_file.clone()
        };
        if target.https && !ca_file.is_file() {
            return Err(fail(format!(
                "ca_file {} is not a readable file",
                ca_file.display()
            )));
        }
        let secret =
            PrivateMaterial::HmacSecret(SecretBytes::new(setting.secret.as_bytes().to_vec()));
        let signer = backend
            .signing_key(Algorithm::HS256, &secret)
            .map_err(|e| fail(format!("secret: {e}")))?;
        Ok(Self {
            name: setting.name.clone(),
            target,
            ca_file,
            events: setting.events.clone(),
            signer,
        })
    }

    fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }

    /// POSTs `body` once; the receiver's status, or why there was none.
    fn post(&self, id: u64, event: &str, body: &[u8]) -> std::io::Result<u16> {
        let timestamp = keysmith_model::epoch_millis_now() / 1000;
        let mut signed = format!("{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let mac = self
            .signer
            .sign(&signed)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let signature: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        let target = &self.target;
        let address = (target.host.as_str(), target.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the host name resolves to no address"))?;
        let tcp = TcpStream::connect_timeout(&address, NETWORK_TIMEOUT)?;
        tcp.set_read_timeout(Some(NETWORK_TIMEOUT))?;
        tcp.set_write_timeout(Some(NETWORK_TIMEOUT))?;
        let mut stream: Box<dyn crate::client::ReadWrite> = if target.https {
            crate::client::tls_stream(tcp, &target.host, &self.ca_file)?
        } else {
            Box::new(tcp)
        };
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: keysmith/{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\
             Webhook-Id: {id}\r\nWebhook-Timestamp: {timestamp}\r\nKeysmith-Event: {event}\r\n\
             Keysmith-Signature: t={timestamp},v1={signature}\r\n\r\n",
            target.path,
            target.authority,
            env!("CARGO_PKG_VERSION"),
            body.len(),
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        Ok(crate::client::read_response(&mut *stream, &mut |_, _| {})?.status)
    }
}

/// Wakes sleeping threads when the server stops.
#[derive(Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    /// Sleeps for `duration`; whether the server is stopping.
    fn sleep(&self, duration: Duration) -> bool {
        let Ok(guard) = self.stopped.lock() else {
            return true;
        };
        match self
            .wake
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
        {
            Ok((stopped, _)) => *stopped,
            Err(_) => true,
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.lock().map_or(true, |s| *s)
    }

    fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
        }
        self.wake.notify_all();
    }
}

/// When certificates count as expiring and how often they are checked, and the longest wait
/// between delivery attempts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// `key.expiring` for certificates that expire within this.
    pub(crate) expiry_window: Duration,
    /// How often certificates are checked.
    pub(crate) expiry_check: Duration,
    /// The longest wait between two attempts to deliver one event.
    pub(crate) retry_max: Duration,
}

/// The running webhook threads: one per webhook, and one that raises `key.expiring`.
pub(crate) struct Webhooks {
    stop: Arc<Stop>,
    threads: Vec<JoinHandle<()>>,
}

impl Webhooks {
    /// Starts a thread per webhook (none when there are no webhooks). Fails, naming the
    /// webhook, when one cannot be used (its CA file, its secret on this backend).
    pub(crate) fn start(
        hooks: &[WebhookSetting],
        timing: Timing,
        store: Arc<dyn KeyStore>,
        backend: &dyn KeyBackend,
    ) -> Result<Self, String> {
        let stop = Arc::new(Stop::default());
        let hooks = hooks
            .iter()
            .map(|setting| Hook::new(setting, backend))
            .collect::<Result<Vec<_>, _>>()?;
        let mut threads = Vec::new();
        if hooks.iter().any(|h| h.wants("key.expiring")) {
            let (store, stop) = (store.clone(), stop.clone());
            let Timing {
                expiry_window: window,
                expiry_check: every,
                ..
            } = timing;
            threads.push(std::thread::spawn(move || {
                let mut raised = None;
                loop {
                    if let Err(err) = raise_expiring(&*store, window, &mut raised) {
                        tracing::warn!(error = %err, "webhooks: could not check certificate expiry");
                    }
                    if stop.sleep(every) {
                        return;
                    }
                }
            }));
        }
        let retry_max = timing.retry_max;
        for hook in hooks {
            let (store, stop) = (store.clone(), stop.clone());
            tracing::info!(webhook = %hook.name, url = %crate::client::shown_url(&format!(
                "{}://{}{}", if hook.target.https { "https" } else { "http" },
                hook.target.authority, hook.target.path)), events = ?hook.events, "webhook on");
            threads.push(std::thread::spawn(move || {
                Dispatcher {
                    hook,
                    store: &*store,
                    stop: &stop,
                    retry_max,
                }
                .run();
            }));
        }
        Ok(Self { stop, threads })
    }

    /// Stops the threads (a delivery in flight finishes or times out) and waits for them.
    pub(crate) async fn stop(self) {
        self.stop.stop();
        let threads = self.threads;
        let _ = actix_web::rt::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// Appends a `key.expiring` record for each key whose certificate expires before now +
/// `window` and that has none yet. `raised` holds the keys that have one: read from the trail
/// at the first check (one search: a filtered audit search reads its whole time range, so it
/// is not paged), then kept up to date here. Returns how many it appended.
fn raise_expiring(
    store: &dyn KeyStore,
    window: Duration,
    raised: &mut Option<HashSet<String>>,
) -> Result<usize, keysmith_store::StoreError> {
    let now = store.now_millis()?;
    let horizon = now.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let raised = match raised {
        Some(raised) => raised,
        None => {
            let (records, _) = store.search_audit(&AuditQuery {
                action: Some(EXPIRING_ACTION.into()),
                number_of_results: usize::MAX,
                ..Default::default()
            })?;
            raised.insert(records.into_iter().map(|r| r.target).collect())
        }
    };
    let mut fresh = Vec::new();
    let mut after = None;
    loop {
        let page = store.expiring_before(horizon, after, 500)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.expiration_instant.map(|at| (at, last.id));
        for key in page {
            let id = key.id.to_string();
            if !raised.contains(&id) {
                fresh.push(AuditRecord {
                    id: 0,
                    at: now,
                    actor: ACTOR.into(),
                    action: EXPIRING_ACTION.into(),
                    target: id,
                    result: "ok".into(),
                    request_id: None,
                    uses: None,
                });
            }
        }
        if after.is_none() {
            break;
        }
    }
    store.append_audit(&fresh)?;
    raised.extend(fresh.iter().map(|r| r.target.clone()));
    Ok(fresh.len())
}

/// One webhook's delivery loop.
struct Dispatcher<'a> {
    hook: Hook,
    store: &'a dyn KeyStore,
    stop: &'a Stop,
    retry_max: Duration,
}

impl Dispatcher<'_> {
    fn run(self) {
        let mut position = loop {
            match self.start_position() {
                Ok(position) => break position,
                Err(err) => {
                    tracing::warn!(webhook = %self.hook.name, error = %err, "webhooks: cannot read the trail; retrying");
                    if self.stop.sleep(POLL) {
                        return;
                    }
                }
            }
        };
        let mut written = Instant::now();
        let mut gap_since: Option<Instant> = None;
        while !self.stop.is_stopped() {
            let records = match self.store.audit_after(position, READ_BATCH) {
                Ok(records) => records,
                Err(err) => {
                    tracing::warn!(webhook = %self.hook.name, error = %err, "webhooks: cannot read the trail; retrying");
                    if self.stop.sleep(POLL) {
                        return;
                    }
                    continue;
                }
            };
            let full = records.len() == READ_BATCH;
            let mut held_back = false;
            for record in records {
                if record.id != position + 1 {
                    let since = *gap_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < GAP_WAIT {
                        held_back = true;
                        break;
                    }
                }
                gap_since = None;
                let event = event_of(&record).filter(|e| self.hook.wants(e));
                if let Some(event) = event
                    && !self.deliver(&record, event)
                {
                    return;
                }
                position = record.id;
                if event.is_some() || written.elapsed() > POSITION_REFRESH {
                    self.write_position(position);
                    written = Instant::now();
                }
            }
            if (!full || held_back) && self.stop.sleep(POLL) {
                return;
            }
        }
    }

    /// Where this webhook stopped: its last position record, or (first start) the end of the
    /// trail now, recorded at once so that events from here on are never skipped.
    fn start_position(&self) -> Result<u64, keysmith_store::StoreError> {
        let mut query = AuditQuery {
            action: Some(POSITION_ACTION.into()),
            text: Some(self.hook.name.clone()),
            number_of_results: 100,
            ..Default::default()
        };
        let (page, _) = self.store.search_audit(&query)?;
        if let Some(position) = page
            .iter()
            .filter(|r| r.target == self.hook.name)
            .filter_map(|r| r.result.parse::<u64>().ok())
            .max()
        {
            tracing::info!(webhook = %self.hook.name, position, "webhook resumes after its last delivered record");
            return Ok(position);
        }
        query.action = None;
        query.text = None;
        query.number_of_results = 1;
        let (newest, _) = self.store.search_audit(&query)?;
        let position = newest.first().map_or(0, |r| r.id);
        self.store.append_audit(&[self.position_record(position)])?;
        Ok(position)
    }

    fn position_record(&self, position: u64) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: keysmith_model::epoch_millis_now(),
            actor: ACTOR.into(),
            action: POSITION_ACTION.into(),
            target: self.hook.name.clone(),
            result: position.to_string(),
            request_id: None,
            uses: None,
        }
    }

    fn write_position(&self, position: u64) {
        if let Err(err) = self.store.append_audit(&[self.position_record(position)]) {
            // Not fatal: a restart resumes from an earlier position and sends again.
            tracing::warn!(webhook = %self.hook.name, error = %err, "webhooks: position not saved");
        }
    }

    /// Sends `record` as `event` until the receiver answers 2xx; false if the server stops first.
    fn deliver(&self, record: &AuditRecord, event: &str) -> bool {
        let body = self.payload(record, event);
        let mut wait = Duration::from_secs(1).min(self.retry_max);
        let mut attempt = 1u32;
        loop {
            let failure = match self.hook.post(record.id, event, &body) {
                Ok(status) if (200..300).contains(&status) => {
                    tracing::info!(webhook = %self.hook.name, id = record.id, event, attempt, "webhook delivered");
                    return true;
                }
                Ok(status) => format!("answered {status}"),
                Err(err) => err.to_string(),
            };
            tracing::warn!(
                webhook = %self.hook.name, id = record.id, event, attempt,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "webhook not delivered: {failure}"
            );
            if self.stop.sleep(wait) {
                return false;
            }
            wait = (wait * 2).min(self.retry_max);
            attempt = attempt.saturating_add(1);
        }
    }

    /// The JSON body: the event, the audit record's fields, and for a key event the key's
    /// public description as it is now (ids, name, algorithm, expiry; never key material).
    fn payload(&self, record: &AuditRecord, event: &str) -> Vec<u8> {
        let key = record
            .target
            .parse::<KeyId>()
            .ok()
            .and_then(|id| self.store.get_key(&id).ok().flatten())
            .map(|key| {
                serde_json::json!({
                    "id": key.id.to_string(),
                    "kid": key.kid,
                    "name": key.name,
                    "algorithm": key.algorithm.to_string(),
                    "expirationInstant": key.expiration_instant,
                })
            });
        let body = serde_json::json!({
            "id": record.id.to_string(),
            "event": event,
            "action": record.action,
            "at": record.at,
            "actor": record.actor,
            "target": record.target,
            "requestId": record.request_id,
            "key": key,
        });
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successful_changes_raise_events() {
        let record = |action: &str, result: &str| AuditRecord {
            id: 1,
            at: 0,
            actor: "api-key:admin:0".into(),
            action: action.into(),
            target: "t".into(),
            result: result.into(),
            request_id: None,
            uses: None,
        };
        assert_eq!(event_of(&record("key.delete", "200")), Some("key.deleted"));
        assert_eq!(event_of(&record("key.delete", "ok")), Some("key.deleted"));
        assert_eq!(event_of(&record("key.delete", "404")), None);
        assert_eq!(event_of(&record("ring.rotate", "ok")), Some("key.rotated"));
        assert_eq!(
            event_of(&record("connection.keys.rotate", "201")),
            Some("key.rotated")
        );
        assert_eq!(
            event_of(&record("signing-keys.revoke", "200")),
            Some("key.revoked")
        );
        assert_eq!(
            event_of(&record("key.expiring", "ok")),
            Some("key.expiring")
        );
        assert_eq!(event_of(&record("key.generate", "200")), None);
        assert_eq!(event_of(&record(POSITION_ACTION, "42")), None);
        assert_eq!(event_of(&record("key.delete", "2xx")), None);
    }

    #[test]
    fn a_webhook_setting_never_prints_its_secret() {
        let setting = WebhookSetting {
            name: "ops".into(),
            url: "https://user:pw@hooks.example.com/k".into(),
            secret: zeroize::Zeroizing::new("a-secret-that-must-not-show-0123456789".into()),
            events: vec!["key.deleted".into()],
            ca_file: PathBuf::new(),
        };
        let printed = format!("{setting:?}");
        assert!(!printed.contains("a-secret"), "{printed}");
        assert!(!printed.contains("pw@"), "{printed}");
        assert!(
            printed.contains("ops") && printed.contains("[REDACTED]"),
            "{printed}"
        );
    }
}
