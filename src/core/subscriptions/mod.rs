//! Subscribing the store: BigCommerce's store hooks (`/stores/{hash}/v3/hooks`, see
//! `webhooks.v3.yml`) and the pure planner that decides, per wanted scope, what one sync does.
//!
//! A hook is *ours* when its destination is `{PUBLIC_URL}/webhooks/bigcommerce` (scheme and
//! host compared case-insensitively, trailing slashes ignored). Hooks to any other destination
//! belong to someone else and are never touched. Sync never deletes anything.

mod api;
mod plan;
mod settings;

pub use api::{error_message, redact, written_hook, Hook, HookHeaders, HookPage, HookWrite};
pub use plan::{
    destination_for, is_ours, plan, reactivate_hook, status, wanted_headers, Action, Mode, Outcome,
    Reactivation, Row, SyncReport, Write,
};
pub use settings::{default_scopes, wanted_scopes, Settings, SettingsError, DEFAULT_API_BASE};

/// The path of the relay's ingest route, appended to `PUBLIC_URL`.
pub const INGEST_PATH: &str = "/webhooks/bigcommerce";
