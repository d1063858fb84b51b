//! `Id`: the identifier of users, goods, coupons, orders and payments.
//!
//! Stored as `BIGINT UNSIGNED`, written as a JSON string (docs/api.md, "Conventions":
//! "IDs are JSON strings"); read from a string or, leniently, a JSON integer. A text
//! that is not an id identifies nothing, so handlers answer 404 for it, as for an
//! unknown id.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Identifier of an entity; positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u64);

impl Id {
    /// `Some` when `text` is a positive decimal integer.
    pub fn parse(text: &str) -> Option<Id> {
        text.parse().ok()
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for Id {
    type Err = std::num::ParseIntError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let value: u64 = text.parse()?;
        if value == 0 || text.starts_with('+') {
            // Reuse the standard error type for "not an id".
            return "x".parse::<u64>().map(Id);
        }
        Ok(Id(value))
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
                f.write_str("an id (a string of digits)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                v.parse().map_err(|_| E::custom("not an id"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                if v == 0 {
                    return Err(E::custom("not an id"));
                }
                Ok(Id(v))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Identifier, a string of digits."))
            .pattern(Some(r"^[1-9][0-9]*$"))
            .examples(["1"])
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
        assert_eq!(serde_json::to_string(&Id(7)).unwrap(), "\"7\"");
        assert_eq!(serde_json::from_str::<Id>("\"7\"").unwrap(), Id(7));
        assert_eq!(serde_json::from_str::<Id>("7").unwrap(), Id(7));
    }
}
