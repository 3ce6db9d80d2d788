//! The wire protocol between client, router and server.
//!
//! One TCP connection carries one request and one answer:
//!
//! 1. The caller sends **one request line**, ended by `\n`. An empty line asks "where am I?"
//!    (the original's only question); a line holding an IPv4 or IPv6 address asks for that
//!    address. Surrounding spaces and a `\r` are ignored.
//! 2. The callee sends **one reply line**: a JSON object in ip-api.com's shape
//!    ([`crate::reply::Reply`]), ended by `\n`, then closes the connection.
//! 3. Only the router, and only when every slot is busy, sends one **notice line** first:
//!    `{"status":"queued","position":3}`, so a waiting client knows its place in the queue.
//!    The answer is always the last line.
//!
//! So a student can talk to the system by hand:
//!
//! ```text
//! $ printf '\n' | nc 127.0.0.1 9020
//! $ printf '8.8.8.8\n' | nc 127.0.0.1 9020
//! ```
//!
//! Every read is bounded: a request line may be at most [`MAX_REQUEST_LINE`] bytes and a reply
//! line [`MAX_REPLY_LINE`], and every socket has read and write timeouts ([`Timeouts`]). A reply
//! is read up to its newline however many TCP segments it arrives in; the original read a single
//! `recv(1024)` and cut longer replies.

use crate::reply::Reply;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Longest request line accepted, newline included. An address needs at most 45 bytes.
pub const MAX_REQUEST_LINE: usize = 4 * 1024;
/// Longest reply or notice line accepted, newline included.
pub const MAX_REPLY_LINE: usize = 64 * 1024;

/// What a caller asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// "Where am I?": the server locates the caller (through the NAT table).
    MyLocation,
    /// Locate this address.
    Lookup(IpAddr),
}

/// A request line that is not a request; [`Request::parse`] explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    /// The offending text, trimmed and shortened for the reply's `query` field.
    pub text: String,
}

impl fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an IP address: {:?}", self.text)
    }
}

impl std::error::Error for InvalidRequest {}

impl Request {
    /// Parses a request line (with or without its newline).
    ///
    /// ```
    /// use geotracker::protocol::Request;
    /// assert_eq!(Request::parse("\n"), Ok(Request::MyLocation));
    /// assert_eq!(Request::parse(" 8.8.8.8\r\n"), Ok(Request::Lookup("8.8.8.8".parse().unwrap())));
    /// assert!(Request::parse("999.1.1.1").is_err());
    /// ```
    pub fn parse(line: &str) -> Result<Request, InvalidRequest> {
        let text = line.trim();
        if text.is_empty() {
            return Ok(Request::MyLocation);
        }
        match text.parse::<IpAddr>() {
            // An IPv4 address written as IPv6 (::ffff:8.8.8.8) is the IPv4 address.
            Ok(ip) => Ok(Request::Lookup(ip.to_canonical())),
            Err(_) => Err(InvalidRequest {
                text: text.chars().take(64).collect(),
            }),
        }
    }

    /// The request as a line, newline included.
    pub fn to_line(&self) -> String {
        match self {
            Request::MyLocation => "\n".to_string(),
            Request::Lookup(ip) => format!("{ip}\n"),
        }
    }
}

/// A request line that is refused; [`Refused::reply`] is the `fail` answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The reply's `query`: the offending text, or empty if no line could be read.
    pub query: String,
    /// The reply's `message`.
    pub message: String,
}

impl Refused {
    /// The `fail` reply for this refusal.
    pub fn reply(&self) -> Reply {
        Reply::fail(self.query.clone(), self.message.clone())
    }
}

/// Reads and checks the request line on a new connection, as router and server both do.
///
/// A caller that half-closes without sending a line asks the default question ("where am
/// I?"). A line that could not be read (too long, not UTF-8, timed out) is refused with
/// `"bad request: ..."`, and one that is not an address with `"invalid query"`.
pub fn read_request<R: Read>(reader: &mut LineReader<R>) -> Result<Request, Refused> {
    let line = match reader.read_line(MAX_REQUEST_LINE) {
        Ok(line) => line,
        Err(LineError::Closed) => return Ok(Request::MyLocation),
        Err(e) => {
            return Err(Refused {
                query: String::new(),
                message: format!("bad request: {e}"),
            })
        }
    };
    Request::parse(&line).map_err(|invalid| Refused {
        query: invalid.text,
        message: "invalid query".to_string(),
    })
}

