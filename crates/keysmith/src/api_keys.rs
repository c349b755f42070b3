//! API keys: `keysmith api-key create|list|revoke` on a stopped server's data file, and the
//! keys a starting server accepts (configured, kept in the data file, or generated once).

use base64::Engine as _;
use keysmith_api::ApiKeys;
use keysmith_api::middleware::auth::AcceptedKey;
use keysmith_model::Permissions;
use keysmith_store::KeyStore;

use crate::backend::select_backend;
use crate::data::audit_cli;
use crate::error::ServerError;
use crate::settings::{Settings, parse_hash};

/// What `keysmith api-key` does (its subcommands).
#[derive(clap::Subcommand, Debug)]
pub enum ApiKeyAction {
    /// Creates a key and prints it once; only its SHA-256 is kept.
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// A permission (repeatable): admin, read-only, vend, or <family>:<methods>.
        #[arg(long = "permission", required = true)]
        permissions: Vec<String>,
    },
    /// Lists the keys: id, name, permissions, creation time (never the keys).
    List,
    /// Removes a key by its id.
    Revoke {
        /// The id `list` shows.
        id: String,
    },
}

/// `keysmith api-key create|list|revoke`, on the data file with the server stopped.
pub fn api_key_command(settings: &Settings, action: ApiKeyAction) -> Result<(), ServerError> {
    let selected = select_backend(Some(settings.backend.as_str()).filter(|b| !b.is_empty()))?;
    let backend = selected.backend;
    let store = crate::master_key::open_any_store(settings, backend.clone())?;
    let store = &*store;
    let invalid =
        |message: String| ServerError::Settings(crate::settings::SettingsError::new(message));
    match action {
        ApiKeyAction::Create { name, permissions } => {
            let parsed = Permissions::parse(&permissions).map_err(|e| invalid(e.to_string()))?;
            if name.trim().is_empty() {
                return Err(invalid("an API key needs a --name".into()));
            }
            let mut random = [0u8; 32];
            backend.fill_random(&mut random)?;
            let api_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
            let hash = ApiKeys::hash(&*backend, &api_key)
                .ok_or_else(|| invalid("could not hash the key".into()))?;
            let record = keysmith_model::ApiKeyRecord {
                id: uuid::Uuid::new_v4(),
                name,
                sha256: keysmith_crypto::fingerprint::upper_hex(&hash).to_lowercase(),
                permissions: parsed.to_strings(),
                created_at: keysmith_model::epoch_millis_now(),
            };
            store.add_api_key_record(&record)?;
            audit_cli(store, "api-key.create", &record.id.to_string())?;
            tracing::info!(target: "keysmith::audit", action = "api-key.create", api_key.id = %record.id, permissions = ?record.permissions, "API key created");
            // The key itself goes to stdout once and nowhere else.
            println!("{api_key}");
            eprintln!(
                "created API key {} ({}) with {}; it is shown only this once. {}",
                record.id,
                record.name,
                record.permissions.join(", "),
                if settings.store.is_empty() {
                    "Restart the server to use it."
                } else {
                    "The servers on this database accept it within seconds."
                }
            );
        }
        ApiKeyAction::List => {
            println!(
                "{:<36}  {:<20}  {:<24}  permissions",
                "id", "name", "created"
            );
            for record in store.api_key_records()? {
                println!(
                    "{:<36}  {:<20}  {:<24}  {}",
                    record.id,
                    record.name,
                    keysmith_api::iso8601(record.created_at),
                    record.permissions.join(", ")
                );
            }
        }
        ApiKeyAction::Revoke { id } => {
            let parsed: uuid::Uuid = id
                .parse()
                .map_err(|_| invalid(format!("{id:?} is not an API key id")))?;
            if !store.remove_api_key_record(&parsed)? {
                return Err(invalid(format!("no API key has the id {parsed}")));
            }
            audit_cli(store, "api-key.revoke", &parsed.to_string())?;
            tracing::info!(target: "keysmith::audit", action = "api-key.revoke", api_key.id = %parsed, "API key revoked");
            println!("revoked API key {parsed}; restart the server to apply");
        }
    }
    Ok(())
}

/// An admin key by its hash.
fn admin_key(hash: [u8; 32]) -> AcceptedKey {
    AcceptedKey {
        hash,
        permissions: Permissions::admin(),
        actor: admin_actor(&hash),
    }
}

/// How the audit trail names an admin key: the first 8 hex digits of its SHA-256 (the hash is
/// not secret; the key is).
pub(crate) fn admin_actor(hash: &[u8; 32]) -> String {
    let prefix = keysmith_crypto::fingerprint::upper_hex(&hash[..4]).to_lowercase();
    format!("api-key:admin:{prefix}")
}

/// The API keys the settings and the store name, and what each may do: the configured
/// `api_key` and `api_key_hashes` and the hashes kept in the store are admin keys; `api_keys`
/// in the configuration and the keys made with `keysmith api-key create` have their own
/// permissions. Reads only (see [`accepted_api_keys`] for the first start).
pub(crate) fn configured_and_stored_keys(
    settings: &Settings,
    store: &dyn KeyStore,
    backend: &dyn keysmith_crypto::KeyBackend,
) -> Result<Vec<AcceptedKey>, ServerError> {
    let mut keys: Vec<AcceptedKey> = settings
        .api_key_hashes
        .iter()
        .filter_map(|h| parse_hash(h))
        .chain(store.api_key_hashes()?)
        .map(admin_key)
        .collect();
    if !settings.api_key.trim().is_empty() {
        keys.extend(ApiKeys::hash(backend, settings.api_key.trim()).map(admin_key));
    }
    for scoped in &settings.api_keys {
        let (hash, permissions) = scoped.parsed().map_err(ServerError::Settings)?;
        keys.push(AcceptedKey {
            hash,
            permissions,
            actor: format!("api-key:config:{}", scoped.name),
        });
    }
    for record in store.api_key_records()? {
        let invalid = || {
            ServerError::Store(keysmith_store::StoreError::Corrupt(format!(
                "api key {}",
                record.id
            )))
        };
        keys.push(AcceptedKey {
            hash: parse_hash(&record.sha256).ok_or_else(invalid)?,
            permissions: Permissions::parse(&record.permissions).map_err(|_| invalid())?,
            actor: format!("api-key:{}", record.id),
        });
    }
    Ok(keys)
}

/// The accepted API keys ([`configured_and_stored_keys`]). With no key at all, generates an
/// admin key, prints it once to stderr and keeps only its hash.
pub(crate) fn accepted_api_keys(
    settings: &Settings,
    store: &dyn KeyStore,
    backend: &dyn keysmith_crypto::KeyBackend,
) -> Result<Vec<AcceptedKey>, ServerError> {
    let mut keys = configured_and_stored_keys(settings, store, backend)?;
    if keys.is_empty() {
        let mut random = [0u8; 32];
        backend.fill_random(&mut random)?;
        let api_key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random);
        if let Some(hash) = ApiKeys::hash(backend, &api_key) {
            store.add_api_key_hash(&hash)?;
            keys.push(admin_key(hash));
        }
        // Printed once, to stderr only, never logged: only its hash is kept.
        eprintln!(
            "\nkeysmith: no API key was configured, so one was generated. It is shown only this once:\n\n    {api_key}\n\n\
             Send it as the Authorization header, e.g.\n    curl -H 'Authorization: {api_key}' http://{}/api/key\n\
             Only its SHA-256 hash is kept (in the data file). To use your own key instead, set KEYSMITH_API_KEY.\n",
            settings.bind
        );
    }
    Ok(keys)
}
