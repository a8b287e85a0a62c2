//! Just enough HTTP/1.1 over a `TcpStream` for the client: requests with a JSON body,
//! responses with a `Content-Length` or chunked body, and a streamed body for the feed.
//! Plain HTTP only: TLS belongs to a proxy beside the client or in front of the server.
//!
//! Connections are kept alive: after a response read to its end, the connection waits in
//! the endpoint's pool (at most [`MAX_IDLE`] of them, each for at most [`IDLE_FOR`], well
//! under the time a server gives an idle connection) for the next request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest response head the client reads, in bytes.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body the client reads, in bytes.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// The most idle connections an endpoint keeps.
const MAX_IDLE: usize = 16;
/// How long an idle connection is kept before it is closed rather than reused.
const IDLE_FOR: Duration = Duration::from_secs(2);

/// Where a server is: `host:port`, the path every route is below, and the connections
/// kept alive to it (shared by the endpoint's clones).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// The path prefix (`""` or `/one`).
    pub base: String,
    /// Idle connections, with when each became idle; the newest last.
    idle: Arc<Mutex<Vec<Idle>>>,
    /// How long an idle connection may wait before it is closed rather than reused.
    idle_for: Duration,
}

/// A kept connection, and when it became idle.
type Idle = (BufReader<TcpStream>, Instant);

impl Endpoint {
    /// Parses `http://host:port[/base]`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs (put TLS in a proxy)"))?;
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            authority,
            base: base.to_string(),
            idle: Arc::default(),
            idle_for: IDLE_FOR,
        })
    }

    /// An idle connection young enough to reuse, if there is one.
    #[allow(
        clippy::disallowed_methods,
        reason = "the age of an idle connection is wall time, as the server's timeout is"
    )]
    fn reuse(&self) -> Option<BufReader<TcpStream>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(_, since)| since.elapsed() < self.idle_for);
        idle.pop().map(|(c, _)| c)
    }

    /// Keeps a connection whose last response was read to its end.
    #[allow(
        clippy::disallowed_methods,
        reason = "the age of an idle connection is wall time, as the server's timeout is"
    )]
    fn keep(&self, connection: BufReader<TcpStream>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push((connection, Instant::now()));
        }
    }
}

/// A response's status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// A response whose body is read as it comes (the feed).
pub struct Stream {
    /// The status code.
    pub status: u16,
    reader: BufReader<TcpStream>,
    chunked: bool,
    /// Bytes left in the current chunk.
    left: usize,
    done: bool,
}

/// A response's status, its headers (lower-case names), and the reader of its body.
type Head = (u16, Vec<(String, String)>, BufReader<TcpStream>);

/// Whether the connection of a request is kept for another one.
#[derive(Clone, Copy, PartialEq)]
enum Connection {
    KeepAlive,
    Close,
}

/// Sends a request, on an idle connection when `connection` allows and one is there
/// (or a new one), and returns the response's head with its reader.
///
/// A kept connection the server closed meanwhile fails before any byte of the answer
/// arrives: the request is then sent once more on a new connection.
fn send(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    connection: Connection,
) -> std::io::Result<Head> {
    let head = request_head(endpoint, method, path, headers, body.len(), connection)?;
    if connection == Connection::KeepAlive
        && let Some(reader) = endpoint.reuse()
    {
        match exchange(reader, &head, body) {
            Ok(answer) => return Ok(answer),
            Err(Unanswered::Silent(_)) => {}
            Err(Unanswered::Broken(e)) => return Err(e),
        }
    }
    let stream = TcpStream::connect(&endpoint.authority)?;
    stream.set_nodelay(true)?;
    exchange(BufReader::new(stream), &head, body).map_err(Unanswered::into_inner)
}

/// Why an exchange gave no answer.
enum Unanswered {
    /// Not one byte of an answer came: the connection was closed before the request
    /// reached the server.
    Silent(std::io::Error),
    /// The answer began, then failed.
    Broken(std::io::Error),
}

impl Unanswered {
    fn into_inner(self) -> std::io::Error {
        match self {
            Unanswered::Silent(e) | Unanswered::Broken(e) => e,
        }
    }
}

/// The head of a request.
fn request_head(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: usize,
    connection: Connection,
) -> std::io::Result<String> {
    let connection = match connection {
        Connection::KeepAlive => "keep-alive",
        Connection::Close => "close",
    };
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nhost: {}\r\nconnection: {connection}\r\ncontent-length: {length}\r\n",
        endpoint.base, endpoint.authority,
    );
    for (name, value) in headers {
        if value.contains(['\r', '\n']) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("header {name} holds a line break"),
            ));
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head)
}

