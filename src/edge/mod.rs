//! The thin layer over `worker`: performs what `core` decided. Arrows point one way only:
//! `http` (routes) → handlers (`ingest` with `quarantine` and `exceptions`, `admin` → `events`,
//! `health`; `consume` for the queue and `bigcommerce` for the cron) → `b2b_api`, `lane` (each
//! target's Durable Object and its client), `dedup` (the `DedupShard` Durable Object and its
//! client) → platform access (`kv`, `queue`, `fetch`, `history` (D1), `env`, `log`, `metrics`,
//! `concurrent`) and `respond` (answers) → `core`.

pub mod admin;
pub mod b2b_api;
pub mod bigcommerce;
pub mod body;
pub mod concurrent;
pub mod consume;
pub mod dedup;
pub mod env;
pub mod events;
pub mod exceptions;
pub mod fetch;
pub mod health;
pub mod history;
pub mod http;
pub mod ingest;
pub mod kv;
pub mod lane;
pub mod log;
pub mod metrics;
pub mod objects;
pub mod quarantine;
pub mod queue;
pub mod respond;
pub mod submit;
