//! The checked form of an SQL92 filter: conditions over values. The parser
//! builds it only when the types fit, so evaluation has no syntax to check.

/// A number: integers stay exact; anything else is a finite `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    /// Parses a literal or a property value: an integer, or else a finite
    /// decimal (`3.14`, `1e10`); `None` when it is not a number.
    pub fn parse(text: &str) -> Option<Num> {
        if let Ok(n) = text.parse::<i64>() {
            return Some(Num::Int(n));
        }
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            // Rust also reads "inf" and "NaN"; the filter language does not.
            .filter(|_| {
                text.bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            })
            .map(Num::Float)
    }

    pub fn compare(self, other: Num) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(n) => n as f64,
            Num::Float(f) => f,
        }
    }
}

/// An operand of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A message property (missing: SQL's NULL).
    Prop(String),
    Num(Num),
    Str(String),
    Bool(bool),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }

    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

/// A condition: what a filter expression is.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Const(bool),
    /// All of (at least two); AND chains are kept flat, not nested.
    And(Vec<Cond>),
    /// Any of (at least two).
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Compare(CmpOp, Value, Value),
    /// `v [NOT] BETWEEN low AND high`, bounds included.
    Between {
        value: Value,
        low: Value,
        high: Value,
        negated: bool,
    },
    /// `prop [NOT] IN ('a', 'b')`.
    In {
        prop: String,
        set: Vec<String>,
        negated: bool,
    },
    /// `v IS [NOT] NULL`.
    IsNull {
        value: Value,
        negated: bool,
    },
}
