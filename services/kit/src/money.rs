//! `Money`: an amount with at most two decimal places.
//!
//! In requests it is a decimal string (`"5000.00"`) or a JSON number (`5000`); in
//! responses always a string with two places. Whether a negative amount is allowed is
//! the domain's call ([`Money::is_negative`]); more than two places never are.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The largest amount a `DECIMAL(12,2)` column holds, exclusive.
const LIMIT: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 0); // 10^10

/// An amount of money with at most two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// Why a text or number is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal amount like \"12.50\"")]
    Malformed,
    #[error("must have at most 2 decimal places")]
    TooPrecise,
    #[error("must be less than 10000000000")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// `value` when it has at most two decimal places and fits `DECIMAL(12,2)`.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        let value = value.normalize();
        if value.scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        if value.abs() >= LIMIT {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(value))
    }

    /// Whole cents, e.g. `Money::from_cents(500_000)` is 5000.00.
    pub fn from_cents(cents: i64) -> Self {
        Money(Decimal::new(cents, 2))
    }

    pub fn decimal(self) -> Decimal {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }
}

impl From<Money> for Decimal {
    fn from(money: Money) -> Self {
        money.0
    }
}

impl TryFrom<Decimal> for Money {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Money::new(value)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        // Plain decimal notation only: no exponent, no underscores.
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
        if !plain {
            return Err(MoneyError::Malformed);
        }
        Money::new(Decimal::from_str_exact(text).map_err(|_| MoneyError::Malformed)?)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MoneyVisitor)
    }
}

struct MoneyVisitor;

impl de::Visitor<'_> for MoneyVisitor {
    type Value = Money;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal amount as a string or a number, at most 2 decimal places")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Money, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Money, E> {
        Money::new(Decimal::from(v)).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Money, E> {
        Money::new(Decimal::from(v)).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
        if !v.is_finite() {
            return Err(E::custom(MoneyError::Malformed));
        }
        // Rust prints the shortest text that reads back as `v`: 0.1 → "0.1".
        let text = format!("{v}");
        Money::new(Decimal::from_str_exact(&text).map_err(|_| E::custom(MoneyError::TooLarge))?)
            .map_err(E::custom)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Amount with two decimal places. Responses: a string like \"5000.00\"; \
                 requests: a decimal string or a JSON number.",
            ))
            .pattern(Some(r"^-?\d+(\.\d{1,2})?$"))
            .examples(["5000.00"])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Money, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn strings_and_numbers_are_read_and_written_with_two_places() {
        assert_eq!(
            serde_json::to_string(&read("\"5000\"").unwrap()).unwrap(),
            "\"5000.00\""
        );
        assert_eq!(
            serde_json::to_string(&read("5000").unwrap()).unwrap(),
            "\"5000.00\""
        );
        assert_eq!(
            serde_json::to_string(&read("0.1").unwrap()).unwrap(),
            "\"0.10\""
        );
        assert_eq!(
            serde_json::to_string(&read("\"12.5\"").unwrap()).unwrap(),
            "\"12.50\""
        );
        assert_eq!(read("\"-3.25\"").unwrap(), Money::from_cents(-325));
        assert_eq!(read("\"1.000\"").unwrap(), Money::from_cents(100));
    }

    #[test]
    fn more_than_two_places_or_garbage_is_refused() {
        assert!(
            read("\"1.005\"")
                .unwrap_err()
                .contains("at most 2 decimal places")
        );
        assert!(read("1.005").is_err());
        assert!(read("\"abc\"").is_err());
        assert!(read("\"1e3\"").is_err());
        assert!(read("\"\"").is_err());
        assert!(read("true").is_err());
        assert!(read("\"10000000000\"").is_err());
        assert!(read("1e300").is_err());
    }
}
