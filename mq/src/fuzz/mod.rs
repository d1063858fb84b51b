//! The checks that the coverage-guided fuzz targets in `mq/fuzz/` drive,
//! kept in the library so that the ordinary tests replay the committed
//! corpus (`mq/fuzz/corpus/<target>/`) through exactly the same code:
//!
//! - [`frame_decoder`]: bytes from a client or the broker, split and
//!   decoded by the frame codec; every frame that decodes re-encodes to one
//!   that decodes to the same value, and the records it carries decode or
//!   fail cleanly.
//! - [`damaged_log_recovery`]: a log written by the real writer, damaged as
//!   the input says (bytes overwritten, flipped, inserted, cut, appended,
//!   files removed), then recovered: recovery never panics, never indexes a
//!   record whose checksum fails, and never loses (nor cuts from the disk) a
//!   record that lies before the first damaged byte.
//! - [`sql_filter`]: an SQL92 expression (first line) and properties
//!   (`name=value` lines): parsing and evaluation never panic, errors name a
//!   column inside the input, and an expression and its NOT never both match.
//!
//! Each panics on a broken property, which is how the fuzzer notices.

mod frames;
mod recovery;
mod sql;

pub use frames::frame_decoder;
pub use recovery::damaged_log_recovery;
pub use sql::sql_filter;
