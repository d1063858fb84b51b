//! Small checks the services' `domain/` modules share, each answering
//! [`InvalidRequest`] naming the field.

use crate::{error::InvalidRequest, ids::Id, money::Money};

/// Longest name (of a user, a goods item).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest delivery address.
pub const MAX_ADDRESS_CHARS: usize = 255;
/// Longest payment-platform transaction number.
pub const MAX_TRADE_NO_CHARS: usize = 128;
/// Longest id text: `u64::MAX` has 20 digits.
pub const MAX_ID_CHARS: usize = 20;

/// A trimmed, non-empty name of at most [`MAX_NAME_CHARS`] characters.
pub fn name(field: &str, value: &str) -> Result<String, InvalidRequest> {
    let value = value.trim();
    if value.is_empty() {
        return Err(InvalidRequest::field(field, "must not be empty"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidRequest::field(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A text of at most `max` characters (empty allowed).
pub fn bounded_text(field: &str, value: &str, max: usize) -> Result<(), InvalidRequest> {
    if value.chars().count() > max {
        return Err(InvalidRequest::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// An amount of zero or more.
pub fn not_negative(field: &str, value: Money) -> Result<Money, InvalidRequest> {
    if value.is_negative() {
        return Err(InvalidRequest::field(field, "must not be negative"));
    }
    Ok(value)
}

/// An amount of more than zero.
pub fn positive(field: &str, value: Money) -> Result<Money, InvalidRequest> {
    if value.is_negative() || value.is_zero() {
        return Err(InvalidRequest::field(field, "must be more than 0"));
    }
    Ok(value)
}

/// A whole number of units that fits `INT UNSIGNED`.
pub fn count(field: &str, value: i64) -> Result<u32, InvalidRequest> {
    u32::try_from(value)
        .map_err(|_| InvalidRequest::field(field, "must be a whole number from 0 to 4294967295"))
}

/// The id in a path or body; `None` (answered as an unknown id, 404) when the text
/// is not an id at all.
pub fn id(text: &str) -> Option<Id> {
    Id::parse(text.trim())
}
