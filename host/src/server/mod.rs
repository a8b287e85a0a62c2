//! `one serve`: ONE over HTTP (feature `server`).
//!
//! A thin host: axum on tokio (with its own accept loop on hyper's HTTP/1.1, for the
//! head deadline) in front of the synchronous engine, whose calls run on blocking
//! threads. Every route carries the vocabulary of operations — `POST
//! /v1/execute` one request, `POST /v1/batch` several in one transaction — or names one of
//! its operations in a resource route (`GET /v1/things/{id}`, …); the live feed is
//! Server-Sent Events (`GET /v1/feed`, feed.rs). No rule lives here: who may do what is
//! the engine's, the status of each error is one table (status.rs), credentials become
//! contexts in auth.rs.
//!
//! The server keeps working under misuse: a body over its limit is 413, a request that
//! takes longer than the request timeout 408 (a body that arrives too slowly too), a
//! client that does not send a request's head in time is disconnected, more
//! requests at once than allowed 503 with `Retry-After`, a panic in a handler 500 for that
//! request alone. On shutdown it stops accepting, lets running requests and commits finish,
//! and ends every feed with a `close` event. Each request is logged as one JSON line on
//! standard error. There is no TLS and no CORS: put a reverse proxy in front (README.md of
//! `host/` shows one) and tell the server which header carries the client's address.

mod auth;
mod feed;
pub mod openapi;
mod routes;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, Request as HttpRequest, State as Shared};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use auth::GROUP_HEADER;
pub use status::{ApiError, status_of};

use crate::{Error, Ontology};
pub use routes::Resource;
use routes::resource_route;

/// How a server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where it listens (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The header a trusted reverse proxy sets to the client's address
    /// (`x-forwarded-for`); `None` (the default) takes the socket's address and ignores
    /// such headers, which any client could set.
    pub trusted_proxy_header: Option<String>,
    /// The largest request body, in bytes (default 1 MiB).
    pub max_body_bytes: usize,
    /// How long a request may take, its body included (default 30 s).
    pub request_timeout: Duration,
    /// How long a client may take to send a request's head; a slower one (or an idle
    /// keep-alive connection) is disconnected (default 10 s).
    pub header_timeout: Duration,
    /// How many requests may run at once; more get 503 (default 256).
    pub max_concurrent: usize,
    /// How many feeds may be open at once; more get 503 (default 1024).
    pub max_feeds: usize,
    /// How often an idle feed gets a keep-alive comment (default 15 s).
    pub feed_heartbeat: Duration,
    /// Whether each request is logged on standard error (default true).
    pub log_requests: bool,
}

impl ServerConfig {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        ServerConfig {
            listen,
            trusted_proxy_header: None,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            max_concurrent: 256,
            max_feeds: 1024,
            feed_heartbeat: Duration::from_secs(15),
            log_requests: true,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
struct State {
    db: Arc<Ontology>,
    config: Arc<ServerConfig>,
    /// Cancelled when the server shuts down.
    stop: CancellationToken,
    /// One permit per request running.
    requests: Arc<Semaphore>,
    /// One permit per open feed.
    feeds: Arc<Semaphore>,
    /// The threads that follow the feeds, waited for on shutdown.
    followers: Followers,
}

/// Counts the threads following feeds, so that shutdown returns only once each has let
/// go of the database.
#[derive(Clone, Default)]
struct Followers(Arc<(std::sync::Mutex<usize>, std::sync::Condvar)>);

/// One follower thread, counted while it lives.
struct Following(Followers);

impl Followers {
    fn enter(&self) -> Following {
        let (count, _) = &*self.0;
        *count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Following(self.clone())
    }

    /// Waits until no follower runs.
    fn wait_all(&self) {
        let (count, gone) = &*self.0;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        while *n > 0 {
            n = gone.wait(n).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let (count, gone) = &*(self.0).0;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        *n -= 1;
        gone.notify_all();
    }
}

/// A running server: its address, and the way to stop it.
pub struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
    followers: Followers,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts serving `db` on its own threads; returns once it listens.
    pub fn start(db: Arc<Ontology>, config: ServerConfig) -> crate::Result<Server> {
        Self::serve(db, config, routes())
    }

