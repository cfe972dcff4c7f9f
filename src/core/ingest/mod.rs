//! Ingest: a BigCommerce callback from raw bytes to a decision. `auth` decides whether the
//! request is authentic (bearer token, BigCommerce's signature checked by `signature`, or both),
//! `callback` parses the envelope, `quarantine` keeps an authentic body that is no event, `dedup`
//! names the duplicate marks and the Durable Object's claim rule, `coalesce` makes copies in
//! flight together wait for the first, `accept` orders the storage steps, `exception` reads
//! BigCommerce's `store/hook/deliveryException`.

pub mod accept;
pub mod auth;
pub mod callback;
pub mod coalesce;
pub mod dedup;
pub mod exception;
pub mod quarantine;
pub mod signature;
