//! Small checks the services' `domain/` modules share, each answering
//! [`InvalidRequest`] naming the field.

use crate::{error::InvalidRequest, ids::Id, money::Money};

/// Longest name (of a user, a goods item).
pub const MAX_NAME_CHARS: usize = 64;
/// Longest delivery address.
pub const MAX_ADDRESS_CHARS: usize = 255;
/// Longest payment-platform transaction number.
pub const MAX_TRADE_NO_CHARS: usize = 128;
/// Longest id text (see [`crate::ids::ID_PATTERN`]).
pub const MAX_ID_CHARS: usize = 19;
/// What a name must contain (an OpenAPI `pattern`, unanchored): a character that is
/// not a space, tab or line break.
pub const NAME_PATTERN: &str = r"[^ \t\n\r]";

/// The blanks a name may start or end with (and which are trimmed).
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// A name of 1 to [`MAX_NAME_CHARS`] characters with something besides spaces, tabs
/// and line breaks ([`NAME_PATTERN`]), kept without those around it.
pub fn name(field: &str, value: &str) -> Result<String, InvalidRequest> {
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidRequest::field(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let value = value.trim_matches(is_blank);
    if value.is_empty() {
        return Err(InvalidRequest::field(field, "must not be empty"));
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

/// The id `field` holds (a path parameter or a body field given as text): 400
/// `INVALID_REQUEST` naming it when the text is not an id ([`crate::ids::ID_PATTERN`]).
pub fn id(field: &str, text: &str) -> Result<Id, InvalidRequest> {
    Id::parse(text).ok_or_else(|| {
        InvalidRequest::field(field, "must be an id: 1 to 19 digits, no leading zero")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_before_trimming_and_not_blank() {
        assert_eq!(name("name", " Ann\t").unwrap(), "Ann");
        assert_eq!(name("name", &"x".repeat(64)).unwrap().len(), 64);
        assert!(name("name", &format!(" {}", "x".repeat(64))).is_err());
        assert!(name("name", " \r\n\t").is_err());
        assert!(name("name", "").is_err());
        // Only the blanks of NAME_PATTERN are blanks.
        assert_eq!(name("name", "\u{a0}").unwrap(), "\u{a0}");
    }

    #[test]
    fn ids_are_refused_naming_the_field() {
        assert_eq!(id("user_id", "12").unwrap(), Id(12));
        let err = id("user_id", "012").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("user_id"));
        assert!(id("user_id", " 12").is_err());
    }
}
