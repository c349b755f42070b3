//! Auth0 connections: create, read, update and delete. A connection's keys are its rings
//! (`rings`); deleting a connection deletes them in the same transaction.

use keysmith_model::connection::{
    CONNECTION_ID_RANDOM_CHARS, MAX_CONNECTION_TEXT_LENGTH, is_connection_id,
    is_valid_connection_name,
};
use keysmith_model::{Connection, Errors, Reason, epoch_millis_now};
use serde_json::{Map, Value};

use crate::{KeyService, ServiceError};

/// Connection fields of a create or update request. `None` leaves a field as it is. Its
/// `Debug` names the option and metadata keys, never their values (options hold secrets).
#[derive(Clone, Default)]
pub struct ConnectionFields {
    /// `name` (create only).
    pub name: Option<String>,
    /// `strategy` (create only).
    pub strategy: Option<String>,
    /// `display_name`.
    pub display_name: Option<String>,
    /// `options`.
    pub options: Option<Map<String, Value>>,
    /// `metadata`.
    pub metadata: Option<Map<String, Value>>,
    /// `enabled_clients`.
    pub enabled_clients: Option<Vec<String>>,
    /// `realms`.
    pub realms: Option<Vec<String>>,
    /// `is_domain_connection`.
    pub is_domain_connection: Option<bool>,
    /// `rotation_period_seconds` (Keysmith's).
    pub rotation_period_seconds: Option<u64>,
}

impl std::fmt::Debug for ConnectionFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = |map: &Option<Map<String, Value>>| {
            map.as_ref().map(|m| m.keys().cloned().collect::<Vec<_>>())
        };
        f.debug_struct("ConnectionFields")
            .field("name", &self.name)
            .field("strategy", &self.strategy)
            .field("display_name", &self.display_name)
            .field("option_keys", &keys(&self.options))
            .field("metadata_keys", &keys(&self.metadata))
            .field("rotation_period_seconds", &self.rotation_period_seconds)
            .finish_non_exhaustive()
    }
}

/// The longest rotation period a connection may ask for: ten years. A longer one is almost
/// certainly milliseconds sent as seconds.
pub(crate) const MAX_ROTATION_PERIOD_SECONDS: u64 = 315_360_000;

fn check_rotation_period(errors: &mut Errors, period: Option<u64>) {
    if period.is_some_and(|p| p > MAX_ROTATION_PERIOD_SECONDS) {
        errors.add_field(
            "rotation_period_seconds",
            Reason::Invalid,
            format!(
                "rotation_period_seconds must be at most {MAX_ROTATION_PERIOD_SECONDS} (ten years); 0 means never"
            ),
        );
    }
}

fn check_text(errors: &mut Errors, field: &str, value: Option<&str>) {
    if let Some(value) = value
        && value.chars().count() > MAX_CONNECTION_TEXT_LENGTH
    {
        errors.add_field(
            field,
            Reason::TooLong,
            format!("{field} is longer than {MAX_CONNECTION_TEXT_LENGTH} characters"),
        );
    }
}

impl KeyService {
    /// The connection use cases: Auth0 connections and their key rings.
    pub fn connections(&self) -> Connections<'_> {
        Connections { core: self }
    }
}

/// The connection use cases (Auth0's `/api/v2/connections`): create, read, update and delete
/// connections, and provision, list and rotate their keys (in `rings`). A view of the shared
/// [`KeyService`].
#[derive(Clone, Copy, Debug)]
pub struct Connections<'a> {
    pub(crate) core: &'a KeyService,
}

