//! Ingest: a BigCommerce callback from raw bytes to a decision. `auth` decides whether the
//! request is authentic (bearer token, BigCommerce's signature checked by `signature`, or both),
//! `callback` parses the envelope, `quarantine` keeps an authentic body that is no event, `dedup`
//! names the duplicate marks.

pub mod accept;
pub mod auth;
pub mod callback;
pub mod dedup;
pub mod quarantine;
pub mod signature;
