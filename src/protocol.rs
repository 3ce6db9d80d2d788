//! The wire protocol between client, router and server.
//!
//! One TCP connection carries one request and one answer:
//!
//! 1. The caller sends **one request line**, ended by `\n`: empty asks "where am I?" (the
//!    original's only question), an IPv4 or IPv6 address asks for that address. Spaces around
//!    it and a `\r` are ignored.
//! 2. The callee sends **one reply line**: a JSON object in ip-api.com's shape (`reply.rs`),
//!    ended by `\n`, and closes the connection.
//! 3. Only the router, when every slot is busy, first sends a **notice line**,
//!    `{"status":"queued","position":3}` ([`QueuedNotice`]): the client's place in the queue
//!    (`extras/queue.rs`).
//!
//! A line is bounded ([`MAX_REQUEST_LINE`], [`MAX_REPLY_LINE`]), read up to its newline however
//! many TCP segments it comes in (the original read one `recv(1024)` and cut longer replies),
//! and must arrive whole before a deadline ([`LineReader::until`], with `extras/deadline.rs`).

use crate::extras::deadline;
use crate::reply::Reply;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::{net::IpAddr, net::TcpStream, time::Instant};

/// Longest request line accepted, newline included. An address needs at most 45 bytes.
pub const MAX_REQUEST_LINE: usize = 4 * 1024;
/// Longest reply or notice line accepted, newline included.
pub const MAX_REPLY_LINE: usize = 64 * 1024;

/// What a caller asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// "Where am I?": the server locates the caller (through its NAT table).
    MyLocation,
    /// Locate this address.
    Lookup(IpAddr),
}

impl Request {
    /// Parses a request line, with or without its newline (`""` is [`Request::MyLocation`],
    /// `" 8.8.8.8\r\n"` a lookup); `Err` holds the text (shortened) that is not an address.
    pub fn parse(line: &str) -> Result<Request, String> {
        let text = line.trim();
        if text.is_empty() {
            return Ok(Request::MyLocation);
        }
        // An IPv4 address written as IPv6 (::ffff:8.8.8.8) is the IPv4 address.
        text.parse::<IpAddr>()
            .map(|ip| Request::Lookup(ip.to_canonical()))
            .map_err(|_| text.chars().take(64).collect())
    }

    /// The request as a line, newline included.
    pub fn to_line(self) -> String {
        format!("{}\n", self.query())
    }

    /// The address asked for, or nothing for "where am I?": a reply's `query`.
    pub fn query(self) -> String {
        match self {
            Request::MyLocation => String::new(),
            Request::Lookup(ip) => ip.to_string(),
        }
    }
}

/// What a new connection sent: a request, something to refuse, or nothing at all.
#[derive(Debug)]
pub enum Incoming {
    /// A request line that parses.
    Request(Request),
    /// A line that cannot be read or is not a request; the `fail` reply to send:
    /// `"bad request: ..."` (too long, not UTF-8, timed out) or `"invalid query"`.
    Refuse(Box<Reply>),
    /// Closed without a byte (a port scan, say): nothing to answer, nothing to log.
    Closed,
}

/// Reads the request line of a new connection, as router and server both do, until
/// `deadline`.
pub fn read_request(stream: &TcpStream, deadline: Instant) -> Incoming {
    let line = LineReader::until(stream, deadline).read_line(MAX_REQUEST_LINE);
    let refusal = match line {
        Ok(line) => match Request::parse(&line) {
            Ok(request) => return Incoming::Request(request),
            Err(text) => Reply::fail(text, "invalid query"),
        },
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Incoming::Closed,
        Err(e) => Reply::fail("", format!("bad request: {e}")),
    };
    Incoming::Refuse(Box::new(refusal))
}

/// Writes `value` as one line of JSON in a single `write_all`, so that the line leaves whole.
pub fn write_line(mut out: &TcpStream, value: &impl Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// The notice the router sends a client that has to wait for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedNotice {
    /// Always `"queued"`.
    pub status: String,
    /// The place in the queue: 1 for the first client waiting.
    pub position: usize,
}

impl QueuedNotice {
    /// The notice for the client at `position`.
    pub fn new(position: usize) -> QueuedNotice {
        QueuedNotice {
            status: "queued".to_string(),
            position,
        }
    }

