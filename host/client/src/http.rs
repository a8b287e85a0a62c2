//! Just enough HTTP/1.1 over a `TcpStream` for the client: requests with a JSON body,
//! responses with a `Content-Length` or chunked body, and a streamed body for the feed.
//! Plain HTTP only: TLS belongs to a proxy beside the client or in front of the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The largest response head the client reads, in bytes.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body the client reads, in bytes.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Where a server is: `host:port`, and the path every route is below.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// The path prefix (`""` or `/one`).
    pub base: String,
}

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
        })
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

/// Sends a request on a new connection and returns the response's head with its reader.
fn send(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    read_timeout: Option<Duration>,
) -> std::io::Result<Head> {
    let mut stream = TcpStream::connect(&endpoint.authority)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(read_timeout)?;
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        endpoint.base,
        endpoint.authority,
        body.len()
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
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
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
    let (status, headers, mut reader) = send(endpoint, method, path, headers, body, None)?;
    let body = if is_chunked(&headers) {
        let mut stream = Stream {
            status,
            reader,
            chunked: true,
            left: 0,
            done: false,
        };
        let mut body = Vec::new();
        stream
            .by_ref()
            .take(MAX_BODY as u64)
            .read_to_end(&mut body)?;
        body
    } else {
        let mut body = Vec::new();
        match header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
            Some(n) if n <= MAX_BODY => {
                body.resize(n, 0);
                reader.read_exact(&mut body)?;
            }
            Some(_) => return Err(bad("the response's body is too large".into())),
            None => {
                reader.take(MAX_BODY as u64).read_to_end(&mut body)?;
            }
        }
        body
    };
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
    let (status, headers, reader) = send(endpoint, "GET", path, headers, b"", None)?;
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
