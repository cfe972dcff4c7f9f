//! Ingest: a BigCommerce callback from raw bytes to a decision. `callback` parses the envelope,
//! `auth` checks the bearer token, `dedup` names the duplicate marks.

pub mod accept;
pub mod auth;
pub mod callback;
pub mod dedup;
