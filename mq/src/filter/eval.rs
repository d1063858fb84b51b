//! Evaluates a [`Cond`] against a message's properties with SQL's three
//! truth values, as RocketMQ does:
//! - a missing property is NULL; a comparison, BETWEEN or IN on NULL is
//!   UNKNOWN, and so is its NOT; only `IS [NOT] NULL` looks at it;
//! - AND is FALSE once one side is FALSE, OR is TRUE once one side is TRUE
//!   (evaluated left to right, stopping there), else UNKNOWN wins over the rest;
//! - property values are text: compared with a number they must read as a
//!   number, with TRUE/FALSE as `true`/`false` (any case); `<`, `>` and
//!   BETWEEN compare numbers only;
//! - a value that does not fit (text where a number is needed) is a type
//!   mismatch: the whole expression does not match, as RocketMQ's broker
//!   treats an evaluation error.
//!
//! A message matches only when the expression is TRUE.

use super::expr::{CmpOp, Cond, Num, Value};

/// A property value that cannot take part in the comparison it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch;

/// TRUE, FALSE, or UNKNOWN (`None`).
type Truth = Result<Option<bool>, Mismatch>;

/// Whether the condition is TRUE for a message whose property `name` is
/// `lookup(name)`.
pub fn matches<'a>(cond: &'a Cond, lookup: &impl Fn(&str) -> Option<&'a str>) -> bool {
    eval(cond, lookup) == Ok(Some(true))
}

fn eval<'a>(cond: &'a Cond, lookup: &impl Fn(&str) -> Option<&'a str>) -> Truth {
    match cond {
        Cond::Const(b) => Ok(Some(*b)),
        Cond::Not(inner) => Ok(eval(inner, lookup)?.map(|b| !b)),
        Cond::And(terms) => {
            let mut unknown = false;
            for t in terms {
                match eval(t, lookup)? {
                    Some(false) => return Ok(Some(false)),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            Ok(if unknown { None } else { Some(true) })
        }
        Cond::Or(terms) => {
            let mut unknown = false;
            for t in terms {
                match eval(t, lookup)? {
                    Some(true) => return Ok(Some(true)),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            Ok(if unknown { None } else { Some(false) })
        }
        Cond::Compare(op, left, right) => {
            let (Some(l), Some(r)) = (resolve(left, lookup), resolve(right, lookup)) else {
                return Ok(None);
            };
            compare(*op, l, r).map(Some)
        }
        Cond::Between {
            value,
            low,
            high,
            negated,
        } => {
            let (Some(v), Some(lo), Some(hi)) = (
                resolve(value, lookup),
                resolve(low, lookup),
                resolve(high, lookup),
            ) else {
                return Ok(None);
            };
            let inside = compare(CmpOp::Ge, v, lo)? && compare(CmpOp::Le, v, hi)?;
            Ok(Some(inside != *negated))
        }
        Cond::In { prop, set, negated } => {
            let Some(v) = lookup(prop) else {
                return Ok(None);
            };
            Ok(Some(set.iter().any(|s| s == v) != *negated))
        }
        Cond::IsNull { value, negated } => {
            let is_null = resolve(value, lookup).is_none();
            Ok(Some(is_null != *negated))
        }
    }
}

/// A value at evaluation time: property text or a literal.
#[derive(Clone, Copy)]
enum Operand<'v> {
    Text(&'v str),
    Num(Num),
    Bool(bool),
}

fn resolve<'v>(v: &'v Value, lookup: &impl Fn(&str) -> Option<&'v str>) -> Option<Operand<'v>> {
    Some(match v {
        Value::Prop(name) => Operand::Text(lookup(name)?),
        Value::Str(s) => Operand::Text(s),
        Value::Num(n) => Operand::Num(*n),
        Value::Bool(b) => Operand::Bool(*b),
    })
}

fn compare(op: CmpOp, l: Operand<'_>, r: Operand<'_>) -> Result<bool, Mismatch> {
    use Operand::*;
    let ord = match (l, r) {
        (Text(a), Text(b)) if !op.is_ordering() => a.cmp(b),
        (Bool(a), Bool(b)) if !op.is_ordering() => a.cmp(&b),
        // Only (in)equality is asked of booleans: the order of sides is moot.
        (Bool(a), Text(t)) | (Text(t), Bool(a)) if !op.is_ordering() => a.cmp(&as_bool(t)?),
        (Bool(_), _) | (_, Bool(_)) => return Err(Mismatch),
        (a, b) => as_num(a)?.compare(as_num(b)?).ok_or(Mismatch)?,
    };
    Ok(op.holds(ord))
}

fn as_num(v: Operand<'_>) -> Result<Num, Mismatch> {
    match v {
        Operand::Num(n) => Ok(n),
        Operand::Text(t) => Num::parse(t).ok_or(Mismatch),
        Operand::Bool(_) => Err(Mismatch),
    }
}

fn as_bool(t: &str) -> Result<bool, Mismatch> {
    if t.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if t.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Mismatch)
    }
}