/// [`read_request`] from a new connection, with `within` for the whole line.
pub fn read_request_from(stream: &TcpStream, within: Duration) -> Result<Request, Refused> {
    read_request(&mut LineReader::new(DeadlineReader::new(stream, within)))
}

/// The notice the router sends to a client that has to wait for a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedNotice {
    /// Always `"queued"`.
    pub status: String,
    /// 1 for the first client in the queue.
    pub position: usize,
}

impl QueuedNotice {
    /// The `status` value that marks a notice line.
    pub const STATUS: &'static str = "queued";

    /// A notice for the client at `position` in the queue.
    pub fn new(position: usize) -> QueuedNotice {
        QueuedNotice {
            status: Self::STATUS.to_string(),
            position,
        }
    }

    /// Reads a line as a notice; `None` if it is anything else (that is, the answer).
    pub fn from_line(line: &str) -> Option<QueuedNotice> {
        serde_json::from_str::<QueuedNotice>(line)
            .ok()
            .filter(|n| n.status == Self::STATUS)
    }
}

/// Timeouts applied to every socket (`--connect-timeout`, `--read-timeout`, `--write-timeout`).
/// A peer that sends nothing, sends a byte at a time, or stops half-way, is dropped after
/// `read` (a deadline for the whole line, see [`DeadlineReader`]) instead of holding a thread,
/// and maybe a slot, for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest wait for a TCP connection to be set up.
    pub connect: Duration,
    /// Longest wait for a whole line (a request, or a server's reply).
    pub read: Duration,
    /// Longest wait for a write to be accepted by the peer.
    pub write: Duration,
}

impl Default for Timeouts {
    /// Connect 3 s, read 10 s, write 10 s.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            read: Duration::from_secs(10),
            write: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    /// Applies the read and write timeouts to `stream`, and turns off Nagle's algorithm: every
    /// message here is one small line, sent whole, that should leave at once.
    pub fn apply(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(self.read))?;
        stream.set_write_timeout(Some(self.write))?;
        stream.set_nodelay(true)
    }

    /// Applies only the write timeout: for a socket whose lines are read through a
    /// [`DeadlineReader`], which sets the read timeout itself before each read. (Every
    /// `setsockopt` is a system call; a request costs a dozen of them otherwise.)
    pub fn apply_write(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_write_timeout(Some(self.write))
    }

    /// Connects to `addr` within the connect timeout, then applies [`Timeouts::apply`].
    pub fn connect(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect_timeout(&addr, self.connect)?;
        self.apply(&stream)?;
        Ok(stream)
    }
}

/// A socket read with a deadline for the whole line, not only for each `read`: a peer that
/// sends one byte a second would reset a per-read timeout for ever, but cannot move this
/// deadline. Before each read it sets the socket's read timeout to the time left.
pub struct DeadlineReader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> DeadlineReader<'a> {
    /// Reads from `stream` until `within` from now, and not after.
    pub fn new(stream: &'a TcpStream, within: Duration) -> DeadlineReader<'a> {
        DeadlineReader {
            stream,
            deadline: Instant::now() + within,
        }
    }
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the time to send a line is up",
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        (&*self.stream).read(buf)
    }
}

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// The line is longer than the limit; the rest was not read.
    TooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The peer closed the connection before sending anything.
    Closed,
    /// A socket error, a read timeout among them.
    Io(io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(f, "line longer than {limit} bytes"),
            LineError::NotUtf8 => write!(f, "line is not UTF-8"),
            LineError::Closed => write!(f, "connection closed before a line arrived"),
            LineError::Io(e) if is_timeout(e) => write!(f, "timed out waiting for a line"),
            LineError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LineError {}

/// True for the errors a socket read or write timeout produces (the kind differs by platform).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads newline-terminated lines from a stream, each bounded in length.
///
/// Keep one `LineReader` per connection: it buffers, so bytes after a line stay in it for the
/// next [`LineReader::read_line`].
pub struct LineReader<R> {
    inner: BufReader<R>,
}

impl<R: Read> LineReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader {
            inner: BufReader::with_capacity(2048, inner),
        }
    }

    /// Reads one line of at most `limit` bytes (newline included) and returns it without the
    /// newline. A last line that ends at end-of-stream without a newline is returned as it is;
    /// end-of-stream before any byte is [`LineError::Closed`].
    pub fn read_line(&mut self, limit: usize) -> Result<String, LineError> {
        let mut bytes = Vec::new();
        // Take at most one byte over the limit: enough to know the line is too long, and
        // never more memory than that, whatever the peer sends.
        let mut bounded = (&mut self.inner).take(limit as u64 + 1);
        bounded
            .read_until(b'\n', &mut bytes)
            .map_err(LineError::Io)?;
        let ended = bytes.last() == Some(&b'\n');
        // With its newline the line must fit in `limit`; without one it would need one more.
        let too_long = if ended {
            bytes.len() > limit
        } else {
            bytes.len() >= limit
        };
        if too_long {
            return Err(LineError::TooLong { limit });
        }
        if ended {
            bytes.pop();
        } else if bytes.is_empty() {
            return Err(LineError::Closed);
        }
        String::from_utf8(bytes).map_err(|_| LineError::NotUtf8)
    }

    /// The stream inside, e.g. to write the answer on the same socket.
    pub fn get_mut(&mut self) -> &mut R {
        self.inner.get_mut()
    }
}

