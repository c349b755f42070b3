//! `keysmith key list|show|generate|import|rename|delete|export-public`: offline on a stopped
//! server's data directory (`--data`), or online against a running server (`--url`). Output is
//! a table for people, or FusionAuth's JSON with `--json`.

use std::path::PathBuf;
use std::sync::Arc;

use keysmith_core::{GenerateRequest, ImportRequest, KeyService};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::ServerError;
use crate::key_output::{TABLE_HEADER, service_failure, table_row};
use crate::settings::Settings;

/// What `keysmith key` does (its subcommands).
#[derive(clap::Subcommand, Debug)]
pub enum KeyAction {
    /// Every key.
    List,
    /// One key.
    Show {
        /// The key's id.
        id: String,
    },
    /// Generate a key.
    Generate {
        /// RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, Ed25519, HS256, HS384, HS512,
        /// ML-DSA-44, ML-DSA-65, ML-DSA-87.
        #[arg(long)]
        algorithm: String,
        /// A unique name.
        #[arg(long)]
        name: String,
        /// RSA modulus bits (2048, 3072, 4096).
        #[arg(long)]
        length: Option<u32>,
        /// The certificate's issuer (CN).
        #[arg(long)]
        issuer: Option<String>,
        /// Make this many keys, named "<name> #1" to "<name> #N", with a progress bar.
        /// Offline, the keys are made in parallel and share durable commits.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// After an offline `--count` fill, leave the data file as the fill left it instead of
        /// compacting it (run `keysmith compact` later; it takes about a third of a
        /// million-key fill's time).
        #[arg(long)]
        no_compact: bool,
    },
    /// Import a key from PEM files.
    Import {
        /// A unique name.
        #[arg(long)]
        name: String,
        /// The algorithm (inferred when absent).
        #[arg(long)]
        algorithm: Option<String>,
        /// The kid (the certificate's thumbprint when absent).
        #[arg(long)]
        kid: Option<String>,
        /// A certificate (PEM).
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// A public key (PEM).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A private key (PEM).
        #[arg(long)]
        private_key: Option<PathBuf>,
        /// A file holding an HMAC secret.
        #[arg(long)]
        secret_file: Option<PathBuf>,
    },
    /// Rename a key.
    Rename {
        /// The key's id.
        id: String,
        /// The new name.
        name: String,
    },
    /// Delete a key.
    Delete {
        /// The key's id.
        id: String,
    },
    /// Print a key's public half.
    ExportPublic {
        /// The key's id.
        id: String,
        /// pem (SPKI), certificate or jwk.
        #[arg(long, default_value = "pem")]
        format: String,
    },
}

/// Where the keys are.
enum Target {
    Offline(KeyService),
    Online(Client),
}

/// A failure to show: an exit status 1 and this text on stderr.
fn failure(message: impl Into<String>) -> ServerError {
    ServerError::Cli(message.into())
}

fn read_file(path: Option<&PathBuf>) -> Result<Option<String>, ServerError> {
    path.map(|p| {
        std::fs::read_to_string(p).map_err(|e| failure(format!("cannot read {}: {e}", p.display())))
    })
    .transpose()
}

impl Target {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, ServerError> {
        let Target::Online(client) = self else {
            return Err(failure("not online"));
        };
        let body = body.map(|b| b.to_string().into_bytes());
        let response = client
            .request(method, path, body.as_deref(), &mut |_, _| {})
            .map_err(|e| failure(e.to_string()))?;
        let text = String::from_utf8_lossy(&response.body).into_owned();
        match response.status {
            200 if text.is_empty() => Ok(Value::Null),
            200 => serde_json::from_str(&text).map_err(|e| failure(e.to_string())),
            401 => Err(failure(
                "401: the API key was refused (or lacks permission)",
            )),
            404 => Err(failure("no such key")),
            status => Err(failure(format!("{status}: {text}"))),
        }
    }
}

fn key_json(key: &keysmith_model::Key) -> Value {
    serde_json::to_value(key).unwrap_or_default()
}

