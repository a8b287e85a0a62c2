//! `one-client`: ONE over HTTP, with the same API as the embedded engine.
//!
//! [`Remote`] implements [`DataProvider`], the trait `one::Local` implements over an
//! embedded database: code written against the trait runs unchanged on both. It sends the
//! vocabulary of operations to a server started with `one serve`: `POST /v1/execute`,
//! `POST /v1/batch`, and follows `GET /v1/feed` (Server-Sent Events), reconnecting with
//! `Last-Event-ID` so that a dropped connection or a restarted server loses no change and
//! repeats none.
//!
//! ```no_run
//! use one_client::Remote;
//! use one_vocabulary::provider::DataProvider;
//! use one_vocabulary::records::thing::NewThing;
//!
//! let db = Remote::connect("http://127.0.0.1:8080", "ok_live_…")?;
//! let mug = db.create_thing(NewThing::new("product", "Mug").property("price", 12))?;
//! assert_eq!(db.get_thing(mug.id)?.name, "Mug");
//! # Ok::<(), one_vocabulary::Failure>(())
//! ```
//!
//! Its dependencies are `one-vocabulary` and `serde_json` (and theirs: serde, postcard,
//! thiserror, sha2, getrandom, schemars): no storage, no plugin runtime, no async
//! runtime, no TLS — plain HTTP, with TLS left to a proxy beside the client or in front
//! of the server.

mod http;

use std::io::{BufRead, BufReader};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use one_vocabulary::Error;
use one_vocabulary::decode::{Undecodable, from_json};
use one_vocabulary::id::{EventId, GroupId};
use one_vocabulary::operations::ChangeFilter;
use one_vocabulary::provider::{ChangeStream, DataProvider};
use one_vocabulary::records::event::Event;
use one_vocabulary::{Failure, Request, Response};

use http::Endpoint;

/// A server reached over HTTP, acting as one credential.
#[derive(Debug, Clone)]
pub struct Remote {
    endpoint: Endpoint,
    /// `Bearer <token>`.
    authorization: String,
    /// The group calls act in, when not the credential's own.
    group: Option<GroupId>,
}

/// A failure of the transport itself (code 905, `io`): the server could not be reached or
/// answered something that is not HTTP.
fn transport(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::from(Error::Io {
        action: "cannot reach",
        path: what.into(),
        source: std::io::Error::other(e.to_string()),
    })
}

impl Remote {
    /// A client of the server at `url` (`http://host:port`), acting with `token` (an API
    /// key or a session token). Checks that the server answers.
    pub fn connect(url: &str, token: &str) -> Result<Remote, Failure> {
        let endpoint = Endpoint::parse(url).map_err(|e| {
            Failure::from(Error::InvalidField {
                field: "url".into(),
                reason: e,
            })
        })?;
        let remote = Remote {
            endpoint,
            authorization: format!("Bearer {token}"),
            group: None,
        };
        let health = http::request(&remote.endpoint, "GET", "/health", &[], b"")
            .map_err(|e| transport(url, e))?;
        if health.status != 200 {
            return Err(transport(
                url,
                format!("/health answered {}", health.status),
            ));
        }
        Ok(remote)
    }

    /// The same client, acting in `group` (within the credential's scope).
    pub fn in_group(mut self, group: GroupId) -> Remote {
        self.group = Some(group);
        self
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("authorization", self.authorization.clone()),
            ("content-type", "application/json".to_string()),
        ];
        if let Some(g) = self.group {
            headers.push(("x-organization-id", g.to_string()));
        }
        headers
    }

    /// Posts `body` to `path` and reads the answer as a `T`, or the failure it carries.
    fn post<T: serde::de::DeserializeOwned>(&self, path: &str, body: &str) -> Result<T, Failure> {
        let headers = self.headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = http::request(&self.endpoint, "POST", path, &headers, body.as_bytes())
            .map_err(|e| transport(&self.endpoint.authority, e))?;
        let text = String::from_utf8_lossy(&reply.body);
        if reply.status == 200 {
            return from_json(&text).map_err(|e| match e {
                Undecodable::Value(error) => Failure::from(error),
                Undecodable::Shape(why) => transport(&self.endpoint.authority, why),
            });
        }
        Err(serde_json::from_str::<Failure>(&text).unwrap_or_else(|_| {
            transport(
                &self.endpoint.authority,
                format!("status {} without a failure: {text}", reply.status),
            )
        }))
    }
}

impl DataProvider for Remote {
    fn execute(&self, request: Request) -> Result<Response, Failure> {
        let body = serde_json::to_string(&request).map_err(|e| transport("the request", e))?;
        self.post("/v1/execute", &body)
    }

    fn batch(&self, steps: &[serde_json::Value]) -> Result<Vec<Response>, Failure> {
        let body = serde_json::to_string(steps).map_err(|e| transport("the batch", e))?;
        self.post("/v1/batch", &body)
    }

    fn follow_all(
        &self,
        filters: Vec<ChangeFilter>,
        after: Option<EventId>,
    ) -> Result<Box<dyn ChangeStream + '_>, Failure> {
        ChangeFilter::check_all(&filters).map_err(Failure::from)?;
        // Every filter as a `filter` parameter: the stream says which ones each change
        // matched.
        let mut query = Vec::with_capacity(filters.len());
        for filter in &filters {
            let json = serde_json::to_string(filter).map_err(|e| transport("a filter", e))?;
            query.push(format!("filter={}", http::percent_encode(&json)));
        }
        let path = format!("/v1/feed?{}", query.join("&"));
        let feed = Feed::open(self.clone(), path, after)?;
        Ok(Box::new(feed))
    }
}