    /// Starts serving `routes` with the layers every route gets.
    fn serve(
        db: Arc<Ontology>,
        config: ServerConfig,
        routes: Router<State>,
    ) -> crate::Result<Server> {
        let listen = config.listen;
        let io = move |action: &'static str| {
            move |source: std::io::Error| Error::Io {
                action,
                path: listen.to_string().into(),
                source,
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("one-server")
            .build()
            .map_err(io("cannot start the server's runtime for"))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(config.listen))
            .map_err(io("cannot listen on"))?;
        let addr = listener.local_addr().map_err(io("cannot listen on"))?;
        let stop = CancellationToken::new();
        let followers = Followers::default();
        let state = State {
            followers: followers.clone(),
            db,
            requests: Arc::new(Semaphore::new(config.max_concurrent)),
            feeds: Arc::new(Semaphore::new(config.max_feeds)),
            config: Arc::new(config),
            stop: stop.clone(),
        };
        let header_timeout = state.config.header_timeout;
        let app = layered(routes, state);
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("one-server".into())
            .spawn(move || runtime.block_on(accept(listener, app, header_timeout, stopping)))
            .map_err(io("cannot start the server's thread for"))?;
        Ok(Server {
            addr,
            stop,
            followers,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends every feed with a `close` event, and returns once the
    /// requests that were running have finished and nothing of the server holds the
    /// database any more.
    pub fn shutdown(mut self) -> crate::Result<()> {
        self.stop.cancel();
        self.join()
    }

    /// Serves until the process gets SIGTERM or SIGINT, then shuts down as
    /// [`Server::shutdown`] does.
    pub fn run_until_signal(self) -> crate::Result<()> {
        let signals = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                action: "cannot wait for signals on",
                path: self.addr.to_string().into(),
                source,
            })?;
        signals.block_on(async {
            let terminate = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = terminate => {}
            }
        });
        self.shutdown()
    }

    fn join(&mut self) -> crate::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let served = thread.join();
        // Each feed's thread lets go of the database once its stream is gone.
        self.followers.wait_all();
        match served {
            Ok(result) => result.map_err(|source| Error::Io {
                action: "the server stopped serving",
                path: self.addr.to_string().into(),
                source,
            }),
            Err(_) => Err(Error::Internal {
                reason: "the server's thread panicked".into(),
            }),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = self.join();
    }
}

/// Accepts connections until `stop`, serving each with HTTP/1.1 and a deadline for every
/// request's head (a slow or idle client is disconnected, never waited for); then waits
/// for the requests being served to finish.
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                // Out of file descriptors, or a connection reset before it was taken:
                // the listener goes on after a breath.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(
            app.clone().layer(axum::Extension(ConnectInfo(peer))),
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A resource route that names `op`.
const fn op(op: &'static str) -> Resource {
    Resource {
        op,
        status: StatusCode::OK,
        path_arg: None,
        body_arg: None,
        typed_query: &[
            "limit",
            "k",
            "since",
            "until",
            "filter",
            "subtree",
            "include_children",
            "descending",
            "prefix",
        ],
        either_query: &["order"],
        list_query: &["any_labels", "all_labels", "permissions"],
    }
}

/// `op` creating a record: 201.
const fn creates(op: &'static str) -> Resource {
    Resource {
        status: StatusCode::CREATED,
        ..self::op(op)
    }
}

/// `r` with its path parameter named `name`.
const fn at(r: Resource, name: &'static str) -> Resource {
    Resource {
        path_arg: Some(name),
        ..r
    }
}

/// `r` with its body as the argument `name`.
const fn body_as(r: Resource, name: &'static str) -> Resource {
    Resource {
        body_arg: Some(name),
        ..r
    }
}

/// How a resource route is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`: arguments from the path and the query.
    Get,
    /// `POST`: arguments from the body (and the path).
    Post,
    /// `PATCH`: arguments from the path, and the body.
    Patch,
    /// `DELETE`: arguments from the path.
    Delete,
}

impl Verb {
    /// The method's name, lower-case (as OpenAPI names operations).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }

