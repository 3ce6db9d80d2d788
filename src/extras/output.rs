//! What a router or server prints, and printing that never panics.
//!
//! The original printed every step. Here `--quiet` keeps only the start-up lines, the changes
//! (a server down), the warnings and the tables at the stop, and tests print nothing at all, so
//! that a passing `cargo test` is quiet.

use std::io::Write as _;

/// What a router or server prints: `Everything` (a line per client, and all the rest),
/// `Quiet` (`--quiet`: start-up lines, changes, warnings, the tables at the stop) or `Nothing`
/// (for tests).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Everything,
    Quiet,
    Nothing,
}

impl Output {
    /// A line about one client, unless quiet.
    pub(crate) fn progress(self, line: std::fmt::Arguments<'_>) {
        if self == Output::Everything {
            print_line(line);
        }
    }

    /// A start-up line, a change or a table, unless silent.
    pub(crate) fn notice(self, line: std::fmt::Arguments<'_>) {
        if self != Output::Nothing {
            print_line(line);
        }
    }

    /// A warning on standard error, unless silent.
    pub(crate) fn warn(self, line: std::fmt::Arguments<'_>) {
        if self != Output::Nothing {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

/// Prints a line (or a whole table) in one write. `println!` panics when the output is gone (a
/// closed terminal, `| head`), which in the signal watcher would lose the tables at Ctrl-C;
/// here a failed write loses the line and nothing else.
pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
