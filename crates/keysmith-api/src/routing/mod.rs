//! The route table. Every route is declared once, where its module registers it: its handler
//! (whose `#[utoipa::path]` entry gives the path and methods), who may call it and the action
//! the audit trail records. Routing, the permission check, the audit trail, the 405 answers and
//! the OpenAPI security requirements all read these declarations; nothing else decides them.
//!
//! Invariants:
//! - the permission check is a middleware on each route, so it runs on the route actix
//!   matched (after percent-decoding), never on the request's path text, and before any
//!   extractor reads the body;
//! - a route cannot be registered without a [`RouteSpec`] ([`Registrar::add`] takes one).

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, Handler, HttpMessage as _, HttpResponse, Responder, web};
use utoipa::openapi::path::HttpMethod;

use crate::AppState;

pub mod spec;

pub use spec::{Access, Dialect, RouteSpec, matched_spec};

/// Where routes go: actix ([`Routing`]), or a [`RouteList`] that only records them.
pub trait Registrar {
    /// Registers `handler` at the path and methods of its OpenAPI entry `P`, as `spec` says.
    fn add<P, F, Args>(&mut self, spec: RouteSpec, handler: F)
    where
        P: utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

/// Registers on actix: each handler at its entry's path and methods, behind the permission
/// check of its spec, and one resource per path, in the order of its first route, whose last
/// route answers the methods the path does not serve with 405 and `Allow` (RFC 9110 §15.5.6).
/// A path's resource answers every request whose path it matches, so it comes before any later
/// pattern that also matches the path (`/api/key/deleted` before `/api/key/{id}`), whatever
/// the method. One resource per path, not one per method, is also one pattern match per path
/// for the router (a dynamic pattern is a regular expression).
///
/// Routes are collected by [`Registrar::add`] and given to actix by [`Routing::finish`].
pub struct Routing<'a> {
    cfg: &'a mut web::ServiceConfig,
    /// Each path with its routes, in the order of the path's first route.
    paths: Vec<PathRoutes>,
}

/// A path's routes and the methods they serve (its `Allow` list).
struct PathRoutes {
    path: String,
    methods: Vec<String>,
    routes: Vec<actix_web::Route>,
}

impl std::fmt::Debug for Routing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.paths.iter().map(|p| (&p.path, &p.methods)))
            .finish()
    }
}

impl<'a> Routing<'a> {
    /// Routes on `cfg`.
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Routing {
            cfg,
            paths: Vec::new(),
        }
    }

    /// Registers every path's resource on actix: its routes, then its 405.
    pub fn finish(self) {
        for PathRoutes {
            path,
            methods: allowed,
            routes,
        } in self.paths
        {
            let allow = allowed.join(", ");
            let refused = web::route()
                .guard(actix_web::guard::fn_guard(move |ctx| {
                    !allowed.iter().any(|m| m == ctx.head().method.as_str())
                }))
                .to(move || {
                    let allow = allow.clone();
                    async move {
                        HttpResponse::MethodNotAllowed()
                            .insert_header((actix_web::http::header::ALLOW, allow))
                            .finish()
                    }
                });
            let resource = routes
                .into_iter()
                .fold(web::resource(path), actix_web::Resource::route);
            self.cfg.service(resource.route(refused));
        }
    }
}

impl Registrar for Routing<'_> {
    fn add<P, F, Args>(&mut self, spec: RouteSpec, handler: F)
    where
        P: utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let path = P::path();
        let at = match self.paths.iter().position(|p| p.path == path) {
            Some(at) => at,
            None => {
                self.paths.push(PathRoutes {
                    path,
                    methods: Vec::new(),
                    routes: Vec::new(),
                });
                self.paths.len() - 1
            }
        };
        let on_path = &mut self.paths[at];
        for method in P::methods() {
            let method = actix_method(&method);
            on_path.methods.push(method.as_str().to_owned());
            // Guarded by the method: the resource tries its next route when the method does
            // not match. The check wraps this route alone, so it knows the spec of exactly the
            // route that matched.
            on_path.routes.push(
                web::method(method)
                    .to(handler.clone())
                    .wrap(from_fn(move |request, next| check(spec, request, next))),
            );
        }
    }
}

/// One registered route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteEntry {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The route pattern (`/api/key/{id}`).
    pub path: String,
    /// Its declaration.
    pub spec: RouteSpec,
}

