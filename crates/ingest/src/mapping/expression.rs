//! Field expressions: a value computed from several source columns, for what one column and a
//! chain of transforms cannot express: an id built from two fields, a value taken only when
//! another field says it applies, the first present of several columns.
//!
//! ```text
//! expr    := term ('||' term)*                       concatenation; NULL if any part is NULL
//! term    := 'text' | null | `column` | column | func '(' args ')'
//! func    := coalesce(expr, …) | if(cond, expr, expr) | upper(expr) | lower(expr) | trim(expr)
//!          | substr(expr, start[, length])           1-based, in characters
//! cond    := expr ('=' | '!=') expr | expr [not] in ('a', …) | expr is [not] null
//! ```
//!
//! A bare column name is any run of characters other than white space and `'(),=!|`` ` ``;
//! names with those characters go in backticks.

/// A parsed expression whose columns are resolved to positions in the source row.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    root: Expr,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Null,
    Text(String),
    Column(usize),
    Concat(Vec<Expr>),
    Coalesce(Vec<Expr>),
    If(Box<Cond>, Box<Expr>, Box<Expr>),
    Upper(Box<Expr>),
    Lower(Box<Expr>),
    Trim(Box<Expr>),
    Substr(Box<Expr>, usize, Option<usize>),
}

#[derive(Debug, Clone, PartialEq)]
enum Cond {
    Equal(Expr, Expr, bool),
    In(Expr, Vec<String>, bool),
    IsNull(Expr, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Name(String),
    Number(usize),
    Open,
    Close,
    Comma,
    Concat,
    Equal,
    NotEqual,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    _ => Token::Equal,
                });
            }
            '!' | '|' => {
                chars.next();
                let (next, token) = if c == '!' {
                    ('=', Token::NotEqual)
                } else {
                    ('|', Token::Concat)
                };
                if chars.next() != Some(next) {
                    return Err(format!("`{c}` must be followed by `{next}`"));
                }
                out.push(token);
            }
            '\'' | '`' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        // A doubled quote stands for itself.
                        Some(q) if q == c && chars.peek() == Some(&c) => {
                            chars.next();
                            s.push(c);
                        }
                        Some(q) if q == c => break,
                        Some(q) => s.push(q),
                        None => return Err(format!("unclosed {c}")),
                    }
                }
                out.push(if c == '\'' {
                    Token::Text(s)
                } else {
                    Token::Name(s)
                });
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "'(),=!|`".contains(c) {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(match s.parse() {
                    Ok(n) => Token::Number(n),
                    Err(_) => Token::Name(s),
                });
            }
        }
    }
    Ok(out)
}

struct Parser<'a, F> {
    tokens: Vec<Token>,
    at: usize,
    column: &'a mut F,
}