impl Connections<'_> {
    /// Creates a connection from `fields` (name and strategy required).
    pub fn create(&self, fields: ConnectionFields) -> Result<Connection, ServiceError> {
        let mut errors = Errors::new();
        match fields.name.as_deref() {
            None | Some("") => errors.add_field("name", Reason::Blank, "name is required"),
            Some(name) if !is_valid_connection_name(name) => errors.add_field(
                "name",
                Reason::Invalid,
                "name must be 1 to 128 letters, digits and '-', starting and ending with a letter or digit",
            ),
            Some(_) => {}
        }
        match fields.strategy.as_deref() {
            None | Some("") => errors.add_field("strategy", Reason::Blank, "strategy is required"),
            Some(strategy) => check_text(&mut errors, "strategy", Some(strategy)),
        }
        check_text(&mut errors, "display_name", fields.display_name.as_deref());
        check_rotation_period(&mut errors, fields.rotation_period_seconds);
        let (Some(name), Some(strategy)) = (fields.name.clone(), fields.strategy.clone()) else {
            return Err(errors.into());
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let now = epoch_millis_now();
        let connection = Connection {
            id: self.random_connection_id()?,
            realms: fields.realms.clone().unwrap_or_else(|| vec![name.clone()]),
            name,
            display_name: fields.display_name,
            strategy,
            options: fields.options.unwrap_or_default(),
            metadata: fields.metadata.unwrap_or_default(),
            enabled_clients: fields.enabled_clients.unwrap_or_default(),
            is_domain_connection: fields.is_domain_connection.unwrap_or(false),
            rotation_period_seconds: fields.rotation_period_seconds,
            created_at: now,
            updated_at: now,
        };
        self.core.store().insert_connection(&connection)?;
        tracing::info!(target: "keysmith::audit", action = "connection.create", connection = %connection.id, "connection created");
        Ok(connection)
    }

    fn random_connection_id(&self) -> Result<String, ServiceError> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut out = String::from("con_");
        while out.len() < 4 + CONNECTION_ID_RANDOM_CHARS {
            let mut bytes = [0u8; 32];
            self.core.backend().fill_random(&mut bytes)?;
            // Rejection sampling: 248 = 4 × 62, so accepted bytes are uniform over the alphabet.
            for b in bytes.into_iter().filter(|b| *b < 248) {
                if out.len() < 4 + CONNECTION_ID_RANDOM_CHARS {
                    out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
                }
            }
        }
        Ok(out)
    }

    /// One connection. Ids that cannot be connection ids are simply not found.
    pub fn get(&self, id: &str) -> Result<Connection, ServiceError> {
        if !is_connection_id(id) {
            return Err(ServiceError::NotFound);
        }
        self.core
            .store()
            .connection(id)?
            .ok_or(ServiceError::NotFound)
    }

    /// Every connection, by name.
    pub fn list(&self) -> Result<Vec<Connection>, ServiceError> {
        Ok(self.core.store().connections()?)
    }

    /// Changes the given display fields of a connection.
    pub fn update(&self, id: &str, fields: ConnectionFields) -> Result<Connection, ServiceError> {
        let mut errors = Errors::new();
        for (field, given) in [
            ("name", fields.name.is_some()),
            ("strategy", fields.strategy.is_some()),
        ] {
            if given {
                errors.add_field(
                    field,
                    Reason::NotAllowed,
                    format!("{field} cannot be changed"),
                );
            }
        }
        check_text(&mut errors, "display_name", fields.display_name.as_deref());
        check_rotation_period(&mut errors, fields.rotation_period_seconds);
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let mut connection = self.get(id)?;
        if let Some(v) = fields.display_name {
            connection.display_name = Some(v);
        }
        if let Some(v) = fields.options {
            connection.options = v;
        }
        if let Some(v) = fields.metadata {
            connection.metadata = v;
        }
        if let Some(v) = fields.enabled_clients {
            connection.enabled_clients = v;
        }
        if let Some(v) = fields.realms {
            connection.realms = v;
        }
        if let Some(v) = fields.is_domain_connection {
            connection.is_domain_connection = v;
        }
        if let Some(v) = fields.rotation_period_seconds {
            connection.rotation_period_seconds = Some(v);
        }
        connection.updated_at = epoch_millis_now();
        if !self.core.store().replace_connection(&connection)? {
            return Err(ServiceError::NotFound);
        }
        tracing::info!(target: "keysmith::audit", action = "connection.update", connection = %connection.id, "connection updated");
        Ok(connection)
    }

    /// Deletes a connection and its keys, in one transaction.
    pub fn delete(&self, id: &str) -> Result<(), ServiceError> {
        if !is_connection_id(id) {
            return Err(ServiceError::NotFound);
        }
        let deleted = self
            .core
            .store()
            .delete_connection(id)?
            .ok_or(ServiceError::NotFound)?;
        for key in &deleted {
            self.core.loaded.forget(key);
        }
        self.core.published_changed();
        tracing::info!(target: "keysmith::audit", action = "connection.delete", connection = %id, keys_deleted = deleted.len(), "connection and its keys deleted");
        Ok(())
    }
}
