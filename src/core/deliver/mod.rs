//! Delivery: `message` is what travels through the queue, `consume` decides what one message's
//! attempt leads to (effects, then ack or hand back), `outbound` + `sign` build the request,
//! `retry` classifies answers, `enrich` plans B2B API lookups, `attempts` shapes the log.

pub mod attempts;
pub mod consume;
pub mod enrich;
pub mod message;
pub mod outbound;
pub mod presets;
pub mod retry;
pub mod sign;
pub mod template;