    /// Reads a line as a notice; `None` if it is anything else (that is, the answer).
    pub fn from_line(line: &str) -> Option<QueuedNotice> {
        serde_json::from_str(line)
            .ok()
            .filter(|notice: &QueuedNotice| notice.status == "queued")
    }
}

/// Reads newline-ended lines, each at most a given length, from a stream. It buffers, so keep
/// one per connection: bytes after a line stay in it for the next one.
pub struct LineReader<R> {
    inner: BufReader<R>,
}

impl<'a> LineReader<deadline::Reader<'a>> {
    /// Reads lines from `stream` until `deadline`, however slowly the peer sends them: a peer
    /// sending a byte a second cannot move it (`extras/deadline.rs`).
    pub(crate) fn until(stream: &'a TcpStream, deadline: Instant) -> Self {
        LineReader::new(deadline::Reader::new(stream, deadline))
    }
}

impl<R: Read> LineReader<R> {
    /// Reads from `inner`.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner: BufReader::with_capacity(2048, inner),
        }
    }

    /// Reads one line of at most `limit` bytes, newline included, and returns it without the
    /// newline (a last line without one is returned as it is). Errors: `UnexpectedEof` for a
    /// peer that closed before sending anything, `InvalidData` (too long, not UTF-8), I/O.
    pub fn read_line(&mut self, limit: usize) -> io::Result<String> {
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        let mut bytes = Vec::new();
        // Never more than one byte over the limit, whatever the peer sends: enough to know
        // that the line is too long.
        (&mut self.inner)
            .take(limit as u64 + 1)
            .read_until(b'\n', &mut bytes)?;
        let ended = bytes.last() == Some(&b'\n');
        // With its newline the line must fit in `limit`; without one it would need one more.
        if bytes.len() > limit || (!ended && bytes.len() == limit) {
            return Err(invalid(format!("line longer than {limit} bytes")));
        }
        if ended {
            bytes.pop();
        } else if bytes.is_empty() {
            let closed = "connection closed before a line arrived";
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, closed));
        }
        String::from_utf8(bytes).map_err(|_| invalid("line is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], limit: usize) -> io::Result<String> {
        LineReader::new(input).read_line(limit)
    }

    #[test]
    fn requests_parse_as_documented() {
        assert_eq!(Request::parse("\n"), Ok(Request::MyLocation));
        assert_eq!(
            Request::parse(" 8.8.8.8\r\n"),
            Ok(Request::Lookup([8, 8, 8, 8].into()))
        );
        assert_eq!(Request::parse("  \r"), Ok(Request::MyLocation));
        let google = Request::Lookup([8, 8, 8, 8].into());
        assert_eq!(Request::parse("::ffff:8.8.8.8"), Ok(google));
        let v6 = "2001:4860:4860::8888";
        assert_eq!(Request::parse(v6), Ok(Request::Lookup(v6.parse().unwrap())));
        for bad in ["999.1.1.1", "8.8.8.8:53", "fe80::1%eth0", "hello", "1.2.3"] {
            assert!(Request::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(Request::parse(&"x".repeat(1000)).unwrap_err().len(), 64);
        for r in [Request::MyLocation, google] {
            assert_eq!(Request::parse(&r.to_line()), Ok(r));
        }
    }

    #[test]
    fn lines_are_bounded_and_split_at_newlines() {
        assert_eq!(read(b"abc\nrest", 10).unwrap(), "abc");
        assert_eq!(read(b"abc", 10).unwrap(), "abc");
        assert_eq!(read(b"\n", 10).unwrap(), "");
        assert_eq!(
            read(b"", 10).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // Nine bytes and a newline fit a limit of ten; ten bytes before the newline do not.
        assert_eq!(read(b"123456789\n", 10).unwrap(), "123456789");
        let error = |input: &[u8]| read(input, 10).unwrap_err().to_string();
        assert_eq!(error(b"1234567890\n"), "line longer than 10 bytes");
        assert_eq!(error(&[b'a'; 100_000]), "line longer than 10 bytes");
        assert_eq!(error(b"\xff\xfe\n"), "line is not UTF-8");
    }

    #[test]
    fn a_queued_notice_and_the_answer_come_out_of_one_reader() {
        let mut r = LineReader::new(
            &b"{\"status\":\"queued\",\"position\":2}\n{\"status\":\"fail\"}\n"[..],
        );
        let first = r.read_line(MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&first), Some(QueuedNotice::new(2)));
        let second = r.read_line(MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&second), None);
    }
}
