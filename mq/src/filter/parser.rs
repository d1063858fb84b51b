//! Recursive descent over the tokens, building a checked [`Cond`].
//!
//! ```text
//! or        := and (OR and)*
//! and       := not (AND not)*
//! not       := NOT not | predicate
//! predicate := '(' or ')'
//!            | value (cmp value | [NOT] BETWEEN value AND value
//!                     | [NOT] IN '(' string (',' string)* ')' | IS [NOT] NULL)
//!            | TRUE | FALSE
//! value     := property | number | string | TRUE | FALSE
//! ```
//!
//! Types are checked here, as RocketMQ does when it compiles a selector:
//! `>`/`<`/BETWEEN take numbers and properties only, `=` never takes NULL,
//! two literals of different types are never compared, IN needs a property
//! and string literals, and BETWEEN's literal bounds must be in order.
//! Nesting (parentheses and NOT) is bounded by [`MAX_DEPTH`], so no input
//! can exhaust the stack here or when the condition is evaluated or dropped.

use super::expr::{CmpOp, Cond, Num, Value};
use super::lexer::{Spanned, Token, tokenize};
use super::{MAX_DEPTH, MAX_SQL_LEN, SqlError};

/// Parses and checks an expression.
pub fn parse(src: &str) -> Result<Cond, SqlError> {
    if src.len() > MAX_SQL_LEN {
        return Err(SqlError::new(
            1,
            format!(
                "expression is {} bytes; the limit is {MAX_SQL_LEN}",
                src.len()
            ),
        ));
    }
    let tokens = tokenize(src)?;
    if tokens.is_empty() {
        return Err(SqlError::new(1, "expression is empty"));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        end_column: src.chars().count() + 1,
    };
    let cond = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(SqlError::new(
            t.column,
            format!(
                "unexpected {} after a complete condition",
                t.token.describe()
            ),
        ));
    }
    Ok(cond)
}

