//! Message filters of subscriptions, as RocketMQ has them: a tag expression
//! (`*`, `a || b`) or an SQL92 expression over the message's properties
//! (`a > 5 AND b = 'x'`, `IS [NOT] NULL`, `[NOT] BETWEEN`, `[NOT] IN`, `NOT`,
//! string, numeric and TRUE/FALSE literals, parentheses; the message's tag is
//! the property `TAGS`).
//!
//! A consumer names its filter with a [`MessageSelector`] in its subscribe
//! frame; the broker compiles it into a [`Filter`] when the member joins
//! (refusing a bad expression with an error frame that says where and why)
//! and applies it at dispatch: messages that do not match are skipped for
//! that group and never sent. The SQL92 side is its own small language:
//! [`lexer`] → [`parser`] (types checked, nesting and length bounded) →
//! [`eval`] (three-valued logic over the message's properties).

mod eval;
mod expr;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::broker::tags::TagExpr;
use crate::error::{Error, Result};
use crate::message::StoredMessage;

pub use expr::{CmpOp, Cond, Num, Value};

/// Longest SQL92 expression accepted, in bytes.
pub const MAX_SQL_LEN: usize = 4096;
/// Deepest nesting of parentheses and NOTs accepted.
pub const MAX_DEPTH: usize = 64;
/// The property under which SQL92 expressions see the message's tag.
pub const TAGS_PROPERTY: &str = "TAGS";

/// How a subscription selects messages, as a consumer sends it (RocketMQ's
/// `MessageSelector.byTag` / `bySql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSelector {
    /// `*` or `a || b`.
    Tag(String),
    /// An SQL92 expression over the message's properties.
    Sql92(String),
}

impl MessageSelector {
    /// Wire number of the selector's type.
    pub fn type_byte(&self) -> u8 {
        match self {
            MessageSelector::Tag(_) => 0,
            MessageSelector::Sql92(_) => 1,
        }
    }

    pub fn expression(&self) -> &str {
        match self {
            MessageSelector::Tag(e) | MessageSelector::Sql92(e) => e,
        }
    }

    /// Rebuilds a selector from its wire type and expression.
    pub fn from_wire(type_byte: u8, expression: String) -> Result<MessageSelector> {
        match type_byte {
            0 => Ok(MessageSelector::Tag(expression)),
            1 => Ok(MessageSelector::Sql92(expression)),
            other => Err(Error::Malformed(format!("unknown selector type {other}"))),
        }
    }
}

impl Default for MessageSelector {
    fn default() -> Self {
        MessageSelector::Tag("*".into())
    }
}

/// Why an SQL92 expression was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    pub message: String,
}

impl SqlError {
    fn new(column: usize, message: impl Into<String>) -> SqlError {
        SqlError {
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// A compiled SQL92 expression and its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFilter {
    source: String,
    cond: Cond,
}

impl SqlFilter {
    pub fn parse(source: &str) -> std::result::Result<SqlFilter, SqlError> {
        Ok(SqlFilter {
            source: source.trim().to_string(),
            cond: parser::parse(source)?,
        })
    }

    pub fn cond(&self) -> &Cond {
        &self.cond
    }

    /// Whether the expression is TRUE for a message whose property `name`
    /// is `lookup(name)` (`None`: the message has no such property).
    pub fn matches_with<'a>(&'a self, lookup: impl Fn(&str) -> Option<&'a str>) -> bool {
        eval::matches(&self.cond, &lookup)
    }

    /// Whether the expression is TRUE for this message.
    pub fn matches(&self, m: &StoredMessage) -> bool {
        self.matches_with(|name| {
            if name == TAGS_PROPERTY {
                Some(m.tag.as_str()).filter(|t| !t.is_empty())
            } else {
                m.properties.get(name).map(String::as_str)
            }
        })
    }
}

/// A subscription's compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Tags(TagExpr),
    Sql(SqlFilter),
}

impl Filter {
    /// Compiles a selector; a bad expression is [`Error::Invalid`] with the
    /// reason and column.
    pub fn compile(selector: &MessageSelector) -> Result<Filter> {
        match selector {
            MessageSelector::Tag(expr) => TagExpr::parse(expr).map(Filter::Tags),
            MessageSelector::Sql92(expr) => SqlFilter::parse(expr)
                .map(Filter::Sql)
                .map_err(|e| Error::Invalid(format!("bad SQL92 filter: {e}"))),
        }
    }

    /// Every message passes (no need to read a record to decide).
    pub fn is_all(&self) -> bool {
        matches!(self, Filter::Tags(t) if t.is_all())
    }

    /// Quick test on the tag hash of the index: `false` means the message
    /// surely does not match (SQL92 filters need the record to decide).
    pub fn may_match_hash(&self, hash: u32) -> bool {
        match self {
            Filter::Tags(t) => t.may_match_hash(hash),
            Filter::Sql(_) => true,
        }
    }

    pub fn matches(&self, m: &StoredMessage) -> bool {
        match self {
            Filter::Tags(t) => t.matches(&m.tag),
            Filter::Sql(s) => s.matches(m),
        }
    }
}

impl Default for Filter {
    fn default() -> Self {
        Filter::Tags(TagExpr::All)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Tags(t) => t.fmt(f),
            Filter::Sql(s) => write!(f, "SQL92: {}", s.source),
        }
    }
}