impl<F: FnMut(&str) -> Result<usize, String>> Parser<'_, F> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            _ => Err(format!("expected {what}")),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        let hit = matches!(self.peek(), Some(Token::Name(n)) if n.eq_ignore_ascii_case(word));
        if hit {
            self.at += 1;
        }
        hit
    }

    fn expr(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.term()?];
        while self.peek() == Some(&Token::Concat) {
            self.at += 1;
            parts.push(self.term()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Concat(parts)
        })
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect(Token::Open, "`(`")?;
        let mut args = vec![self.expr()?];
        while self.peek() == Some(&Token::Comma) {
            self.at += 1;
            args.push(self.expr()?);
        }
        self.expect(Token::Close, "`)`")?;
        Ok(args)
    }

    fn number(&mut self) -> Result<usize, String> {
        match self.next() {
            Some(Token::Number(n)) => Ok(n),
            _ => Err("expected a whole number".into()),
        }
    }

    fn term(&mut self) -> Result<Expr, String> {
        let token = self.next().ok_or("the expression ends too early")?;
        let name = match token {
            Token::Text(s) => return Ok(Expr::Text(s)),
            Token::Number(n) => return Ok(Expr::Text(n.to_string())),
            Token::Name(n) => n,
            t => return Err(format!("unexpected {t:?}")),
        };
        if self.peek() != Some(&Token::Open) {
            if name.eq_ignore_ascii_case("null") {
                return Ok(Expr::Null);
            }
            return Ok(Expr::Column((self.column)(&name)?));
        }
        let one = |mut args: Vec<Expr>, f: fn(Box<Expr>) -> Expr| {
            if args.len() == 1 {
                Ok(f(Box::new(args.remove(0))))
            } else {
                Err(format!("{name}() takes one argument"))
            }
        };
        match name.to_ascii_lowercase().as_str() {
            "coalesce" => Ok(Expr::Coalesce(self.args()?)),
            "upper" => one(self.args()?, Expr::Upper),
            "lower" => one(self.args()?, Expr::Lower),
            "trim" => one(self.args()?, Expr::Trim),
            "if" => {
                self.expect(Token::Open, "`(`")?;
                let cond = self.cond()?;
                self.expect(Token::Comma, "`,`")?;
                let then = self.expr()?;
                self.expect(Token::Comma, "`,`")?;
                let otherwise = self.expr()?;
                self.expect(Token::Close, "`)`")?;
                Ok(Expr::If(
                    Box::new(cond),
                    Box::new(then),
                    Box::new(otherwise),
                ))
            }
            "substr" => {
                self.expect(Token::Open, "`(`")?;
                let value = self.expr()?;
                self.expect(Token::Comma, "`,`")?;
                let start = self.number()?;
                let len = if self.peek() == Some(&Token::Comma) {
                    self.at += 1;
                    Some(self.number()?)
                } else {
                    None
                };
                self.expect(Token::Close, "`)`")?;
                if start == 0 {
                    return Err("substr() counts from 1".into());
                }
                Ok(Expr::Substr(Box::new(value), start, len))
            }
            other => Err(format!("unknown function `{other}`")),
        }
    }

    fn cond(&mut self) -> Result<Cond, String> {
        let left = self.expr()?;
        if self.keyword("is") {
            let negated = self.keyword("not");
            if !self.keyword("null") {
                return Err("expected `null` after `is`".into());
            }
            return Ok(Cond::IsNull(left, negated));
        }
        let negated = self.keyword("not");
        if self.keyword("in") {
            self.expect(Token::Open, "`(`")?;
            let mut values = Vec::new();
            loop {
                match self.next() {
                    Some(Token::Text(s)) => values.push(s),
                    Some(Token::Number(n)) => values.push(n.to_string()),
                    _ => return Err("`in` lists quoted values".into()),
                }
                match self.next() {
                    Some(Token::Comma) => continue,
                    Some(Token::Close) => break,
                    _ => return Err("expected `,` or `)`".into()),
                }
            }
            return Ok(Cond::In(left, values, negated));
        }
        if negated {
            return Err("expected `in` after `not`".into());
        }
        let equal = match self.next() {
            Some(Token::Equal) => true,
            Some(Token::NotEqual) => false,
            _ => return Err("expected `=`, `!=`, `in` or `is null`".into()),
        };
        Ok(Cond::Equal(left, self.expr()?, equal))
    }
}

/// Parses all of `text` with `rule`, resolving column names through `column`.
fn parse_all<T, F: FnMut(&str) -> Result<usize, String>>(
    text: &str,
    mut column: F,
    what: &str,
    rule: impl FnOnce(&mut Parser<'_, F>) -> Result<T, String>,
) -> Result<T, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        column: &mut column,
    };
    let parsed = rule(&mut parser)?;
    match parser.tokens.get(parser.at) {
        Some(t) => Err(format!("unexpected {t:?} after the {what}")),
        None => Ok(parsed),
    }
}

impl Expression {
    /// Parses `text`, resolving each column name to its position through `column`.
    pub fn parse(
        text: &str,
        column: impl FnMut(&str) -> Result<usize, String>,
    ) -> Result<Self, String> {
        parse_all(text, column, "expression", |p| p.expr()).map(|root| Self { root })
    }

    /// The column names `text` refers to, in order of first use.
    pub fn columns(text: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        Self::parse(text, |name| Ok(first_use(&mut names, name)))?;
        Ok(names)
    }

    /// Evaluates the expression on a row of text values.
    pub fn eval(&self, row: &[Option<String>]) -> Option<String> {
        eval(&self.root, row)
    }
}

/// A condition (the `cond` of the grammar) deciding whether a row applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    cond: Cond,
}

impl Condition {
    pub fn parse(
        text: &str,
        column: impl FnMut(&str) -> Result<usize, String>,
    ) -> Result<Self, String> {
        parse_all(text, column, "condition", |p| p.cond()).map(|cond| Self { cond })
    }

    /// The column names `text` refers to, in order of first use.
    pub fn columns(text: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        Self::parse(text, |name| Ok(first_use(&mut names, name)))?;
        Ok(names)
    }

    pub fn holds(&self, row: &[Option<String>]) -> bool {
        test(&self.cond, row)
    }
}

fn first_use(names: &mut Vec<String>, name: &str) -> usize {
    names.iter().position(|n| n == name).unwrap_or_else(|| {
        names.push(name.to_owned());
        names.len() - 1
    })
}