    fn filter(self) -> axum::routing::MethodFilter {
        match self {
            Verb::Get => axum::routing::MethodFilter::GET,
            Verb::Post => axum::routing::MethodFilter::POST,
            Verb::Patch => axum::routing::MethodFilter::PATCH,
            Verb::Delete => axum::routing::MethodFilter::DELETE,
        }
    }
}

/// Every resource route: how it is reached, where, and the operation it names. Each is
/// the vocabulary's operation with its arguments taken from the path, the query and the
/// body; the OpenAPI document is built from this table too.
pub const RESOURCES: &[(Verb, &str, Resource)] = &[
    (Verb::Get, "/v1/groups/{id}", at(op("get_group"), "id")),
    (
        Verb::Patch,
        "/v1/groups/{id}",
        body_as(at(op("update_group"), "id"), "update"),
    ),
    (
        Verb::Get,
        "/v1/groups/{id}/children",
        at(op("children"), "group"),
    ),
    (
        Verb::Post,
        "/v1/groups/{id}/children",
        body_as(at(creates("create_group"), "parent"), "group"),
    ),
    (
        Verb::Get,
        "/v1/groups/{id}/members",
        at(op("members"), "group"),
    ),
    (
        Verb::Get,
        "/v1/groups/{id}/connections",
        at(op("group_connections"), "group"),
    ),
    (Verb::Get, "/v1/things", op("things")),
    (Verb::Post, "/v1/things", creates("create_thing")),
    (Verb::Post, "/v1/things/search", op("search_things")),
    (Verb::Get, "/v1/things/{id}", at(op("get_thing"), "id")),
    (
        Verb::Patch,
        "/v1/things/{id}",
        body_as(at(op("update_thing"), "id"), "update"),
    ),
    (
        Verb::Delete,
        "/v1/things/{id}",
        at(op("delete_thing"), "id"),
    ),
    (Verb::Get, "/v1/connections", op("connections")),
    (Verb::Post, "/v1/connections", creates("connect")),
    (
        Verb::Get,
        "/v1/connections/{id}",
        at(op("get_connection"), "id"),
    ),
    (
        Verb::Patch,
        "/v1/connections/{id}",
        body_as(at(op("update_connection"), "id"), "metadata"),
    ),
    (
        Verb::Delete,
        "/v1/connections/{id}",
        at(op("disconnect"), "id"),
    ),
    (Verb::Get, "/v1/events", op("events")),
    (Verb::Post, "/v1/events", creates("log_event")),
    (Verb::Post, "/v1/people", creates("create_person")),
    (Verb::Post, "/v1/knowledge", creates("create_knowledge")),
    (
        Verb::Get,
        "/v1/knowledge/{id}",
        at(op("get_knowledge"), "id"),
    ),
    (
        Verb::Delete,
        "/v1/knowledge/{id}",
        at(op("delete_knowledge"), "id"),
    ),
    (Verb::Post, "/v1/knowledge/search", op("query_knowledge")),
    (Verb::Get, "/v1/keys", op("api_keys")),
    (Verb::Post, "/v1/keys", creates("create_api_key")),
    (
        Verb::Delete,
        "/v1/keys/{id}",
        at(op("revoke_api_key"), "id"),
    ),
    (Verb::Post, "/v1/auth/sign-up", creates("sign_up")),
    (Verb::Post, "/v1/auth/sign-in", op("sign_in")),
    (Verb::Post, "/v1/auth/sign-out", op("sign_out")),
    (Verb::Post, "/v1/auth/magic-link", op("magic_link")),
    (Verb::Post, "/v1/auth/second-factor", op("complete_sign_in")),
    (
        Verb::Post,
        "/v1/auth/two-factor/enroll",
        op("enroll_two_factor"),
    ),
    (
        Verb::Post,
        "/v1/auth/two-factor/confirm",
        op("confirm_two_factor"),
    ),
    (
        Verb::Post,
        "/v1/auth/two-factor/disable",
        op("disable_two_factor"),
    ),
    (Verb::Post, "/v1/auth/switch-tenant", op("switch_tenant")),
];

/// The query of a request, or why it did not parse.
type QueryOf = Result<
    Query<std::collections::BTreeMap<String, String>>,
    axum::extract::rejection::QueryRejection,
>;

/// What a resource route's handler returns.
type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// The handler of the resource route `r`.
fn resource_handler(
    r: Resource,
) -> impl Fn(
    Shared<State>,
    ConnectInfo<SocketAddr>,
    HeaderMap,
    axum::extract::RawPathParams,
    QueryOf,
    Body,
) -> Answer
+ Clone
+ Send
+ Sync
+ 'static {
    move |Shared(app), ConnectInfo(peer), headers, params, query, body| {
        Box::pin(async move {
            let path = params.iter().next().map(|(_, v)| v.to_string());
            match routes::query_of(query) {
                Ok(q) => resource_route(r, app, peer, headers, path, q, body).await,
                Err(e) => e.into_response(),
            }
        })
    }
}

