//! Request bodies of the operator routes: as text, or as the one JSON shape every admin route
//! reads (`core::admin::AdminBody`).

use crate::core::admin::AdminBody;
use crate::core::error::{ErrorCode, RelayError};
use worker::Request;

pub async fn text(req: &mut Request) -> Result<String, RelayError> {
    req.text().await.map_err(|_| {
        RelayError::new(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )
    })
}

/// The JSON body with the members `known` to its route; blank is the empty body.
pub async fn admin(req: &mut Request, known: &[&str]) -> Result<AdminBody, RelayError> {
    let text = text(req).await?;
    AdminBody::read(&text, known)
        .map_err(|e| RelayError::new(ErrorCode::InvalidJson, format!("invalid request body: {e}")))
}