fn eval(e: &Expr, row: &[Option<String>]) -> Option<String> {
    match e {
        Expr::Null => None,
        Expr::Text(s) => Some(s.clone()),
        Expr::Column(i) => row.get(*i).cloned().flatten(),
        Expr::Concat(parts) => parts.iter().map(|p| eval(p, row)).collect(),
        Expr::Coalesce(args) => args.iter().find_map(|a| eval(a, row)),
        Expr::If(cond, then, otherwise) => {
            if test(cond, row) {
                eval(then, row)
            } else {
                eval(otherwise, row)
            }
        }
        Expr::Upper(a) => eval(a, row).map(|s| s.to_uppercase()),
        Expr::Lower(a) => eval(a, row).map(|s| s.to_lowercase()),
        Expr::Trim(a) => eval(a, row).map(|s| s.trim().to_owned()),
        Expr::Substr(a, start, len) => eval(a, row).map(|s| {
            let chars = s.chars().skip(start - 1);
            match len {
                Some(n) => chars.take(*n).collect(),
                None => chars.collect(),
            }
        }),
    }
}

fn test(c: &Cond, row: &[Option<String>]) -> bool {
    match c {
        Cond::Equal(a, b, equal) => match (eval(a, row), eval(b, row)) {
            (Some(a), Some(b)) => (a == b) == *equal,
            _ => false,
        },
        Cond::In(a, values, negated) => {
            eval(a, row).is_some_and(|v| values.contains(&v) != *negated)
        }
        Cond::IsNull(a, negated) => eval(a, row).is_none() != *negated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [&str; 4] = ["OBX-2", "OBX-5", "OBR-3", "OBX-1"];

    fn parse(text: &str) -> Result<Expression, String> {
        Expression::parse(text, |name| {
            COLUMNS
                .iter()
                .position(|c| *c == name)
                .ok_or_else(|| format!("no column `{name}`"))
        })
    }

    fn row(values: [Option<&str>; 4]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(String::from)).collect()
    }

    #[test]
    fn expressions_combine_columns() {
        let r = row([Some("NM"), Some(" 7.2 "), Some("R1"), Some("3")]);
        let eval = |t: &str| parse(t).unwrap().eval(&r);
        assert_eq!(eval("OBR-3 || '-' || OBX-1").as_deref(), Some("R1-3"));
        assert_eq!(
            eval("if(OBX-2 = 'NM', trim(OBX-5), null)"),
            Some("7.2".into())
        );
        assert_eq!(
            eval("if(OBX-2 in ('ST', 'TX'), OBX-5, 'x')").as_deref(),
            Some("x")
        );
        assert_eq!(
            eval("if(OBX-2 not in ('ST'), 'n', 'y')").as_deref(),
            Some("n")
        );
        assert_eq!(eval("substr(`OBR-3`, 2)").as_deref(), Some("1"));
        assert_eq!(eval("lower(upper('Ab'))").as_deref(), Some("ab"));
        let r = row([None, Some("v"), None, Some("1")]);
        let e = |t: &str| parse(t).unwrap().eval(&r);
        assert_eq!(e("OBR-3 || OBX-1"), None, "NULL spreads through ||");
        assert_eq!(e("coalesce(OBR-3, OBX-5)").as_deref(), Some("v"));
        assert_eq!(
            e("if(OBX-2 is null, 'none', OBX-2)").as_deref(),
            Some("none")
        );
        assert_eq!(e("if(OBX-2 != 'NM', 'a', 'b')").as_deref(), Some("b"));
        assert_eq!(e("'it''s'").as_deref(), Some("it's"));
    }

    #[test]
    fn mistakes_are_named() {
        for (text, says) in [
            ("OBX-9", "OBX-9"),
            ("if(OBX-2, 'a', 'b')", "expected"),
            ("upper('a', 'b')", "one argument"),
            ("frobnicate(OBX-1)", "frobnicate"),
            ("'open", "unclosed"),
            ("OBX-1 OBX-2", "after the expression"),
            ("substr(OBX-1, 0)", "from 1"),
            ("OBX-1 |", "followed"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn conditions_decide_rows() {
        let c = Condition::parse("OBX-2 in ('NM', 'SN')", |_| Ok(0)).unwrap();
        assert!(c.holds(&[Some("NM".into())]));
        assert!(!c.holds(&[Some("ST".into())]));
        assert!(!c.holds(&[None]));
        assert!(Condition::parse("OBX-2", |_| Ok(0)).is_err());
        assert_eq!(Condition::columns("`PV1-2` = 'I'").unwrap(), vec!["PV1-2"]);
    }

    #[test]
    fn referenced_columns_are_listed_once() {
        assert_eq!(
            Expression::columns("if(`A B` = 'x', C || `A B`, D)").unwrap(),
            vec!["A B", "C", "D"]
        );
    }
}