/// The routes a configuration registers, in registration order.
#[derive(Debug, Default)]
pub struct RouteList(pub Vec<RouteEntry>);

impl RouteList {
    /// Every route Keysmith serves.
    pub fn all() -> Self {
        let mut list = RouteList::default();
        crate::register(&mut list);
        list
    }
}

impl Registrar for RouteList {
    fn add<P, F, Args>(&mut self, spec: RouteSpec, _handler: F)
    where
        P: utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        for method in P::methods() {
            self.0.push(RouteEntry {
                method: actix_method(&method).as_str().to_owned(),
                path: P::path(),
                spec,
            });
        }
    }
}

pub(crate) fn actix_method(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// The permission check of one route: refuses a caller the spec does not allow before the
/// handler (and so before the body is read); otherwise records who called ([`Actor`]) and the
/// route's spec on the request for the audit trail.
///
/// [`Actor`]: crate::middleware::audit::Actor
async fn check(
    spec: RouteSpec,
    request: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    request.extensions_mut().insert(spec);
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(request
            .into_response(HttpResponse::InternalServerError().finish())
            .map_into_right_body());
    };
    match state
        .api_keys
        .authorize(request.request(), spec, state.metrics_anonymous)
    {
        Ok(actor) => {
            let context =
                crate::middleware::audit::change_context(spec, actor.as_deref(), &request);
            if let Some(actor) = actor {
                request
                    .extensions_mut()
                    .insert(crate::middleware::audit::Actor(actor));
            }
            let response =
                crate::middleware::audit::changes_audited(context, next.call(request)).await?;
            Ok(response.map_into_left_body())
        }
        Err(refusal) => Ok(request.into_response(refusal).map_into_right_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change of state must be recorded: every route that is not a read names its audit
    /// action. The reads that use POST (searches with a body, verification) are listed here.
    #[test]
    fn every_mutation_names_its_audit_action() {
        const READS_BY_POST: [&str; 2] = ["/api/key/search", "/api/system/audit-log/search"];
        for route in RouteList::all().0 {
            let reads = route.method == "GET" || READS_BY_POST.contains(&route.path.as_str());
            if route.spec.access == Access::Anonymous {
                assert!(
                    route.method == "GET",
                    "{} {} changes state without an API key",
                    route.method,
                    route.path
                );
                continue;
            }
            assert!(
                reads || route.spec.audit.is_some(),
                "{} {} changes state but records no audit action",
                route.method,
                route.path
            );
        }
    }

    /// Uses of private keys are summed up in the audit trail, changes recorded in their own
    /// transaction: exactly signing, verifying and vending are uses, so no change can be
    /// declared a use (and escape its transactional record).
    #[test]
    fn exactly_sign_verify_and_vend_are_audited_as_uses() {
        let mut uses: Vec<&str> = RouteList::all()
            .0
            .iter()
            .filter(|route| route.spec.audit_use)
            .filter_map(|route| route.spec.audit)
            .collect();
        uses.sort_unstable();
        uses.dedup();
        assert_eq!(uses, ["jwt.vend", "key.sign", "key.verify"]);
    }

    /// Each dialect serves its own prefix, so a client of one vendor never meets the other's
    /// authentication.
    #[test]
    fn auth0_routes_and_only_they_use_auth0_authentication() {
        for route in RouteList::all().0 {
            if route.spec.access == Access::Anonymous {
                continue;
            }
            assert_eq!(
                route.path.starts_with("/api/v2/"),
                route.spec.dialect == Dialect::Auth0,
                "{} {}",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn no_route_is_registered_around_the_registrar() {
        // `Registrar::add` is the one place that calls actix's routing; any other call would be
        // a route the document does not know.
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut sources = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    sources.push(path);
                }
            }
        }
        // Every module directory is walked: a handler module in `auth0/` counts as much as one
        // at the top.
        assert!(sources.len() > 20, "found only {sources:?}");
        for path in sources {
            // The registrar itself.
            if path.ends_with("routing/mod.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).expect("source");
            for pattern in [
                "web::resource(",
                ".route(",
                "web::scope(",
                "#[get(",
                "#[post(",
                ".service(",
            ] {
                assert!(
                    !source.contains(pattern),
                    "{} registers a route with {pattern} instead of Registrar::add",
                    path.display()
                );
            }
        }
    }
}
