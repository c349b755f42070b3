//! What runs around every handler: API-key authentication and the permission check
//! (`auth`, on the route the router matched), the audit context (`audit`), the request
//! deadline (`deadline`), rate limits and the key-generation pool (`limits`), and request ids.

pub mod audit;
pub mod auth;
pub mod deadline;
pub mod limits;
pub mod request_id;
