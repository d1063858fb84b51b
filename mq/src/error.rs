//! The library's error type: one enum for storage, protocol, broker and client
//! failures, plus the wire-level error codes that travel in error frames.

use std::io;

/// Result of every fallible operation in this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the broker or the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),

    /// The data directory cannot be trusted; the broker refuses to start.
    #[error("refusing to start: the data directory cannot be trusted: {0}")]
    UntrustedDataDir(String),

    /// Bytes that do not form a valid frame or record.
    #[error("malformed input: {0}")]
    Malformed(String),

    /// The broker answered a request with an error frame.
    #[error("broker refused ({code}): {message}")]
    Refused { code: ErrorCode, message: String },

    /// The connection closed before the broker acknowledged the request; the
    /// request may or may not have been stored.
    #[error("not acknowledged: connection to the broker lost before the reply")]
    NotAcknowledged,

    /// No connection to the broker could be made.
    #[error("broker unreachable at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),

    /// Invalid argument or setting (bad tag expression, bad duration, …).
    #[error("invalid: {0}")]
    Invalid(String),

    /// The broker (or client) is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

/// Codes carried by error frames. Stable numbers: clients match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Malformed,
    BodyTooLarge,
    FrameTooLarge,
    InvalidRequest,
    NotFound,
    Storage,
    ShuttingDown,
    TooManyConnections,
    /// The request conflicts with a decision already taken (a rollback
    /// of a committed transaction).
    Conflict,
    Unknown(u16),
}

impl ErrorCode {
    pub fn as_u16(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::BodyTooLarge => 2,
            ErrorCode::FrameTooLarge => 3,
            ErrorCode::InvalidRequest => 4,
            ErrorCode::NotFound => 5,
            ErrorCode::Storage => 6,
            ErrorCode::ShuttingDown => 7,
            ErrorCode::TooManyConnections => 8,
            ErrorCode::Conflict => 9,
            ErrorCode::Unknown(n) => n,
        }
    }

    pub fn from_u16(n: u16) -> Self {
        match n {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::BodyTooLarge,
            3 => ErrorCode::FrameTooLarge,
            4 => ErrorCode::InvalidRequest,
            5 => ErrorCode::NotFound,
            6 => ErrorCode::Storage,
            7 => ErrorCode::ShuttingDown,
            8 => ErrorCode::TooManyConnections,
            9 => ErrorCode::Conflict,
            n => ErrorCode::Unknown(n),
        }
    }

    /// Upper-case name used in logs, JSON output and the admin API.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::BodyTooLarge => "BODY_TOO_LARGE",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Storage => "STORAGE",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::Unknown(_) => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Error {
    /// The error code to put in an error frame when this error answers a request.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Malformed(_) => ErrorCode::Malformed,
            Error::Refused { code, .. } => *code,
            Error::Invalid(_) => ErrorCode::InvalidRequest,
            Error::ShuttingDown => ErrorCode::ShuttingDown,
            _ => ErrorCode::Storage,
        }
    }
}
