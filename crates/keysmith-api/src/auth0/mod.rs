//! Auth0's Management API for connections, connection keys and tenant signing keys:
//! `/api/v2/...`, with Auth0's bearer authentication, status codes and error shape
//! ([`Auth0Error`], the one place an Auth0 status is decided).
//!
//! - `connections`: list, create, read, update, delete;
//! - `connection_keys`: a connection's key ring (read, provision, rotate);
//! - `signing_keys`: the tenant's signing keys (read, rotate, revoke);
//! - `wire`: the bodies Auth0 takes and returns.

pub(crate) mod connection_keys;
pub(crate) mod connections;
pub(crate) mod error;
pub(crate) mod signing_keys;
pub(crate) mod wire;

use actix_web::{HttpResponse, web};
use keysmith_core::{KeyService, ServiceError};
use keysmith_model::Family;

use crate::AppState;
use crate::routing::{Registrar, RouteSpec};
use connection_keys::*;
use connections::*;
use signing_keys::*;

pub use error::Auth0Error;
pub use wire::iso8601;

/// Fixed paths before parameterised ones: actix tries routes in registration order.
pub(crate) fn configure(routes: &mut impl Registrar) {
    let connections = || RouteSpec::auth0(Family::Connections);
    let tenant = || RouteSpec::auth0(Family::SigningKeys);
    routes.add::<__path_list_connections, _, _>(connections(), list_connections);
    routes.add::<__path_create_connection, _, _>(
        connections().audited("connection.create"),
        create_connection,
    );
    routes.add::<__path_get_connection, _, _>(connections(), get_connection);
    routes.add::<__path_update_connection, _, _>(
        connections().audited("connection.update"),
        update_connection,
    );
    routes.add::<__path_delete_connection, _, _>(
        connections().audited("connection.delete"),
        delete_connection,
    );
    routes.add::<__path_connection_keys, _, _>(connections(), connection_keys);
    routes.add::<__path_provision_connection_keys, _, _>(
        connections().audited("connection.keys.provision"),
        provision_connection_keys,
    );
    routes.add::<__path_rotate_connection_keys, _, _>(
        connections().audited("connection.keys.rotate"),
        rotate_connection_keys,
    );
    routes.add::<__path_signing_keys, _, _>(tenant(), signing_keys);
    routes.add::<__path_rotate_signing_keys, _, _>(
        tenant().audited("signing-keys.rotate"),
        rotate_signing_keys,
    );
    routes.add::<__path_signing_key, _, _>(tenant(), signing_key);
    routes.add::<__path_revoke_signing_key, _, _>(
        tenant().audited("signing-keys.revoke"),
        revoke_signing_key,
    );
}

type Reply = Result<HttpResponse, Auth0Error>;

/// Runs a use case that generates keys: it needs a place in the generation pool (429 with
/// `Retry-After` when full) and a token from the rate limit.
async fn generating_use_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    state.limits.check_key_generation()?;
    let slot = state.limits.generation_slot()?;
    change_case(state, not_found, move |service| {
        let _turn = slot.wait_turn();
        f(service)
    })
    .await
}

/// Runs a use case that changes stored state, as [`use_case`] does, past the request
/// deadline once started ([`crate::middleware::deadline::change`]).
async fn change_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    let service = state.keys.clone();
    crate::middleware::deadline::change(move || f(service))
        .await?
        .map_err(|e| Auth0Error::from_service(e, not_found))
}

/// Runs a use case on the blocking pool; its "not found" is the route's `not_found`.
async fn use_case<T: Send + 'static>(
    state: &AppState,
    not_found: fn() -> Auth0Error,
    f: impl FnOnce(KeyService) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Auth0Error> {
    let service = state.keys.clone();
    web::block(move || f(service))
        .await?
        .map_err(|e| Auth0Error::from_service(e, not_found))
}
