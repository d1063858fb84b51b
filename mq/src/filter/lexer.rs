//! Splits an SQL92 filter expression into tokens, each with the column
//! (1-based, in characters) where it starts, for error messages.

use super::SqlError;

/// One token of a filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    /// A property name (`a`, `order.amount`, `TAGS`).
    Ident(String),
    /// A numeric literal, as written (parsed by the parser).
    Number(String),
    /// A string literal, quotes removed and `''` unescaped.
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Not,
    Between,
    In,
    Is,
    Null,
    True,
    False,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Token::Ident(name) => format!("`{name}`"),
            Token::Number(n) => format!("`{n}`"),
            Token::Str(s) => format!("'{s}'"),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::Comma => "`,`".into(),
            Token::Eq => "`=`".into(),
            Token::Ne => "`<>`".into(),
            Token::Lt => "`<`".into(),
            Token::Le => "`<=`".into(),
            Token::Gt => "`>`".into(),
            Token::Ge => "`>=`".into(),
            Token::And => "AND".into(),
            Token::Or => "OR".into(),
            Token::Not => "NOT".into(),
            Token::Between => "BETWEEN".into(),
            Token::In => "IN".into(),
            Token::Is => "IS".into(),
            Token::Null => "NULL".into(),
            Token::True => "TRUE".into(),
            Token::False => "FALSE".into(),
        }
    }
}

/// A token and the column where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned {
    pub token: Token,
    pub column: usize,
}

/// Tokenizes the whole expression (whose length the caller has bounded).
pub fn tokenize(src: &str) -> Result<Vec<Spanned>, SqlError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (token, next) = match c {
            '(' => (Token::LParen, i + 1),
            ')' => (Token::RParen, i + 1),
            ',' => (Token::Comma, i + 1),
            '=' => (Token::Eq, i + 1),
            '<' => match chars.get(i + 1) {
                Some('>') => (Token::Ne, i + 2),
                Some('=') => (Token::Le, i + 2),
                _ => (Token::Lt, i + 1),
            },
            '>' => match chars.get(i + 1) {
                Some('=') => (Token::Ge, i + 2),
                _ => (Token::Gt, i + 1),
            },
            '\'' => string_literal(&chars, i)?,
            '0'..='9' | '.' | '-' => number(&chars, i)?,
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => word(&chars, i),
            other => {
                return Err(SqlError::new(
                    column,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        tokens.push(Spanned { token, column });
        i = next;
    }
    Ok(tokens)
}

/// `'…'` with `''` standing for one quote.
fn string_literal(chars: &[char], start: usize) -> Result<(Token, usize), SqlError> {
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => {
                return Err(SqlError::new(start + 1, "string literal is not closed"));
            }
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((Token::Str(text), i + 1)),
            Some(&c) => {
                text.push(c);
                i += 1;
            }
        }
    }
}

/// `-12`, `3.14`, `.5`, `1e10`, `3.1E-2`: an optional minus, digits with at
/// most one point, an optional exponent. Validated again by the parser.
fn number(chars: &[char], start: usize) -> Result<(Token, usize), SqlError> {
    let mut i = start;
    if chars[i] == '-' {
        i += 1;
    }
    let digits_start = i;
    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
        i += 1;
    }
    if i == digits_start || !chars[digits_start..i].iter().any(char::is_ascii_digit) {
        return Err(SqlError::new(start + 1, "expected a number"));
    }
    if i < chars.len() && matches!(chars[i], 'e' | 'E') {
        let mut j = i + 1;
        if j < chars.len() && matches!(chars[j], '+' | '-') {
            j += 1;
        }
        let exp_start = j;
        while j < chars.len() && chars[j].is_ascii_digit() {
            j += 1;
        }
        if j == exp_start {
            return Err(SqlError::new(start + 1, "number has an empty exponent"));
        }
        i = j;
    }
    if i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
        return Err(SqlError::new(i + 1, "a number runs into a name"));
    }
    Ok((Token::Number(chars[start..i].iter().collect()), i))
}

/// A keyword (any case) or a property name: `[A-Za-z_$][A-Za-z0-9_$.]*`.
fn word(chars: &[char], start: usize) -> (Token, usize) {
    let mut i = start + 1;
    while i < chars.len()
        && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '$' | '.'))
    {
        i += 1;
    }
    let text: String = chars[start..i].iter().collect();
    let token = match text.to_ascii_uppercase().as_str() {
        "AND" => Token::And,
        "OR" => Token::Or,
        "NOT" => Token::Not,
        "BETWEEN" => Token::Between,
        "IN" => Token::In,
        "IS" => Token::Is,
        "NULL" => Token::Null,
        "TRUE" => Token::True,
        "FALSE" => Token::False,
        _ => Token::Ident(text),
    };
    (token, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Token> {
        tokenize(src)
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect()
    }

    #[test]
    fn operators_keywords_and_literals_are_told_apart() {
        assert_eq!(
            kinds("a>=-1.5e3 And b<>'it''s' or NOT c<=.5"),
            vec![
                Token::Ident("a".into()),
                Token::Ge,
                Token::Number("-1.5e3".into()),
                Token::And,
                Token::Ident("b".into()),
                Token::Ne,
                Token::Str("it's".into()),
                Token::Or,
                Token::Not,
                Token::Ident("c".into()),
                Token::Le,
                Token::Number(".5".into()),
            ]
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let t = tokenize("'ü' = x").unwrap();
        assert_eq!(t[1].column, 5);
        assert_eq!(t[2].column, 7);
    }

    #[test]
    fn broken_tokens_are_refused_with_their_column() {
        assert_eq!(tokenize("a = 'open").unwrap_err().column, 5);
        assert_eq!(tokenize("a = 1e").unwrap_err().column, 5);
        assert_eq!(tokenize("a = 12abc").unwrap_err().column, 7);
        assert_eq!(tokenize("a # b").unwrap_err().column, 3);
        assert!(tokenize("a = -").is_err());
        assert!(tokenize("a = .").is_err());
    }
}
