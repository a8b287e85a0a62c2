//! Load on `one serve` over loopback: point gets and durable creates with keep-alive
//! connections, the framework's floor (`/health`), and the live feed's delivery to many
//! subscribers with the server's memory per idle subscriber.
//!
//! ```sh
//! cargo run --release -p one-benches --example http_load            # everything
//! cargo run --release -p one-benches --example http_load -- get 256 # one measure
//! ```
//!
//! The server runs in a child process (this program with `--serve`), so its memory is its
//! own; the load generator's threads share the machine's cores with it.

#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures wall time"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use one::server::{Server, ServerConfig};
use one::*;

/// How long each load runs.
const RUN: Duration = Duration::from_secs(10);

/// `--serve PATH`: a server over the file at PATH, with a tenant, a thing and a key; prints
/// `addr key thing` on one line and serves until stdin closes.
fn serve(path: &str) {
    let db = Arc::new(Ontology::open(path).unwrap());
    let tenant = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Load", "load"))
        .unwrap();
    let ctx = Context::system(tenant.id);
    let (thing, key) = db
        .write(&ctx, |tx| {
            let t = tx.create_thing(
                NewThing::new("product", "Mug")
                    .property("price", 1200)
                    .property("sku", "MUG-001"),
            )?;
            let k = tx.create_api_key(NewApiKey::new("load", &["read", "write"]))?;
            Ok((t, k.secret.expose().to_string()))
        })
        .unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.log_requests = false;
    config.max_concurrent = 4096;
    config.max_feeds = 4096;
    let server = Server::start(db, config).unwrap();
    println!("{} {key} {}", server.addr(), thing.id);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    server.shutdown().unwrap();
}

/// A child process serving a fresh database; returns it with its address, key and thing.
fn child() -> (Child, SocketAddr, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("load.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--serve", path.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut parts = line.split_whitespace();
    let addr = parts.next().unwrap().parse().unwrap();
    let key = parts.next().unwrap().to_string();
    let thing = parts.next().unwrap().to_string();
    (child, addr, key, thing, dir)
}

/// One keep-alive connection sending `request` again and again until `stop`, recording
/// each latency in microseconds.
fn hammer(addr: SocketAddr, request: Arc<Vec<u8>>, stop: Arc<AtomicBool>) -> Vec<u32> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut latencies = Vec::new();
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        stream.write_all(&request).unwrap();
        let mut length = 0usize;
        let mut status = 0;
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if status == 0 {
                status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        assert!(
            (200..300).contains(&status),
            "status {status}: {}",
            String::from_utf8_lossy(&body)
        );
        latencies.push(start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
    }
    latencies
}

/// Runs `connections` connections sending `request` for [`RUN`]; prints the rate and
/// the latency percentiles.
fn load(name: &str, addr: SocketAddr, connections: usize, request: Vec<u8>) {
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (request, stop) = (request.clone(), stop.clone());
            std::thread::spawn(move || hammer(addr, request, stop))
        })
        .collect();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    let at = |q: f64| f64::from(all[((all.len() as f64 * q) as usize).min(all.len() - 1)]) / 1000.0;
    println!(
        "{name:<32} {connections:>4} conns: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        all.len() as f64 / RUN.as_secs_f64(),
        at(0.50),
        at(0.99)
    );
}

fn http(method: &str, path: &str, key: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: load\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `subscribers` feeds, then `changes` commits one at a time: for each, the time from
/// just before the commit to its arrival at the last subscriber.
fn feed(subscribers: usize, changes: usize) {
    let (mut server, addr, key, _, _dir) = child();
    let before = rss_kib(server.id());
    let arrived = Arc::new(std::sync::Mutex::new(Vec::<(usize, Instant)>::new()));
    let ready = Arc::new(std::sync::Barrier::new(subscribers + 1));
    for _ in 0..subscribers {
        let (key, arrived, ready) = (key.clone(), arrived.clone(), ready.clone());
        std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                write!(s, "GET /v1/feed?dimensions=things HTTP/1.1\r\nhost: l\r\nauthorization: Bearer {key}\r\n\r\n").unwrap();
                let mut r = BufReader::new(s);
                let mut line = String::new();
                // The head, then the stream.
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    if line == "\r\n" {
                        break;
                    }
                }
                ready.wait();
                let mut n = 0;
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if line.contains("event: change") || line.starts_with("event:change") {
                        arrived.lock().unwrap().push((n, Instant::now()));
                        n += 1;
                    }
                }
            })
            .unwrap();
    }
    ready.wait();
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss_kib(server.id());
    let mut latencies = Vec::new();
    for i in 0..changes {
        let start = Instant::now();
        let body = format!(r#"{{"create_thing":{{"type":"note","name":"n{i}"}}}}"#);
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&http("POST", "/v1/execute", &key, &body))
            .unwrap();
        let mut answer = String::new();
        let _ = BufReader::new(s).read_line(&mut answer);
        // Wait for every subscriber to have it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = arrived
                .lock()
                .unwrap()
                .iter()
                .filter(|(n, _)| *n == i)
                .count();
            if got == subscribers || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let last = arrived
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| *n == i)
            .map(|(_, t)| *t)
            .max()
            .unwrap_or(start);
        latencies.push(last.duration_since(start).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(50));
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "feed: {subscribers} subscribers, {changes} commits: commit → last delivery p50 {:.1} ms, p99 {:.1} ms; server RSS {} KiB → {} KiB idle = {:.1} KiB per subscriber",
        at(0.50),
        at(0.99),
        before,
        idle,
        (idle.saturating_sub(before)) as f64 / subscribers as f64
    );
    drop(server.stdin.take());
    let _ = server.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        serve(&args[1]);
        return;
    }
    let only = args.first().cloned();
    let wants = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let connections: Vec<usize> = match args.get(1) {
        Some(n) => vec![n.parse().unwrap()],
        None => vec![64, 256],
    };
    let (mut server, addr, key, thing, _dir) = child();
    if wants("floor") {
        for &c in &connections {
            load(
                "GET /health (floor)",
                addr,
                c,
                b"GET /health HTTP/1.1\r\nhost: load\r\n\r\n".to_vec(),
            );
        }
    }
    if wants("get") {
        for &c in &connections {
            let body = format!(r#"{{"get_thing":{{"id":"{thing}"}}}}"#);
            load(
                "POST /v1/execute get_thing",
                addr,
                c,
                http("POST", "/v1/execute", &key, &body),
            );
            load(
                "GET /v1/things/{id}",
                addr,
                c,
                http("GET", &format!("/v1/things/{thing}"), &key, ""),
            );
        }
    }
    if wants("create") {
        let body = r#"{"type":"product","name":"Lamp","properties":{"price":40}}"#;
        load(
            "POST /v1/things (durable)",
            addr,
            64,
            http("POST", "/v1/things", &key, body),
        );
    }
    drop(server.stdin.take());
    let _ = server.wait();
    if wants("feed") {
        feed(1000, 50);
    }
}
