use std::fmt;

use super::Role;
use crate::remote::RemoteError;
use crate::tr;

/// Why a step failed, and when we know it, what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    pub message: String,
    pub hint: Option<String>,
    pub aborted: bool,
    /// The exit status when a remote command failed.
    pub status: Option<i32>,
    /// The SSH connection is gone: the next step must connect again.
    pub lost_connection: bool,
}

pub type StepResult<T> = Result<T, StepError>;

impl StepError {
    pub fn new(message: String) -> Self {
        StepError {
            message,
            hint: None,
            aborted: false,
            status: None,
            lost_connection: false,
        }
    }

    pub fn hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }

    pub fn aborted() -> Self {
        StepError {
            message: tr!("error.aborted"),
            hint: None,
            aborted: true,
            status: None,
            lost_connection: false,
        }
    }

    pub fn command(host: Role, first_line: &str, status: i32, stderr_tail: &str) -> Self {
        let mut e = StepError::new(tr!(
            "error.command_failed",
            host = host,
            command = first_line,
            status = status,
            stderr = stderr_tail
        ));
        e.status = Some(status);
        e
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

impl From<RemoteError> for StepError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Connection(s) => StepError {
                lost_connection: true,
                ..StepError::new(tr!("error.connection", problem = s)).hint(tr!("hint.ssh"))
            },
            RemoteError::Io(s) => StepError::new(s),
        }
    }
}
