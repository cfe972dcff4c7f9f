//! b2b-relay: BigCommerce B2B Edition webhooks → verified, deduplicated CloudEvents, fanned out
//! to the operator's targets with Standard Webhooks signatures, retries and dead letters.
//!
//! `core` decides (pure, tested with `cargo test`); `edge` is the thin layer over `worker`
//! (HTTP, KV, Queues, fetch, the `TargetLane` Durable Object class in `edge::lane`) and
//! exists only in the wasm build.

pub mod core;

/// Single-threaded wasm only: talc's cell is sound there and nowhere else.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    ctx: worker::Context,
) -> worker::Result<worker::Response> {
    Ok(edge::http::handle(req, env, ctx).await)
}

/// Deliveries and their dead-letter queue; never fails (the consumer settles every message).
/// Exported by hand, as `#[event(queue)]` would export it, so that the consumer gets the
/// runtime's own batch (worker's wrapper retries through serde_wasm_bindgen: ~5 KB of wasm).
#[cfg(target_arch = "wasm32")]
mod queue_export {
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;

    #[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
    pub async fn queue(
        batch: worker::worker_sys::MessageBatch,
        env: worker::Env,
        _ctx: worker::worker_sys::Context,
    ) -> Result<JsValue, JsValue> {
        crate::edge::consume::consume(batch, env).await;
        Ok(JsValue::UNDEFINED)
    }
}

/// The daily cron (`[triggers]` in wrangler.toml): re-activates the store's hooks of ours that
/// BigCommerce deactivated, then deletes history older than `HISTORY_DAYS`. Logs its outcome
/// and never fails.
#[cfg(target_arch = "wasm32")]
#[worker::event(scheduled)]
async fn scheduled(
    _event: worker::ScheduledEvent,
    env: worker::Env,
    _ctx: worker::ScheduleContext,
) {
    edge::bigcommerce::on_schedule(&env).await;
    edge::history::on_schedule(&env).await;
}
