//! Printing progress lines and tables without ever panicking.
//!
//! `println!` panics when standard output is gone: a router piped into `head`, a terminal that
//! was closed, a test that stopped reading. In a program that must still write its IP table to
//! the log on Ctrl-C, a progress line must not be able to kill the thread printing it (the
//! signal watcher, say). So the library prints through these macros, which write to a locked
//! stdout or stderr and ignore a failed write: the line is lost, the program goes on.

/// Like `println!`, but a failed write is ignored instead of panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout().lock(), $($arg)*);
    }};
}

/// Like `eprintln!`, but a failed write is ignored instead of panicking.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

/// Writes `text` to standard output in one write (a whole table at once, so that tables
/// printed by several threads do not interleave line by line); a failed write is ignored.
pub fn print_block(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
