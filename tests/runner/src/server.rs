//! The HTTP front end: route, add Spin's request headers, and run the
//! component in a fresh instance for every request.

use crate::app::{App, engine};
use crate::body_limit::{LimitedBody, MAX_REQUEST_BODY};
use crate::host::State;
use crate::kv_stats::{self, KvOps};
use crate::routes::RouteMatch;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub struct Server {
    pub app: Arc<App>,
    pub local_addr: SocketAddr,
    pub log_requests: bool,
    pub kv_stats: bool,
}

/// Accepts connections until `shutdown` fires.
pub async fn serve(server: Arc<Server>, listener: TcpListener, mut shutdown: oneshot::Receiver<()>) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    continue;
                }
            },
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(req, peer).await) }
            });
            // Client disconnects are routine; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn plain(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from_static(body.as_bytes())).map_err(|never| match never {}).boxed_unsync();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res
}

impl Server {
    async fn handle(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<HyperOutgoingBody> {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let Some(matched) = self.app.router.route(&path) else {
            if self.log_requests {
                eprintln!("{method} {path} -> 404 (no route)");
            }
            return plain(StatusCode::NOT_FOUND, "");
        };
        self.add_spin_headers(&mut req, &matched, peer);
        let res = match self.run_component(&matched.component, req).await {
            Ok(res) => res,
            Err(e) => {
                eprintln!("[{}] {method} {path} failed: {e:?}", matched.component);
                plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n")
            }
        };
        if self.log_requests {
            eprintln!("[{}] {method} {path} -> {}", matched.component, res.status().as_u16());
        }
        res
    }

    fn add_spin_headers(&self, req: &mut Request<Incoming>, m: &RouteMatch, peer: SocketAddr) {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| self.local_addr.to_string());
        let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let full_url = format!("http://{host}{path_and_query}");
        let values = [
            ("spin-full-url", full_url),
            ("spin-path-info", m.path_info.clone()),
            ("spin-matched-route", m.raw_route.clone()),
            ("spin-component-route", m.component_route.clone()),
            ("spin-raw-component-route", m.raw_route.clone()),
            ("spin-base-path", "/".to_string()),
            ("spin-client-addr", peer.to_string()),
        ];
        let headers = req.headers_mut();
        // wasi-http needs an authority; HTTP/1.0 clients may send no Host.
        if !headers.contains_key(http::header::HOST)
            && let Ok(v) = HeaderValue::from_str(&host)
        {
            headers.insert(http::header::HOST, v);
        }
        for (name, value) in values {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }

    async fn run_component(&self, id: &str, req: Request<Incoming>) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let component = &self.app.components[id];
        let ops = Arc::new(KvOps::default());
        let mut store = Store::new(engine(), State::new(component.shared.clone(), ops.clone())?);
        let (tx, rx) = oneshot::channel();
        // Streamed to the component as it reads, and never past the host's limit.
        let req = req.map(|body| LimitedBody::new(body, MAX_REQUEST_BODY));
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let pre = component.pre.clone();
        // Own task: the guest may keep streaming the body after sending headers.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        });
        match rx.await {
            Ok(Ok(mut res)) => {
                // The head is set once the step is done: its operations are all counted.
                if self.kv_stats
                    && let Ok(v) = HeaderValue::from_str(&ops.summary())
                {
                    res.headers_mut().insert(kv_stats::HEADER, v);
                }
                Ok(res)
            }
            Ok(Err(code)) => anyhow::bail!("component answered with error code {code:?}"),
            Err(_) => {
                let err = match task.await {
                    Ok(Ok(())) => anyhow::anyhow!("component returned without setting a response"),
                    Ok(Err(e)) => anyhow::Error::from(e).context("component trapped"),
                    Err(e) => anyhow::Error::from(e).context("component task panicked"),
                };
                Err(err)
            }
        }
    }
}
