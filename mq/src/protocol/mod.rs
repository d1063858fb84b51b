//! The wire protocol between clients and the broker.
//!
//! Every frame is `u32 length | u8 kind | u64 request id | body`, where the
//! length counts everything after itself. Requests carry a client-chosen id
//! that the reply repeats, so a client may pipeline many requests on one
//! connection. The broker pushes deliveries and transaction check-backs on
//! the same connection with request id 0.

mod codec;
mod frame;

pub use codec::{FrameCodec, Inbound, encode_frame};
pub use frame::{ConsumeFrom, ConsumeMode, Frame, FrameBody, SendReceipt, TxnState, kind};

/// Default largest frame accepted (a 4 MiB body plus generous headers).
pub const DEFAULT_MAX_FRAME: usize = 8 * 1024 * 1024;
/// Bytes before the body: length, kind, request id.
pub const HEADER_LEN: usize = 4 + 1 + 8;