struct Parser {
    tokens: Vec<Spanned>,
    pos: usize,
    depth: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|s| &s.token)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.end_column, |s| s.column)
    }

    fn eat(&mut self, token: &Token) -> bool {
        let hit = self.peek() == Some(token);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "end of input".to_string(), Token::describe)
    }

    fn expected(&self, what: &str) -> SqlError {
        SqlError::new(
            self.column(),
            format!("expected {what}, found {}", self.found()),
        )
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), SqlError> {
        if self.eat(&token) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn enter(&mut self) -> Result<(), SqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SqlError::new(
                self.column(),
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Cond, SqlError> {
        let mut terms = vec![self.and()?];
        while self.eat(&Token::Or) {
            terms.push(self.and()?);
        }
        Ok(flatten(terms, Cond::Or))
    }

    fn and(&mut self) -> Result<Cond, SqlError> {
        let mut terms = vec![self.not()?];
        while self.eat(&Token::And) {
            terms.push(self.not()?);
        }
        Ok(flatten(terms, Cond::And))
    }

    fn not(&mut self) -> Result<Cond, SqlError> {
        if self.eat(&Token::Not) {
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Cond, SqlError> {
        if self.eat(&Token::LParen) {
            self.enter()?;
            let inner = self.or()?;
            self.expect(Token::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(inner);
        }
        let (value, column) = self.value()?;
        let op = match self.peek() {
            Some(Token::Eq) => Some(CmpOp::Eq),
            Some(Token::Ne) => Some(CmpOp::Ne),
            Some(Token::Lt) => Some(CmpOp::Lt),
            Some(Token::Le) => Some(CmpOp::Le),
            Some(Token::Gt) => Some(CmpOp::Gt),
            Some(Token::Ge) => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.pos += 1;
            let (right, right_column) = self.value()?;
            check_comparison(op, (&value, column), (&right, right_column))?;
            return Ok(Cond::Compare(op, value, right));
        }
        match self.peek() {
            Some(Token::Between) => {
                self.pos += 1;
                self.between(value, column, false)
            }
            Some(Token::In) => {
                self.pos += 1;
                self.in_list(value, column, false)
            }
            Some(Token::Not) => {
                self.pos += 1;
                if self.eat(&Token::Between) {
                    self.between(value, column, true)
                } else if self.eat(&Token::In) {
                    self.in_list(value, column, true)
                } else {
                    Err(self.expected("BETWEEN or IN after NOT"))
                }
            }
            Some(Token::Is) => {
                self.pos += 1;
                let negated = self.eat(&Token::Not);
                self.expect(Token::Null, "NULL")?;
                Ok(Cond::IsNull { value, negated })
            }
            _ => match value {
                Value::Bool(b) => Ok(Cond::Const(b)),
                other => Err(SqlError::new(
                    self.column(),
                    format!(
                        "expected a comparison after {}, found {}",
                        describe(&other),
                        self.found()
                    ),
                )),
            },
        }
    }

    fn value(&mut self) -> Result<(Value, usize), SqlError> {
        let column = self.column();
        let value = match self.peek() {
            Some(Token::Ident(name)) => Value::Prop(name.clone()),
            Some(Token::Number(text)) => match Num::parse(text) {
                Some(n) => Value::Num(n),
                None => return Err(SqlError::new(column, format!("bad number `{text}`"))),
            },
            Some(Token::Str(s)) => Value::Str(s.clone()),
            Some(Token::True) => Value::Bool(true),
            Some(Token::False) => Value::Bool(false),
            Some(Token::Null) => {
                return Err(SqlError::new(
                    column,
                    "NULL can only be tested with IS NULL or IS NOT NULL",
                ));
            }
            _ => return Err(self.expected("a property name or a literal")),
        };
        self.pos += 1;
        Ok((value, column))
    }

    fn between(&mut self, value: Value, column: usize, negated: bool) -> Result<Cond, SqlError> {
        numeric_operand(&value, column, "BETWEEN")?;
        let (low, low_column) = self.value()?;
        numeric_operand(&low, low_column, "BETWEEN")?;
        self.expect(Token::And, "AND between the bounds of BETWEEN")?;
        let (high, high_column) = self.value()?;
        numeric_operand(&high, high_column, "BETWEEN")?;
        if let (Value::Num(l), Value::Num(h)) = (&low, &high) {
            if l.compare(*h) == Some(std::cmp::Ordering::Greater) {
                return Err(SqlError::new(
                    low_column,
                    "BETWEEN needs its lower bound first",
                ));
            }
        }
        Ok(Cond::Between {
            value,
            low,
            high,
            negated,
        })
    }

    fn in_list(&mut self, value: Value, column: usize, negated: bool) -> Result<Cond, SqlError> {
        let Value::Prop(prop) = value else {
            return Err(SqlError::new(column, "IN needs a property on its left"));
        };
        self.expect(Token::LParen, "`(` after IN")?;
        let mut set = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Str(s)) => {
                    set.push(s.clone());
                    self.pos += 1;
                }
                _ => return Err(self.expected("a string literal in the IN list")),
            }
            if !self.eat(&Token::Comma) {
                break;
            }
        }
        self.expect(Token::RParen, "`,` or `)` in the IN list")?;
        Ok(Cond::In { prop, set, negated })
    }
}

fn flatten(mut terms: Vec<Cond>, join: fn(Vec<Cond>) -> Cond) -> Cond {
    if terms.len() == 1 {
        terms.remove(0)
    } else {
        join(terms)
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Prop(name) => format!("`{name}`"),
        Value::Num(Num::Int(n)) => format!("`{n}`"),
        Value::Num(Num::Float(f)) => format!("`{f}`"),
        Value::Str(s) => format!("'{s}'"),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
    }
}

fn numeric_operand(v: &Value, column: usize, what: &str) -> Result<(), SqlError> {
    match v {
        Value::Prop(_) | Value::Num(_) => Ok(()),
        other => Err(SqlError::new(
            column,
            format!(
                "{} cannot be compared with {what}: use a number or a property",
                describe(other)
            ),
        )),
    }
}

fn check_comparison(
    op: CmpOp,
    (left, left_column): (&Value, usize),
    (right, right_column): (&Value, usize),
) -> Result<(), SqlError> {
    if op.is_ordering() {
        let symbol = match op {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            _ => ">=",
        };
        numeric_operand(left, left_column, symbol)?;
        return numeric_operand(right, right_column, symbol);
    }
    let kind = |v: &Value| match v {
        Value::Prop(_) => None,
        Value::Num(_) => Some("a number"),
        Value::Str(_) => Some("a string"),
        Value::Bool(_) => Some("a boolean"),
    };
    match (kind(left), kind(right)) {
        (Some(a), Some(b)) if a != b => Err(SqlError::new(
            left_column,
            format!("{a} cannot be compared with {b}"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str) -> Value {
        Value::Prop(name.into())
    }

    #[test]
    fn and_binds_tighter_than_or_and_chains_stay_flat() {
        let c = parse("a = 1 OR b = 2 AND c = 3 OR d = 4").unwrap();
        let Cond::Or(terms) = c else { panic!("{c:?}") };
        assert_eq!(terms.len(), 3);
        assert!(matches!(&terms[1], Cond::And(t) if t.len() == 2));
    }

    #[test]
    fn parentheses_override_precedence() {
        let c = parse("(a = 1 OR b = 2) AND c = 3").unwrap();
        let Cond::And(terms) = c else { panic!("{c:?}") };
        assert!(matches!(&terms[0], Cond::Or(t) if t.len() == 2));
    }

    #[test]
    fn not_applies_to_the_next_predicate_only() {
        let c = parse("NOT a = 1 AND b = 2").unwrap();
        let Cond::And(terms) = c else { panic!("{c:?}") };
        assert!(matches!(&terms[0], Cond::Not(_)));
    }

    #[test]
    fn every_predicate_form_parses() {
        assert_eq!(
            parse("a between -1 and 2.5").unwrap(),
            Cond::Between {
                value: prop("a"),
                low: Value::Num(Num::Int(-1)),
                high: Value::Num(Num::Float(2.5)),
                negated: false
            }
        );
        assert!(matches!(
            parse("a NOT BETWEEN 1 AND b").unwrap(),
            Cond::Between { negated: true, .. }
        ));
        assert_eq!(
            parse("region in ('eu', 'us')").unwrap(),
            Cond::In {
                prop: "region".into(),
                set: vec!["eu".into(), "us".into()],
                negated: false
            }
        );
        assert!(matches!(
            parse("a not in ('x')").unwrap(),
            Cond::In { negated: true, .. }
        ));
        assert_eq!(
            parse("a is not null").unwrap(),
            Cond::IsNull {
                value: prop("a"),
                negated: true
            }
        );
        assert_eq!(parse("TRUE").unwrap(), Cond::Const(true));
        assert_eq!(
            parse("flag = FALSE").unwrap(),
            Cond::Compare(CmpOp::Eq, prop("flag"), Value::Bool(false))
        );
        assert_eq!(
            parse("a <> 'x'").unwrap(),
            Cond::Compare(CmpOp::Ne, prop("a"), Value::Str("x".into()))
        );
        assert!(parse("a >= b AND 1e3 > c AND x <= 2 AND y < 3").is_ok());
    }

    #[test]
    fn type_errors_are_refused_with_a_reason() {
        for (src, needle) in [
            ("a > 'x'", "cannot be compared with >"),
            ("TRUE < a", "cannot be compared with <"),
            ("a = NULL", "IS NULL"),
            ("1 = 'one'", "a number cannot be compared with a string"),
            ("a between 'x' and 3", "BETWEEN"),
            ("a between 10 and 2", "lower bound first"),
            ("'a' in ('a')", "IN needs a property"),
            ("a in (1, 2)", "string literal in the IN list"),
            ("a in ()", "string literal in the IN list"),
            ("a", "expected a comparison after `a`"),
            ("a = 1 b = 2", "unexpected `b`"),
            ("(a = 1", "expected `)`"),
            ("a = 1 AND", "found end of input"),
            ("a not like 'x'", "BETWEEN or IN after NOT"),
            ("a is 3", "expected NULL"),
            ("a = 1.2.3", "bad number"),
            ("", "empty"),
            ("   ", "empty"),
        ] {
            let e = parse(src).unwrap_err().to_string();
            assert!(e.contains(needle), "{src:?}: {e}");
        }
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse("a > 5 AND b = ").unwrap_err();
        assert_eq!(e.column, 15);
        assert!(e.to_string().starts_with("column 15: "), "{e}");
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!(
            "{}a = 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(
            parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("nested deeper")
        );
        let nots = format!("{}a = 1", "NOT ".repeat(MAX_DEPTH + 1));
        assert!(
            parse(&nots)
                .unwrap_err()
                .to_string()
                .contains("nested deeper")
        );
        // Far deeper than the limit, within the length limit: still an error, no overflow.
        let hostile = "(".repeat(MAX_SQL_LEN);
        assert!(parse(&hostile).is_err());
    }

    #[test]
    fn length_is_bounded() {
        let long = format!("a = '{}'", "x".repeat(MAX_SQL_LEN));
        assert!(parse(&long).unwrap_err().to_string().contains("limit"));
        let chain = vec!["a = 1"; 400].join(" OR ");
        assert!(chain.len() < MAX_SQL_LEN);
        let Cond::Or(terms) = parse(&chain).unwrap() else {
            panic!()
        };
        assert_eq!(terms.len(), 400);
    }
}
