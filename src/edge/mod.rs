//! The thin layer over `worker`: reads the environment, talks HTTP, KV and Queues, and hands
//! every decision to `core`.

pub mod bigcommerce;
pub mod deliver;
pub mod env;
pub mod http;
pub mod ingest;
pub mod log;
pub mod store;
