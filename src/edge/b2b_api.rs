//! The B2B Edition REST API call behind an enrichment job: one GET, its answer classified by
//! the core. What follows from the verdict is decided in `core::deliver::consume`.

use crate::core::config::Config;
use crate::core::deliver::enrich::{self, Verdict, TIMEOUT_MS};
use crate::core::deliver::outbound::USER_AGENT;
use crate::core::deliver::redact;
use crate::core::secret::Secret;
use crate::edge::env;
use crate::edge::fetch::{self, Answer, Body};
use worker::{Env, Method};

/// B2B API answers are a few KB; the cap bounds what a misbehaving upstream can make us hold.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

pub async fn call(env: &Env, cfg: &Config, store_hash: &str, path: &str) -> Verdict {
    let Some(token) = enrich::token_names(store_hash)
        .iter()
        .find_map(|n| env::text(env, n).filter(|t| !t.trim().is_empty()))
        .map(Secret::new)
    else {
        return Verdict::Retry {
            retry_after: None,
            reason: format!("no BC_ACCESS_TOKEN secret for store {store_hash}"),
        };
    };
    let headers = [
        // The one place the token leaves its `Secret`: the request that sends it.
        ("x-auth-token".into(), token.expose().to_owned().into()),
        ("x-store-hash".into(), store_hash.to_owned().into()),
        ("accept".into(), "application/json".into()),
        ("user-agent".into(), USER_AGENT.into()),
    ];
    let url = format!("{}{path}", cfg.b2b_api_base);
    match fetch::call(
        Method::Get,
        &url,
        &headers,
        None,
        TIMEOUT_MS,
        Body::Read(MAX_ANSWER_BYTES),
    )
    .await
    {
        Answer::Response(r) => enrich::classify(r.status, &r.body, r.retry_after),
        Answer::Timeout => Verdict::Retry {
            retry_after: None,
            reason: "B2B API timed out".into(),
        },
        Answer::Network(e) => Verdict::Retry {
            retry_after: None,
            reason: format!("B2B API unreachable: {}", redact::text(&e, &[])),
        },
    }
}
