//! Delivery: `message` is what travels through the queue, `consume` decides what one message's
//! attempt leads to (effects, then ack or hand back), `outbound` + `sign` build the request,
//! `retry` classifies answers, `enrich` plans B2B API lookups, `attempts` shapes the log;
//! `lane` is each target's own state (breaker, pause, disable) with `rate` its rate limit,
//! `lanes` how the consumer talks to it (kept by a Durable Object) and which queue carries a
//! target's deliveries, `shortcut` what an isolate may decide without asking it,
//! `operational` the relay's own events about its targets.

pub mod attempts;
pub mod compact;
pub mod consume;
pub mod enrich;
pub mod lane;
pub mod lanes;
pub mod message;
pub mod operational;
pub mod outbound;
pub mod presets;
pub mod rate;
pub mod redact;
pub mod retry;
pub mod shortcut;
pub mod sign;
pub mod template;
