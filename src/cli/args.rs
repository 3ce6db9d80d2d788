//! Reading `--flag value` and `--flag=value` arguments, by hand, to keep the dependency list to
//! what the course uses.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

/// A command line that cannot be run; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The arguments still to be read.
pub(crate) struct Args {
    rest: VecDeque<String>,
}

impl Args {
    pub(crate) fn new(args: impl IntoIterator<Item = String>) -> Args {
        let mut rest = VecDeque::new();
        for arg in args {
            // --flag=value is read as --flag value.
            match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    rest.push_back(flag.to_string());
                    rest.push_back(value.to_string());
                }
                _ => rest.push_back(arg),
            }
        }
        Args { rest }
    }

    pub(crate) fn next(&mut self) -> Option<String> {
        self.rest.pop_front()
    }

    pub(crate) fn value<T: FromStr>(&mut self, flag: &str, what: &str) -> Result<T, UsageError> {
        let text = self
            .next()
            .ok_or_else(|| UsageError(format!("{flag} needs {what}")))?;
        text.parse()
            .map_err(|_| UsageError(format!("{flag}: {text:?} is not {what}")))
    }
}
