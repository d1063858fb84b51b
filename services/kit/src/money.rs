//! `Money`: an amount with at most two decimal places.
//!
//! In requests it is a decimal string of [`MONEY_TEXT`] (`"5000.00"`, `"12.5"`) or a
//! JSON integer (`5000`); in responses always a string with two places. Fractions are
//! written as strings: a binary floating-point number is not an amount. Whether a
//! negative amount is allowed is the domain's call ([`Money::is_negative`]); the
//! OpenAPI states every request amount is at least zero ([`Money`]'s schema) or more
//! than zero ([`positive_schema`]), and the services refuse the others (400
//! `INVALID_REQUEST` naming the field).

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The largest amount a `DECIMAL(12,2)` column holds, exclusive.
const LIMIT: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 0); // 10^10

/// The amount text the services accept at least: 1 to 10 digits, then optionally a
/// point and 1 or 2 digits (so every such text fits `DECIMAL(12,2)`). A request may
/// also put a `-` in front (then the domain refuses it as negative, naming the field).
pub const MONEY_TEXT: &str = r"^[0-9]{1,10}(\.[0-9]{1,2})?$";

/// The largest whole amount a request may give.
pub const MAX_WHOLE: u64 = 9_999_999_999;

/// An amount of money with at most two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// Why a text or number is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal amount like \"12.50\"")]
    Malformed,
    #[error("fractions are written as a decimal string like \"12.50\"")]
    Fraction,
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
    /// [`MONEY_TEXT`], optionally after a `-` (not on zero): no spaces, no `+`, no
    /// exponent.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (digits, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
            return Err(MoneyError::Malformed);
        }
        if fraction.is_some_and(|f| f.len() > 2) {
            return Err(MoneyError::TooPrecise);
        }
        if whole.len() > 10 {
            return Err(MoneyError::TooLarge);
        }
        let value = Decimal::from_str_exact(text).map_err(|_| MoneyError::Malformed)?;
        if value.is_zero() && text.starts_with('-') {
            return Err(MoneyError::Malformed);
        }
        Money::new(value)
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
        f.write_str("a decimal amount as a string (at most 2 decimal places) or a whole number")
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

    // A JSON number with a zero fraction (`5.0`, `1e3`, `-0`) is an integer to JSON
    // Schema; any other is refused (a binary fraction is not an amount).
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Money, E> {
        if !v.is_finite() || v.fract() != 0.0 {
            return Err(E::custom(MoneyError::Fraction));
        }
        if v.abs() > MAX_WHOLE as f64 {
            return Err(E::custom(MoneyError::TooLarge));
        }
        Money::new(Decimal::from(v as i64)).map_err(E::custom)
    }
}

fn amount_schema(
    text_pattern: &str,
    minimum: u64,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::{ObjectBuilder, OneOfBuilder, schema::Type};
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(text_pattern))
        .examples(["5000.00"]);
    let whole = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(minimum as usize))
        .maximum(Some(MAX_WHOLE as usize));
    OneOfBuilder::new()
        .item(text)
        .item(whole)
        .description(Some(description))
        .into()
}

/// [`MONEY_TEXT`] without zero: a nonzero digit somewhere. One alternative per place
/// of the first nonzero digit of the whole part (then up to ten digits in all), and
/// one for a zero whole part with a nonzero fraction: a plain regular expression, the
/// same in every engine.
fn positive_text() -> String {
    let whole: Vec<String> = (0..10)
        .map(|before| format!("[0-9]{{{before}}}[1-9][0-9]{{0,{}}}", 9 - before))
        .collect();
    format!(
        r"^(({})(\.[0-9]{{1,2}})?|0{{1,10}}\.(0[1-9]|[1-9][0-9]?))$",
        whole.join("|")
    )
}

/// The schema of a request amount that must be more than zero (a coupon's value, a
/// deduction): use with `#[schema(schema_with = shop_kit::money::positive_schema)]`.
pub fn positive_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    amount_schema(
        &positive_text(),
        1,
        "Amount of more than zero: a decimal string with at most two decimal places and \
         at most ten digits before the point, or a whole JSON number from 1.",
    )
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        amount_schema(
            MONEY_TEXT,
            0,
            "Amount of zero or more. Responses: a string with two decimal places \
             (\"5000.00\"); requests: a decimal string with at most two decimal places \
             and at most ten digits before the point, or a whole JSON number.",
        )
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
            serde_json::to_string(&read("\"0.1\"").unwrap()).unwrap(),
            "\"0.10\""
        );
        assert_eq!(read("5.0").unwrap(), Money::from_cents(500));
        assert_eq!(read("-0").unwrap(), Money::ZERO);
        assert_eq!(
            serde_json::to_string(&read("\"12.5\"").unwrap()).unwrap(),
            "\"12.50\""
        );
        assert_eq!(read("\"-3.25\"").unwrap(), Money::from_cents(-325));
        assert_eq!(read("\"0000000001.5\"").unwrap(), Money::from_cents(150));
        assert_eq!(
            read("\"9999999999.99\"").unwrap(),
            Money::from_cents(999_999_999_999)
        );
    }

    /// Strings the schema's patterns state, and the parser and domain checks agree.
    #[test]
    fn the_schema_patterns_are_what_the_parser_accepts() {
        let cases = [
            ("0", true, false),
            ("0.00", true, false),
            ("00.0", true, false),
            ("0.01", true, true),
            ("0.10", true, true),
            ("0000000000.5", true, true),
            ("1", true, true),
            ("0000000010", true, true),
            ("9999999999.99", true, true),
            ("1234567890", true, true),
            ("12345678901", false, false),
            ("1.000", false, false),
            ("-1", false, false),
            ("-0", false, false),
            ("+1", false, false),
            (" 1", false, false),
            ("1.", false, false),
            (".5", false, false),
            ("1e3", false, false),
            ("", false, false),
        ];
        let positive = regex::Regex::new(&positive_text()).unwrap();
        let money = regex::Regex::new(MONEY_TEXT).unwrap();
        for (text, valid, more_than_zero) in cases {
            let parsed = text.parse::<Money>().ok().filter(|m| !m.is_negative());
            assert_eq!(parsed.is_some(), valid, "{text:?} parsed");
            assert_eq!(money.is_match(text), valid, "{text:?} against MONEY_TEXT");
            let positive_parsed = parsed.is_some_and(|m| !m.is_zero());
            assert_eq!(positive_parsed, more_than_zero, "{text:?} more than zero");
            assert_eq!(
                positive.is_match(text),
                more_than_zero,
                "{text:?} against the positive pattern"
            );
        }
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
        assert!(read("\"1.000\"").is_err());
        assert!(read("\"-0.00\"").is_err());
        assert!(read("\" 1\"").is_err());
        assert!(read("\"+1\"").is_err());
        assert!(read("0.1").unwrap_err().contains("decimal string"));
        assert!(read("12.5").is_err());
    }
}
