//! BigCommerce's `store/hook/deliveryException` once ingest accepted it (it is forwarded like
//! any event): a warning line, a counter, and after a 90002 ("retries exhausted, the hook is
//! being disabled") the reactivate-only sync for that one hook, run shortly after the answer.
//!
//! Why `waitUntil` after a short delay and not a delayed queue job: the hook is being disabled
//! as BigCommerce tells, so the relay looks after about 12 s (and once more after 12 s more if
//! it was still active), all inside the 30 s a Worker may keep running after its answer; no
//! new message type for the consumer. If BigCommerce disables the hook later than that, the
//! daily cron re-activates it.

use crate::core::config::Config;
use crate::core::event::EncodedEvent;
use crate::core::ingest::exception::{
    DeliveryException, REACTIVATE_AFTER_MS, REACTIVATE_AGAIN_AFTER_MS,
};
use crate::edge::metrics::{self, Point};
use crate::edge::{bigcommerce, env, log};
use std::time::Duration;
use worker::{Context, Delay, Env};

pub fn observe(env: &Env, ctx: &Context, cfg: &Config, event: &EncodedEvent) {
    let x = DeliveryException::read(&event.data);
    let hook = x.reactivates().filter(|_| cfg.sync.is_ok());
    // `"level":"warn"` is in the line; written with console.log like every other line
    // (wrangler dev frames console.warn output, which log readers cannot parse).
    if let Ok(text) = serde_json::to_string(&x.line(&event.storehash, &event.id, hook.is_some())) {
        log::write(&text);
    }
    let code = x.error_code.map(|c| c.to_string()).unwrap_or_default();
    metrics::record(
        env,
        &Point {
            kind: "hook_exception",
            ty: event.short_type(),
            target: "",
            outcome: &code,
            store: &event.storehash,
            duration_ms: 0,
        },
    );
    let Some(hook_id) = hook else {
        return;
    };
    // The configuration is per isolate and never changes: the task keeps its own handle.
    let loaded = env::config(env);
    ctx.wait_until(async move {
        let Ok(cfg) = loaded.as_ref() else {
            return;
        };
        // A loop, not two calls: one copy of the call's state machine in the wasm.
        for wait_ms in [REACTIVATE_AFTER_MS, REACTIVATE_AGAIN_AFTER_MS] {
            Delay::from(Duration::from_millis(wait_ms)).await;
            if bigcommerce::reactivate_hook(cfg, hook_id).await != "still_active" {
                break;
            }
        }
    });
}
