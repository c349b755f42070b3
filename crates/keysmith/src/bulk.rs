//! `keysmith key generate --count N`: keys named `<name> #1` to `<name> #N`, with a progress bar
//! on stderr and the keys printed as they are made (a table, or `{"keys":[…]}` with `--json`),
//! so memory does not grow with N.
//!
//! Offline, every name is checked free first (a taken one stops the run before any key is made);
//! then [`workers`] threads make keys in parallel, [`CHUNK`] at a time, and store each chunk as
//! one change through the store's group commit. Each key's audit row (`cli`, `key.generate`)
//! is written in its key's transaction. Online, the keys are asked for one by
//! one (the server batches the commits of concurrent clients). A failure stops the run: the
//! keys made so far stay, are printed (the JSON stays whole), and the error says how many.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;

use keysmith_core::{GenerateRequest, KeyService, ServiceError};
use keysmith_model::Key;
use keysmith_store::{AuditContext, with_audit_context};
use serde_json::Value;

use crate::error::ServerError;

/// What every key of the run is made with (the name is numbered).
pub(crate) struct Template<'a> {
    pub(crate) algorithm: &'a str,
    pub(crate) name: &'a str,
    pub(crate) length: Option<u32>,
    pub(crate) issuer: Option<&'a str>,
}

impl Template<'_> {
    fn name(&self, n: u32) -> String {
        format!("{} #{n}", self.name)
    }
}

/// Threads making keys offline: four per core, so that some make keys while the others wait
/// for their chunk's commit.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}

/// Keys a worker makes before storing them as one change: a commit and a queue hand-off per
/// chunk instead of per key.
const CHUNK: u32 = 256;

/// Prints keys as they come: a table, or one `{"keys":[…]}` line.
pub(crate) struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    as_json: bool,
    printed: u64,
}

impl Printer {
    pub(crate) fn new(as_json: bool) -> Self {
        let mut printer = Self {
            out: std::io::BufWriter::new(std::io::stdout()),
            as_json,
            printed: 0,
        };
        let _ = if as_json {
            write!(printer.out, "{{\"keys\":[")
        } else {
            writeln!(printer.out, "{}", crate::key_output::TABLE_HEADER)
        };
        printer
    }

    pub(crate) fn push(&mut self, key: &Value) {
        let _ = if self.as_json {
            let comma = if self.printed == 0 { "" } else { "," };
            write!(self.out, "{comma}{key}")
        } else {
            writeln!(self.out, "{}", crate::key_output::table_row(key))
        };
        self.printed += 1;
    }

    /// [`Self::push`] for a stored key: its JSON is written straight from the key (the server's
    /// field order), without building a JSON value first.
    pub(crate) fn push_key(&mut self, key: &Key) {
        if !self.as_json {
            return self.push(&serde_json::to_value(key).unwrap_or_default());
        }
        if self.printed > 0 {
            let _ = self.out.write_all(b",");
        }
        let _ = serde_json::to_writer(&mut self.out, key);
        self.printed += 1;
    }

    pub(crate) fn finish(mut self) {
        if self.as_json {
            let _ = writeln!(self.out, "]}}");
        }
        let _ = self.out.flush();
    }
}

fn progress_bar(count: u32) -> indicatif::ProgressBar {
    let progress = indicatif::ProgressBar::new(u64::from(count));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {wide_bar} {pos}/{len} keys {per_sec} eta {eta}",
    ) {
        progress.set_style(style);
    }
    progress
}

fn stopped(made: u64, count: u32, name: &str, err: &dyn std::fmt::Display) -> ServerError {
    ServerError::Cli(format!(
        "made {made} of {count} keys (they are kept), then {name} failed: {err}"
    ))
}

