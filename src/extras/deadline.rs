//! A deadline for a whole line, not only for each read.
//!
//! A socket's read timeout bounds each `read`: a peer that sends one byte a second resets it
//! for ever, and keeps a thread (and, at the router, maybe a slot) as long as it likes. A
//! [`Reader`] sets the socket's read timeout, before each read, to the time left until one
//! fixed deadline, which the peer cannot move.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

/// A socket read until a deadline.
pub(crate) struct Reader<'a> {
    stream: &'a TcpStream,
    deadline: Instant,
}

impl<'a> Reader<'a> {
    /// Reads `stream` until `deadline`, and not after.
    pub(crate) fn new(stream: &'a TcpStream, deadline: Instant) -> Reader<'a> {
        Reader { stream, deadline }
    }
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for a line");
        let left = self.deadline.checked_duration_since(Instant::now());
        match left.filter(|left| !left.is_zero()) {
            Some(left) => self.stream.set_read_timeout(Some(left))?,
            None => return Err(timed_out()),
        }
        // A socket's read timeout is `WouldBlock` on Unix and `TimedOut` on Windows.
        (&mut &*self.stream).read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
            _ => e,
        })
    }
}
