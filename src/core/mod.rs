//! The pure core: everything that decides something. No `worker` import anywhere below here,
//! so all of it runs under a plain `cargo test`.
//!
//! The path of one event: `callback` (parse) → `auth` (verify) → `event` (normalize, id) →
//! `dedup` (key) → `route` → `delivery` (queue message) → `outbound` (+ `sign`) → `retry` →
//! `attempts` (what the consumer logs).

pub mod admin;
pub mod attempts;
pub mod auth;
pub mod callback;
pub mod catalog;
pub mod config;
pub mod dedup;
pub mod delivery;
pub mod enrich;
pub mod error;
pub mod event;
pub mod json;
pub mod outbound;
pub mod retry;
pub mod route;
pub mod sign;
pub mod subscriptions;
pub mod time;
