//! Tag expressions of subscriptions: `*` (every message) or tags joined by
//! `||` (`created || paid`).

use crate::error::{Error, Result};
use crate::storage::index::tag_hash;

/// A parsed tag expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagExpr {
    All,
    AnyOf(Vec<(String, u32)>),
}

impl TagExpr {
    pub fn parse(expr: &str) -> Result<TagExpr> {
        let expr = expr.trim();
        if expr.is_empty() || expr == "*" {
            return Ok(TagExpr::All);
        }
        let tags: Vec<(String, u32)> = expr
            .split("||")
            .map(|t| t.trim())
            .map(|t| {
                if t.is_empty() || t.contains(char::is_whitespace) || t == "*" {
                    Err(Error::Invalid(format!(
                        "bad tag expression {expr:?}: use * or a || b"
                    )))
                } else {
                    Ok((t.to_string(), tag_hash(t)))
                }
            })
            .collect::<Result<_>>()?;
        Ok(TagExpr::AnyOf(tags))
    }

    /// Quick test on the tag hash stored in the index (may say yes wrongly).
    pub fn may_match_hash(&self, hash: u32) -> bool {
        match self {
            TagExpr::All => true,
            TagExpr::AnyOf(tags) => tags.iter().any(|(_, h)| *h == hash),
        }
    }

    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagExpr::All => true,
            TagExpr::AnyOf(tags) => tags.iter().any(|(t, _)| t == tag),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, TagExpr::All)
    }
}

impl std::fmt::Display for TagExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagExpr::All => f.write_str("*"),
            TagExpr::AnyOf(tags) => {
                let names: Vec<&str> = tags.iter().map(|(t, _)| t.as_str()).collect();
                f.write_str(&names.join(" || "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_alternatives_parse_and_match() {
        assert!(TagExpr::parse("*").unwrap().matches("x"));
        let e = TagExpr::parse("created || paid").unwrap();
        assert!(e.matches("paid") && e.matches("created") && !e.matches("cancelled"));
        assert!(e.may_match_hash(tag_hash("paid")));
        assert_eq!(e.to_string(), "created || paid");
    }

    #[test]
    fn malformed_expressions_are_refused() {
        assert!(TagExpr::parse("a ||").is_err());
        assert!(TagExpr::parse("a b").is_err());
    }
}