/// Writes a request on a connection and reads the head of its answer.
fn exchange(mut reader: BufReader<TcpStream>, head: &str, body: &[u8]) -> Result<Head, Unanswered> {
    let stream = reader.get_mut();
    let written = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body));
    if let Err(e) = written {
        return Err(Unanswered::Silent(e));
    }
    let mut status_line = String::new();
    match reader.read_line(&mut status_line) {
        Ok(0) => {
            return Err(Unanswered::Silent(bad(
                "the connection closed before an answer".into(),
            )));
        }
        Ok(_) => {}
        Err(e) if status_line.is_empty() => return Err(Unanswered::Silent(e)),
        Err(e) => return Err(Unanswered::Broken(e)),
    }
    read_head(reader, status_line).map_err(Unanswered::Broken)
}

/// Reads a response's head after its status line.
fn read_head(mut reader: BufReader<TcpStream>, status_line: String) -> std::io::Result<Head> {
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("not an HTTP response: {status_line:?}")))?;
    let mut headers = Vec::new();
    let mut read = status_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        read += n;
        if n == 0 || read > MAX_HEAD {
            return Err(bad("the response's head is cut short or too long".into()));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Ok((status, headers, reader))
}

fn bad(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
}

/// Sends a request and reads the whole response.
pub fn request(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let (status, headers, mut reader) =
        send(endpoint, method, path, headers, body, Connection::KeepAlive)?;
    let closes = header(&headers, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let mut body = Vec::new();
    let reader = if is_chunked(&headers) {
        let mut stream = Stream {
            status,
            reader,
            chunked: true,
            left: 0,
            done: false,
        };
        (&mut stream).take(MAX_BODY as u64).read_to_end(&mut body)?;
        // Read to its last chunk: the connection is at the next response.
        stream.done.then_some(stream.reader)
    } else {
        match header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
            Some(n) if n <= MAX_BODY => {
                body.resize(n, 0);
                reader.read_exact(&mut body)?;
                Some(reader)
            }
            Some(_) => return Err(bad("the response's body is too large".into())),
            None => {
                // The body ends with the connection.
                reader.take(MAX_BODY as u64).read_to_end(&mut body)?;
                None
            }
        }
    };
    if let Some(reader) = reader.filter(|_| !closes) {
        endpoint.keep(reader);
    }
    Ok(Reply { status, body })
}

/// Sends a request and returns the response with its body still to read (reads wait as
/// long as it takes: [`Stream::socket`] gives the socket, to shut it down from another
/// thread).
pub fn stream(
    endpoint: &Endpoint,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Stream> {
    let (status, headers, reader) = send(endpoint, "GET", path, headers, b"", Connection::Close)?;
    Ok(Stream {
        status,
        chunked: is_chunked(&headers),
        reader,
        left: 0,
        done: false,
    })
}

impl Stream {
    /// The stream's socket, to shut it down from another thread.
    pub fn socket(&self) -> std::io::Result<TcpStream> {
        self.reader.get_ref().try_clone()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if !self.chunked {
            return self.reader.read(buf);
        }
        if self.left == 0 {
            let mut size = String::new();
            if self.reader.read_line(&mut size)? == 0 {
                self.done = true;
                return Ok(0);
            }
            let size = size.trim();
            let size = size.split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16)
                .map_err(|_| bad(format!("bad chunk size {size:?}")))?;
            if self.left == 0 {
                // The last chunk: skip the trailers up to the blank line that ends them.
                loop {
                    let mut trailer = String::new();
                    if self.reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                        break;
                    }
                }
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.reader.read(&mut buf[..want])?;
        if n == 0 {
            self.done = true;
            return Ok(0);
        }
        self.left -= n;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.reader.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

/// `text` for a URL's query: unreserved bytes as they are, every other byte as `%XX`.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    /// Reads one request (head and a `content-length` body) and answers `text`.
    fn serve_one(reader: &mut BufReader<TcpStream>, text: &str) {
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        write!(
            reader.get_mut(),
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        )
        .unwrap();
    }

    #[test]
    fn a_connection_is_reused_and_one_the_server_closed_is_replaced() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (first, _) = listener.accept().unwrap();
            first
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut first = BufReader::new(first);
            serve_one(&mut first, "one");
            serve_one(&mut first, "two");
            // The server lets the kept connection go, as an idle timeout would.
            drop(first);
            let (second, _) = listener.accept().unwrap();
            let mut second = BufReader::new(second);
            serve_one(&mut second, "three");
        });
        let mut endpoint = Endpoint::parse(&url).unwrap();
        // However slow the machine, the kept connection is still young enough to reuse.
        endpoint.idle_for = Duration::from_secs(3600);
        let ask = |n: &str| request(&endpoint, "POST", "/", &[], n.as_bytes()).unwrap();
        assert_eq!(ask("1").body, b"one");
        // Answered on the first connection: the server accepts no other before it.
        assert_eq!(ask("2").body, b"two");
        assert_eq!(ask("3").body, b"three");
        server.join().unwrap();
    }
}