/// Runs one `keysmith key` action and prints its result.
pub fn run(
    settings: &Settings,
    action: KeyAction,
    client: Option<Client>,
    as_json: bool,
) -> Result<(), ServerError> {
    let target = match client {
        Some(client) => Target::Online(client),
        None => {
            // Offline commands work on an existing data directory: they neither create one nor
            // its master key (`keysmith serve` does both on first start).
            if settings.store.is_empty() && !settings.data.is_dir() {
                return Err(ServerError::Cli(format!(
                    "the data directory {} does not exist: give the --data of an existing one, or start `keysmith serve --data {}` once to create it with its master key",
                    settings.data.display(),
                    settings.data.display()
                )));
            }
            let selected = crate::backend::select_backend(
                Some(settings.backend.as_str()).filter(|b| !b.is_empty()),
            )?;
            let (store, _) =
                crate::master_key::open_store(settings, selected.backend.clone(), false)?;
            // A one-shot command keeps no RSA pool: its pairs would be made for nothing.
            let config = keysmith_core::ServiceConfig {
                rsa_pool: keysmith_core::RsaPoolConfig::default(),
                ..crate::server::service_config(settings)?
            };
            Target::Offline(KeyService::new(selected.backend, Arc::new(store), config))
        }
    };
    let offline_audit = |service: &KeyService, action: &str, target: &str| {
        crate::data::audit_cli(&**service.store(), action, target)
    };
    // Set by an offline bulk generation, which compacts the file after it.
    let mut compact_after_fill = false;
    let output: Value = match (&target, action) {
        (Target::Offline(s), KeyAction::List) => {
            json!({"keys": s.keys().list().map_err(service_failure)?})
        }
        (Target::Online(_), KeyAction::List) => target.call("GET", "/api/key", None)?,
        (Target::Offline(s), KeyAction::Show { id }) => {
            let id = s.parse_id(&id).map_err(service_failure)?;
            json!({"key": key_json(&s.keys().retrieve(&id).map_err(service_failure)?)})
        }
        (Target::Online(_), KeyAction::Show { id }) => {
            target.call("GET", &format!("/api/key/{id}"), None)?
        }
        (
            _,
            KeyAction::Generate {
                algorithm,
                name,
                length,
                issuer,
                count,
                no_compact,
            },
        ) => {
            let generate_one = |name: &str| -> Result<Value, ServerError> {
                match &target {
                    Target::Offline(s) => {
                        let key = s
                            .keys()
                            .generate(
                                None,
                                &GenerateRequest {
                                    algorithm: Some(&algorithm),
                                    name: Some(name),
                                    length,
                                    issuer: issuer.as_deref(),
                                },
                            )
                            .map_err(service_failure)?;
                        offline_audit(s, "key.generate", &key.id.to_string())?;
                        Ok(key_json(&key))
                    }
                    Target::Online(_) => Ok(target
                        .call(
                            "POST",
                            "/api/key/generate",
                            Some(json!({"key": {"algorithm": algorithm, "name": name, "length": length, "issuer": issuer}})),
                        )?["key"]
                        .take()),
                }
            };
            if count == 1 {
                json!({"key": generate_one(&name)?})
            } else {
                let template = crate::bulk::Template {
                    algorithm: &algorithm,
                    name: &name,
                    length,
                    issuer: issuer.as_deref(),
                };
                if let Target::Offline(s) = &target {
                    crate::bulk::check_names_free(s, &template, count)?;
                }
                let mut printer = crate::bulk::Printer::new(as_json);
                let made = match &target {
                    Target::Offline(s) => {
                        crate::bulk::generate_offline(s, &template, count, &mut printer)
                    }
                    Target::Online(_) => {
                        crate::bulk::generate_each(&template, count, &mut printer, generate_one)
                    }
                };
                printer.finish();
                if made.is_err() || matches!(target, Target::Online(_)) {
                    return made;
                }
                compact_after_fill = !no_compact;
                if no_compact {
                    return Ok(());
                }
                Value::Null
            }
        }
        (
            _,
            KeyAction::Import {
                name,
                algorithm,
                kid,
                certificate,
                public_key,
                private_key,
                secret_file,
            },
        ) => {
            let certificate = read_file(certificate.as_ref())?;
            let public_key = read_file(public_key.as_ref())?;
            let private_key = read_file(private_key.as_ref())?.map(zeroize::Zeroizing::new);
            let secret = read_file(secret_file.as_ref())?.map(zeroize::Zeroizing::new);
            match &target {
                Target::Offline(s) => {
                    let key = s
                        .keys()
                        .import(
                            None,
                            &ImportRequest {
                                algorithm: algorithm.as_deref(),
                                key_type: None,
                                name: Some(&name),
                                kid: kid.as_deref(),
                                certificate: certificate.as_deref(),
                                public_key: public_key.as_deref(),
                                private_key: private_key.as_deref().map(String::as_str),
                                secret: secret.as_deref().map(|s| s.trim_end_matches('\n')),
                            },
                        )
                        .map_err(service_failure)?;
                    offline_audit(s, "key.import", &key.id.to_string())?;
                    json!({"key": key_json(&key)})
                }
                Target::Online(_) => target.call(
                    "POST",
                    "/api/key/import",
                    Some(json!({"key": {
                        "name": name, "algorithm": algorithm, "kid": kid,
                        "certificate": certificate, "publicKey": public_key,
                        "privateKey": private_key.as_deref().map(String::as_str),
                        "secret": secret.as_deref().map(|s| s.trim_end_matches('\n')),
                    }})),
                )?,
            }
        }
        (Target::Offline(s), KeyAction::Rename { id, name }) => {
            let id = s.parse_id(&id).map_err(service_failure)?;
            let key = s.keys().rename(&id, Some(&name)).map_err(service_failure)?;
            offline_audit(s, "key.update", &key.id.to_string())?;
            json!({"key": key_json(&key)})
        }
        (Target::Online(_), KeyAction::Rename { id, name }) => target.call(
            "PUT",
            &format!("/api/key/{id}"),
            Some(json!({"key": {"name": name}})),
        )?,
        (Target::Offline(s), KeyAction::Delete { id }) => {
            let parsed = s.parse_id(&id).map_err(service_failure)?;
            s.keys().delete(&parsed).map_err(service_failure)?;
            offline_audit(s, "key.delete", &id)?;
            Value::Null
        }
        (Target::Online(_), KeyAction::Delete { id }) => {
            target.call("DELETE", &format!("/api/key/{id}"), None)?
        }
        (_, KeyAction::ExportPublic { id, format }) => {
            return export_public(&target, &id, &format);
        }
    };
    if compact_after_fill {
        // A fill grows the file ahead of need (about a third more at 100,000 keys): give the
        // space back, with the store closed first (compaction needs the only handle).
        drop(target);
        let started = std::time::Instant::now();
        let (before, after) = crate::compact::compact_file(settings)?;
        eprintln!(
            "compacted the data file: {before} -> {after} bytes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    print(&output, as_json);
    Ok(())
}

fn export_public(target: &Target, id: &str, format: &str) -> Result<(), ServerError> {
    let key = match target {
        Target::Offline(s) => {
            let parsed = s.parse_id(id).map_err(service_failure)?;
            key_json(&s.keys().retrieve(&parsed).map_err(service_failure)?)
        }
        Target::Online(_) => target.call("GET", &format!("/api/key/{id}"), None)?["key"].clone(),
    };
    let field = |name: &str| {
        key[name].as_str().map(str::to_owned).ok_or_else(|| {
            failure(format!(
                "the key has no {name} (an HMAC key has no public half)"
            ))
        })
    };
    match format {
        "pem" => println!("{}", field("publicKey")?.trim_end()),
        "certificate" => println!("{}", field("certificate")?.trim_end()),
        "jwk" => {
            let kid = field("kid")?;
            let jwks: Value = match target {
                Target::Offline(s) => {
                    let published = s.published().map_err(service_failure)?;
                    serde_json::from_slice(&published.jwks_json)
                        .map_err(|e| failure(e.to_string()))?
                }
                Target::Online(_) => target.call("GET", "/.well-known/jwks.json", None)?,
            };
            let jwk = jwks["keys"]
                .as_array()
                .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
                .ok_or_else(|| {
                    failure("the key is not published (revoked, or an encryption key)")
                })?;
            println!("{jwk}");
        }
        other => {
            return Err(failure(format!(
                "--format {other}: use pem, certificate or jwk"
            )));
        }
    }
    Ok(())
}

fn print(output: &Value, as_json: bool) {
    if as_json {
        if !output.is_null() {
            println!("{output}");
        }
        return;
    }
    let keys: Vec<&Value> = match (output.get("keys"), output.get("key")) {
        (Some(Value::Array(keys)), _) => keys.iter().collect(),
        (_, Some(key)) => vec![key],
        _ => {
            println!("ok");
            return;
        }
    };
    println!("{TABLE_HEADER}");
    for key in keys {
        println!("{}", table_row(key));
    }
}
