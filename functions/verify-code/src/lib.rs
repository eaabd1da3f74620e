//! The `verify-code` step. Its journey lands with its own issue; until then every
//! route answers 501 `not_implemented` (the foundation's one placeholder).

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> Response {
    unlatch_web::not_implemented()
}
