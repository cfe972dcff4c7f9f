//! Bare floor: reads the body and answers 200, nothing else.

use worker::{event, Context, Env, Request, Response, Result};

#[event(fetch)]
async fn fetch(mut req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let _body = req.bytes().await?;
    Response::ok("ok")
}