/// Writes `value` as one line of JSON with a single `write_all`, so the line leaves whole.
pub fn write_json_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], limit: usize) -> Result<String, LineError> {
        LineReader::new(input).read_line(limit)
    }

    #[test]
    fn requests_parse_as_documented() {
        assert_eq!(Request::parse(""), Ok(Request::MyLocation));
        assert_eq!(Request::parse("  \r"), Ok(Request::MyLocation));
        assert_eq!(
            Request::parse("::ffff:8.8.8.8"),
            Ok(Request::Lookup("8.8.8.8".parse().unwrap()))
        );
        assert_eq!(
            Request::parse("2001:4860:4860::8888\n"),
            Ok(Request::Lookup("2001:4860:4860::8888".parse().unwrap()))
        );
        for bad in ["999.1.1.1", "8.8.8.8:53", "fe80::1%eth0", "hello", "1.2.3"] {
            assert!(Request::parse(bad).is_err(), "{bad} should be rejected");
        }
        let long = "x".repeat(1000);
        assert_eq!(Request::parse(&long).unwrap_err().text.len(), 64);
    }

    #[test]
    fn a_request_survives_a_round_trip() {
        for r in [
            Request::MyLocation,
            Request::Lookup("1.1.1.1".parse().unwrap()),
        ] {
            assert_eq!(Request::parse(&r.to_line()), Ok(r));
        }
    }

    #[test]
    fn lines_are_bounded_and_split_at_newlines() {
        assert_eq!(read(b"abc\nrest", 10).unwrap(), "abc");
        assert_eq!(read(b"abc", 10).unwrap(), "abc");
        assert_eq!(read(b"\n", 10).unwrap(), "");
        assert!(matches!(read(b"", 10), Err(LineError::Closed)));
        // Nine bytes and a newline fit a limit of ten; ten bytes before the newline do not.
        assert_eq!(read(b"123456789\n", 10).unwrap(), "123456789");
        assert!(matches!(
            read(b"1234567890\n", 10),
            Err(LineError::TooLong { limit: 10 })
        ));
        assert!(matches!(
            read(&[b'a'; 100_000], 10),
            Err(LineError::TooLong { .. })
        ));
        assert!(matches!(read(b"\xff\xfe\n", 10), Err(LineError::NotUtf8)));
    }

    #[test]
    fn a_request_is_read_or_refused_with_a_reply() {
        let read = |input: &[u8]| read_request(&mut LineReader::new(input));
        assert_eq!(
            read(b""),
            Ok(Request::MyLocation),
            "a half-close asks \"where am I?\""
        );
        assert_eq!(
            read(b"1.1.1.1\n"),
            Ok(Request::Lookup("1.1.1.1".parse().unwrap()))
        );
        let invalid = read(b"hello\n").unwrap_err();
        assert_eq!(invalid.reply(), Reply::fail("hello", "invalid query"));
        let long = vec![b'1'; MAX_REQUEST_LINE + 10];
        assert_eq!(
            read(&long).unwrap_err().reply(),
            Reply::fail("", "bad request: line longer than 4096 bytes")
        );
    }

    #[test]
    fn two_lines_come_out_of_one_reader() {
        let mut r = LineReader::new(
            &b"{\"status\":\"queued\",\"position\":2}\n{\"status\":\"fail\"}\n"[..],
        );
        let first = r.read_line(MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&first), Some(QueuedNotice::new(2)));
        let second = r.read_line(MAX_REPLY_LINE).unwrap();
        assert_eq!(QueuedNotice::from_line(&second), None);
    }
}
