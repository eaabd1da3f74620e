//! `POST /api/unlock`: ends an unlock flow whose gates have all passed by
//! clearing the account's lock.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;
use unlatch_core::unlock;
use unlatch_web::{method_not_allowed, read_json, reply, with_host};

#[http_component]
fn handle(req: Request) -> Response {
    if *req.method() != Method::Post {
        return method_not_allowed(&[Method::Post]);
    }
    let unlocked = read_json(&req).and_then(|body| with_host(&req, |host| unlock::unlock(&host.ctx(), body)));
    reply(unlocked, 200)
}
