//! `Id`: the identifier of users, goods, coupons, orders and payments.
//!
//! Stored as `BIGINT UNSIGNED`, written as a JSON string (docs/api.md, "Conventions":
//! "IDs are JSON strings"); read from a string of 1 to 19 digits without a leading
//! zero ([`ID_PATTERN`]) or a JSON integer from 1 to [`MAX_ID`], exactly what the
//! OpenAPI schema of [`Id`] (and of the id path parameters) states. Anything else is
//! refused: 400 `INVALID_REQUEST` naming the field.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The id text the services accept: 1 to 19 digits, no leading zero (so that every
/// such text fits `BIGINT UNSIGNED`).
pub const ID_PATTERN: &str = "^[1-9][0-9]{0,18}$";

/// The largest id a request may give: nineteen nines.
pub const MAX_ID: u64 = 9_999_999_999_999_999_999;

/// Identifier of an entity; positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u64);

impl Id {
    /// `Some` when `text` matches [`ID_PATTERN`].
    pub fn parse(text: &str) -> Option<Id> {
        text.parse().ok()
    }

    /// `Some` for a number from 1 to [`MAX_ID`].
    pub fn from_number(value: u64) -> Option<Id> {
        (1..=MAX_ID).contains(&value).then_some(Id(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for Id {
    type Err = std::num::ParseIntError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let well_formed = (1..=19).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && !text.starts_with('0');
        if !well_formed {
            // Reuse the standard error type for "not an id".
            return "x".parse::<u64>().map(Id);
        }
        text.parse().map(Id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Id {
    fn from(value: u64) -> Self {
        Id(value)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl de::Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string of 1 to 19 digits, no leading zero)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                v.parse().map_err(|_| E::custom(NOT_AN_ID))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Id::from_number(v).ok_or_else(|| E::custom(NOT_AN_ID))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                u64::try_from(v)
                    .ok()
                    .and_then(Id::from_number)
                    .ok_or_else(|| E::custom(NOT_AN_ID))
            }
            // A JSON number with a zero fraction (`7.0`) is an integer to JSON Schema.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
                let whole = v.is_finite() && v.fract() == 0.0 && v >= 1.0 && v <= MAX_ID as f64;
                whole
                    .then(|| Id::from_number(v as u64))
                    .flatten()
                    .ok_or_else(|| E::custom(NOT_AN_ID))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

const NOT_AN_ID: &str = "not an id (a string of 1 to 19 digits, no leading zero)";

impl Id {
    /// The schema of an id in a path: a string of [`ID_PATTERN`].
    pub fn text_schema() -> utoipa::openapi::Object {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(ID_PATTERN))
            .min_length(Some(1))
            .max_length(Some(19))
            .examples(["1"])
            .build()
    }
}

impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, OneOfBuilder, schema::Type};
        let number = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .maximum(Some(MAX_ID as usize))
            .build();
        OneOfBuilder::new()
            .item(Id::text_schema())
            .item(number)
            .description(Some(
                "Identifier: a string of 1 to 19 digits without a leading zero (responses \
                 always), or in requests a JSON integer from 1 to 9999999999999999999.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Id {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_of_digits() {
        assert_eq!(Id::parse("42"), Some(Id(42)));
        assert_eq!(Id::parse("0"), None);
        assert_eq!(Id::parse("-1"), None);
        assert_eq!(Id::parse("+1"), None);
        assert_eq!(Id::parse("abc"), None);
        assert_eq!(Id::parse("007"), None);
        assert_eq!(Id::parse(" 7"), None);
        assert_eq!(Id::parse("9999999999999999999"), Some(Id(MAX_ID)));
        assert_eq!(Id::parse("10000000000000000000"), None);
        assert_eq!(serde_json::from_str::<Id>("7.0").unwrap(), Id(7));
        assert!(serde_json::from_str::<Id>("7.5").is_err());
        assert!(serde_json::from_str::<Id>("-7").is_err());
        assert!(serde_json::from_str::<Id>("10000000000000000000").is_err());
        assert_eq!(serde_json::to_string(&Id(7)).unwrap(), "\"7\"");
        assert_eq!(serde_json::from_str::<Id>("\"7\"").unwrap(), Id(7));
        assert_eq!(serde_json::from_str::<Id>("7").unwrap(), Id(7));
    }
}
