//! The pure core: everything that decides something. No `worker` import anywhere below here,
//! so all of it runs under a plain `cargo test`.
//!
//! The path of one event: `ingest` (parse the callback, authenticate it, decide accept /
//! duplicate / quarantine) → `event` (normalize, id, the CloudEvent's JSON) → `route` (which
//! targets want it) → `deliver` (the queue message, the consumer's decision per attempt:
//! outbound request, signature, retry, dead letter, log). `config` checks the settings once;
//! `subscriptions` plans the BigCommerce hooks; `admin` shapes the operator's API.

pub mod admin;
pub mod base64;
pub mod catalog;
pub mod config;
pub mod deliver;
pub mod error;
pub mod event;
pub mod history;
pub mod ingest;
pub mod json;
pub mod route;
pub mod secret;
pub mod subscriptions;
pub mod time;