/// Makes `count` keys one request at a time with `generate_one` (online).
pub(crate) fn generate_each(
    template: &Template<'_>,
    count: u32,
    printer: &mut Printer,
    generate_one: impl Fn(&str) -> Result<Value, ServerError>,
) -> Result<(), ServerError> {
    let progress = progress_bar(count);
    for n in 1..=count {
        let name = template.name(n);
        match generate_one(&name) {
            Ok(key) => printer.push(&key),
            Err(err) => {
                progress.abandon();
                return Err(stopped(printer.printed, count, &name, &err));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(())
}

/// Refuses the run before anything is made (or printed) if one of its names is taken.
pub(crate) fn check_names_free(
    service: &KeyService,
    template: &Template<'_>,
    count: u32,
) -> Result<(), ServerError> {
    for n in 1..=count {
        let name = template.name(n);
        if service.store().id_by_name(&name)?.is_some() {
            return Err(ServerError::Cli(format!(
                "made 0 of {count} keys: the name {name:?} is taken"
            )));
        }
    }
    Ok(())
}

/// Makes `count` keys on a stopped server's data (after [`check_names_free`]): [`workers`]
/// threads each make a chunk of consecutive numbers and store it as one change, with one audit
/// row per key in the same transaction.
pub(crate) fn generate_offline(
    service: &KeyService,
    template: &Template<'_>,
    count: u32,
    printer: &mut Printer,
) -> Result<(), ServerError> {
    let progress = progress_bar(count);
    let next = AtomicU32::new(1);
    let failed = AtomicBool::new(false);
    // (first number of the chunk, its keys or the number that failed and why)
    type Chunk = (u32, Result<Vec<Key>, (u32, ServiceError)>);
    let (made, results) = mpsc::sync_channel::<Chunk>(workers());
    let mut first_failure: Option<(u32, ServiceError)> = None;
    std::thread::scope(|scope| {
        for _ in 0..workers() {
            let made = made.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                // The audit rows are the record of each key: no log line per key (a million
                // keys would print two million). Failures are returned and printed.
                let _quiet =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
                while !failed.load(Ordering::Relaxed) {
                    let first = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if first > count {
                        break;
                    }
                    let last = first.saturating_add(CHUNK - 1).min(count);
                    let chunk = make_and_store(service, template, first..=last);
                    failed.fetch_or(chunk.is_err(), Ordering::Relaxed);
                    if made.send((first, chunk)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(made);
        // Chunks are printed in number order: the ones made ahead wait here (at most about one
        // chunk per worker).
        let mut ahead = BTreeMap::new();
        let mut next_printed = 1;
        for (first, chunk) in results {
            match chunk {
                Ok(keys) => {
                    ahead.insert(first, keys);
                    while let Some(keys) = ahead.remove(&next_printed) {
                        for key in &keys {
                            printer.push_key(key);
                        }
                        next_printed += CHUNK;
                        progress.inc(keys.len() as u64);
                    }
                }
                Err((n, err)) => {
                    if first_failure.as_ref().is_none_or(|(first, _)| n < *first) {
                        first_failure = Some((n, err));
                    }
                }
            }
        }
        // After a failure, the chunks stored past a gap are kept too: print them.
        for key in ahead.into_values().flatten() {
            printer.push_key(&key);
        }
    });
    match first_failure {
        None => {
            progress.finish_and_clear();
            Ok(())
        }
        Some((n, err)) => {
            progress.abandon();
            Err(stopped(
                printer.printed,
                count,
                &template.name(n),
                &crate::key_output::service_failure(err),
            ))
        }
    }
}

/// Makes the keys numbered `numbers` and stores them as one change (all or none).
fn make_and_store(
    service: &KeyService,
    template: &Template<'_>,
    numbers: std::ops::RangeInclusive<u32>,
) -> Result<Vec<Key>, (u32, ServiceError)> {
    let first = *numbers.start();
    let mut made = Vec::new();
    for n in numbers {
        let name = template.name(n);
        let request = GenerateRequest {
            algorithm: Some(template.algorithm),
            name: Some(&name),
            length: template.length,
            issuer: template.issuer,
        };
        made.push(service.keys().make(None, &request).map_err(|e| (n, e))?);
    }
    let context = AuditContext {
        actor: "cli".into(),
        action: "key.generate".into(),
        request_id: None,
    };
    with_audit_context(context, || service.keys().store_many(made))
        .0
        .map_err(|e| (first, e))
}