/// What the reader thread of a feed hands over.
enum Item {
    /// A change, with the filters it matched.
    Change(Box<Event>, Vec<usize>),
    Failed(Failure),
}

/// A feed over HTTP: a thread reads the event stream and reconnects after a drop,
/// resuming after the last change it delivered.
struct Feed {
    items: mpsc::Receiver<Item>,
    cursor: Option<EventId>,
    matched: Vec<usize>,
    stop: Arc<AtomicBool>,
    socket: Arc<Mutex<Option<std::net::TcpStream>>>,
}

impl Feed {
    fn open(remote: Remote, path: String, after: Option<EventId>) -> Result<Feed, Failure> {
        let stop = Arc::new(AtomicBool::new(false));
        let socket = Arc::new(Mutex::new(None));
        // The first connection is made here, so a refusal is this call's failure.
        let first = connect(&remote, &path, after)?;
        let (tx, items) = mpsc::channel();
        let (thread_stop, thread_socket) = (stop.clone(), socket.clone());
        std::thread::Builder::new()
            .name("one-client-feed".into())
            .spawn(move || {
                read_feed(
                    &remote,
                    &path,
                    after,
                    first,
                    &tx,
                    &thread_stop,
                    &thread_socket,
                )
            })
            .map_err(|e| transport("a thread for the feed", e))?;
        Ok(Feed {
            items,
            cursor: after,
            matched: Vec::new(),
            stop,
            socket,
        })
    }
}

/// Opens the event stream, resuming after `after`.
fn connect(remote: &Remote, path: &str, after: Option<EventId>) -> Result<http::Stream, Failure> {
    let mut headers = remote.headers();
    headers.push(("accept", "text/event-stream".into()));
    if let Some(a) = after {
        headers.push(("last-event-id", a.to_string()));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut stream = http::stream(&remote.endpoint, path, &headers)
        .map_err(|e| transport(&remote.endpoint.authority, e))?;
    if stream.status != 200 {
        let mut body = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut body);
        return Err(serde_json::from_str::<Failure>(&body).unwrap_or_else(|_| {
            transport(
                &remote.endpoint.authority,
                format!("status {}", stream.status),
            )
        }));
    }
    Ok(stream)
}

/// The data of a `match` event: a change and the filters it matched.
#[derive(serde::Deserialize)]
struct Matched {
    filters: Vec<usize>,
    event: Event,
}

/// The reader thread: parses events, hands over changes, and reconnects when the stream
/// drops, until the feed is dropped or the server refuses.
fn read_feed(
    remote: &Remote,
    path: &str,
    mut after: Option<EventId>,
    first: http::Stream,
    tx: &mpsc::Sender<Item>,
    stop: &AtomicBool,
    socket: &Mutex<Option<std::net::TcpStream>>,
) {
    let mut stream = Some(first);
    while !stop.load(Ordering::Relaxed) {
        let current = match stream.take() {
            Some(s) => s,
            None => match connect(remote, path, after) {
                Ok(s) => s,
                Err(f) if f.code == 905 => {
                    // The server is away (restarting): try again shortly.
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                Err(f) => {
                    let _ = tx.send(Item::Failed(f));
                    return;
                }
            },
        };
        if let Ok(s) = current.socket() {
            *socket.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
        }
        let mut reader = BufReader::new(current);
        let (mut event, mut data) = (String::new(), String::new());
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(v) = l.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = l.strip_prefix("data:") {
                data.push_str(v.trim_start());
            } else if l.is_empty() {
                match event.as_str() {
                    "match" => match serde_json::from_str::<Matched>(&data) {
                        Ok(Matched { filters, event }) => {
                            after = Some(event.id);
                            if tx.send(Item::Change(Box::new(event), filters)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Item::Failed(transport("the feed", e)));
                            return;
                        }
                    },
                    "end" => {
                        let failure = serde_json::from_str::<Failure>(&data)
                            .unwrap_or_else(|_| transport("the feed", "it ended"));
                        let _ = tx.send(Item::Failed(failure));
                        return;
                    }
                    // `resync` and `close`: the next connection resumes after `after`.
                    _ => {}
                }
                event.clear();
                data.clear();
            }
        }
    }
}

impl ChangeStream for Feed {
    fn next_change(&mut self, timeout: Duration) -> Result<Option<Event>, Failure> {
        match self.items.recv_timeout(timeout) {
            Ok(Item::Change(e, matched)) => {
                self.cursor = Some(e.id);
                self.matched = matched;
                Ok(Some(*e))
            }
            Ok(Item::Failed(f)) => Err(f),
            Err(mpsc::RecvTimeoutError::Timeout) => Ok(None),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(transport("the feed", "its reader stopped"))
            }
        }
    }

    fn cursor(&self) -> Option<EventId> {
        self.cursor
    }

    fn matched(&self) -> Vec<usize> {
        self.matched.clone()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(s) = self.socket.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
