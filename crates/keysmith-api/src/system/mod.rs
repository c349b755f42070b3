//! The routes of Keysmith itself, in FusionAuth's error dialect: `/api/status`, the audit-log
//! search, `/metrics`, online backups and the admin page.

pub(crate) mod admin;
pub mod audit;
pub mod backup;
pub mod metrics;
pub(crate) mod status;
