//! The thin layer over `worker`: reads the environment, talks HTTP, KV and Queues, and hands
//! every decision to `core`.

pub mod admin;
pub mod bigcommerce;
pub mod deliver;
pub mod enqueue;
pub mod enrich;
pub mod env;
pub mod fetch;
pub mod http;
pub mod ingest;
pub mod log;
pub mod metrics;
pub mod store;