/// Every route.
fn routes() -> Router<State> {
    let mut router = Router::new()
        .route("/v1/execute", post(routes::execute_route))
        .route("/v1/batch", post(routes::batch_route))
        .route("/v1/feed", get(feed::feed_route))
        .route("/v1/openapi.json", get(openapi::route))
        .route("/health", get(routes::health));
    for (verb, path, r) in RESOURCES {
        router = router.route(path, axum::routing::on(verb.filter(), resource_handler(*r)));
    }
    router
}

/// `routes` with the layers that keep the server working.
fn layered(routes: Router<State>, state: State) -> Router {
    let timeout = state.config.request_timeout;
    routes
        .fallback(|| async {
            ApiError::from(crate::Failure {
                code: 100,
                name: "not_found".into(),
                message: "no such route".into(),
                field: None,
                step: None,
                retry_after_ms: None,
                resets_at: None,
            })
        })
        .layer(middleware::from_fn_with_state(state.clone(), admit_request))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("the handler panicked; nothing else was affected")
                    .into_response()
            },
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(timeout))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// Admits a request under the concurrency limit (503 beyond it; feeds have their own)
/// and logs it as one JSON line.
#[allow(
    clippy::disallowed_methods,
    reason = "a request's duration in the log is wall time of the server, not engine time"
)]
async fn admit_request(Shared(state): Shared<State>, request: HttpRequest, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let is_feed = path == "/v1/feed";
    let permit = if is_feed {
        None
    } else {
        match state.requests.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => return ApiError::busy("too many requests at once").into_response(),
        }
    };
    let response = next.run(request).await;
    drop(permit);
    if state.config.log_requests {
        let line = serde_json::json!({
            "method": method.as_str(),
            "path": path,
            "status": response.status().as_u16(),
            "ms": started.elapsed().as_secs_f64() * 1000.0,
        });
        eprintln!("{line}");
    }
    response
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// Sends `GET path` and returns the whole answer.
    fn fetch(addr: SocketAddr, path: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn a_panic_in_a_handler_is_a_500_for_that_request_only() {
        let db = Arc::new(Ontology::in_memory().unwrap());
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        config.log_requests = false;
        async fn bug() -> &'static str {
            panic!("a bug in a handler")
        }
        let panics = routes().route("/panic", get(bug));
        let server = Server::serve(db, config, panics).unwrap();
        let answer = fetch(server.addr(), "/panic");
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains(r#""name":"internal""#), "{answer}");
        // The server, and its other routes, go on.
        for _ in 0..3 {
            assert!(fetch(server.addr(), "/health").starts_with("HTTP/1.1 200"));
        }
        server.shutdown().unwrap();
    }
}
