//! Kubernetes label selectors (`k8s.io/apimachinery/pkg/labels` syntax): parsing, matching and the
//! normalised string form that names the env file (`itest,ci` → `ci,itest`).

use std::collections::BTreeMap;
use std::fmt;

/// A parsed selector: requirements ANDed together, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    key: String,
    op: Op,
    /// Values, sorted and deduplicated for set operators.
    values: Vec<String>,
}

/// The operators of the k8s selector syntax (`==` is kept apart from `=` because it is printed as written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
}

/// Why a selector string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse label selector {input:?}: {reason}")]
pub(crate) struct SelectorError {
    input: String,
    reason: String,
}

impl Selector {
    /// The selector that matches every label set (from an empty string).
    pub(crate) fn everything() -> Self {
        Self::default()
    }

    /// The default selector of a project, `project=core`: it only names the env file.
    pub(crate) fn project_core() -> Self {
        Self {
            requirements: vec![Requirement {
                key: "project".into(),
                op: Op::Equals,
                values: vec!["core".into()],
            }],
        }
    }

    /// Parses a selector string; whitespace around tokens is allowed, an empty string selects everything.
    pub(crate) fn parse(input: &str) -> Result<Self, SelectorError> {
        let err = |reason: String| SelectorError {
            input: input.to_string(),
            reason,
        };
        let tokens = lex(input);
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        if parser.peek().is_none() {
            return Ok(Self::everything());
        }
        loop {
            requirements.push(parser.requirement().map_err(err)?);
            match parser.next() {
                None => break,
                Some(Token::Comma) => {
                    if parser.peek().is_none() {
                        return Err(err("expected a requirement after ','".into()));
                    }
                }
                Some(t) => return Err(err(format!("expected ',' or end of input, found {t}"))),
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements })
    }

    /// True when the selector has no requirement (it matches everything).
    pub(crate) fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label set satisfies every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The env-file name suffix: `""` for an empty selector, else `_` + the normalised string with
    /// `=` → `_` and `,` → `-` (`itest,ci` → `_ci-itest`, `build=noscience` → `_build_noscience`), and
    /// the `/` of a prefixed key → `%2F` (`example.com/itest` → `_example.com%2Fitest`), so that the
    /// file stays in `.ciux.d/`.
    pub(crate) fn file_suffix(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        format!(
            "_{}",
            self.to_string()
                .replace('=', "_")
                .replace(',', "-")
                .replace('/', "%2F")
        )
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::Equals | Op::DoubleEquals | Op::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Op::NotEquals | Op::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Op::GreaterThan | Op::LessThan => {
                let (Some(Ok(have)), Some(Ok(bound))) = (
                    value.map(|v| v.parse::<i64>()),
                    self.values.first().map(|v| v.parse::<i64>()),
                ) else {
                    return false;
                };
                if self.op == Op::GreaterThan {
                    have > bound
                } else {
                    have < bound
                }
            }
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.values.first().map(String::as_str).unwrap_or("");
        match self.op {
            Op::Exists => write!(f, "{}", self.key),
            Op::DoesNotExist => write!(f, "!{}", self.key),
            Op::Equals => write!(f, "{}={first}", self.key),
            Op::DoubleEquals => write!(f, "{}=={first}", self.key),
            Op::NotEquals => write!(f, "{}!={first}", self.key),
            Op::GreaterThan => write!(f, "{}>{first}", self.key),
            Op::LessThan => write!(f, "{}<{first}", self.key),
            Op::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Op::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    Open,
    Close,
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "{s:?}"),
            Token::Comma => f.write_str("','"),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
            Token::Bang => f.write_str("'!'"),
            Token::Eq => f.write_str("'='"),
            Token::DoubleEq => f.write_str("'=='"),
            Token::NotEq => f.write_str("'!='"),
            Token::Gt => f.write_str("'>'"),
            Token::Lt => f.write_str("'<'"),
        }
    }
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '(' | ')' | '=' | '!' | '<' | '>')
}

fn lex(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        chars.next();
        let token = match c {
            ',' => Token::Comma,
            '(' => Token::Open,
            ')' => Token::Close,
            '<' => Token::Lt,
            '>' => Token::Gt,
            '=' if chars.next_if_eq(&'=').is_some() => Token::DoubleEq,
            '=' => Token::Eq,
            '!' if chars.next_if_eq(&'=').is_some() => Token::NotEq,
            '!' => Token::Bang,
            _ => {
                let mut ident = String::from(c);
                while let Some(c) = chars.next_if(|c| !is_special(*c)) {
                    ident.push(c);
                }
                Token::Ident(ident)
            }
        };
        tokens.push(token);
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn ident(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(s)) => Ok(s),
            Some(t) => Err(format!("expected {what}, found {t}")),
            None => Err(format!("expected {what}, found end of input")),
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.next();
            let key = self.ident("a label key after '!'")?;
            validate_key(&key)?;
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
                values: vec![],
            });
        }
        let key = self.ident("a label key")?;
        validate_key(&key)?;
        let op = match self.peek() {
            None | Some(Token::Comma) => {
                return Ok(Requirement {
                    key,
                    op: Op::Exists,
                    values: vec![],
                });
            }
            Some(Token::Eq) => Op::Equals,
            Some(Token::DoubleEq) => Op::DoubleEquals,
            Some(Token::NotEq) => Op::NotEquals,
            Some(Token::Gt) => Op::GreaterThan,
            Some(Token::Lt) => Op::LessThan,
            Some(Token::Ident(w)) if w == "in" => Op::In,
            Some(Token::Ident(w)) if w == "notin" => Op::NotIn,
            Some(t) => return Err(format!("expected an operator after key {key:?}, found {t}")),
        };
        self.next();
        let values = match op {
            Op::In | Op::NotIn => self.value_set()?,
            _ => {
                // An empty value (`key=`) is valid in the k8s syntax.
                let value = match self.peek() {
                    Some(Token::Ident(_)) => self.ident("a value")?,
                    None | Some(Token::Comma) => String::new(),
                    Some(t) => {
                        return Err(format!("expected a value after key {key:?}, found {t}"));
                    }
                };
                validate_value(&value)?;
                if matches!(op, Op::GreaterThan | Op::LessThan) && value.parse::<i64>().is_err() {
                    return Err(format!(
                        "value {value:?} of key {key:?} must be an integer for '>' and '<'"
                    ));
                }
                vec![value]
            }
        };
        Ok(Requirement { key, op, values })
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Token::Open) => {}
            _ => return Err("expected '(' to open a value set".into()),
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Ident(v)) => {
                    validate_value(&v)?;
                    values.push(v);
                    match self.next() {
                        Some(Token::Comma) => {}
                        Some(Token::Close) => break,
                        _ => return Err("expected ',' or ')' in a value set".into()),
                    }
                }
                Some(Token::Close) if values.is_empty() => {
                    return Err("a value set needs at least one value".into());
                }
                _ => return Err("expected a value in the value set".into()),
            }
        }
        values.sort();
        values.dedup();
        Ok(values)
    }
}

fn is_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|part| {
                let b = part.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            });
        if !ok {
            return Err(format!(
                "invalid label key {key:?}: the prefix must be a DNS subdomain"
            ));
        }
    }
    if !is_name(name) {
        return Err(format!(
            "invalid label key {key:?}: a name is 1 to 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {value:?}: at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_names_of_the_spec() {
        let cases = [
            ("itest", "_itest"),
            ("ci", "_ci"),
            ("e2e", "_e2e"),
            ("itest=true", "_itest_true"),
            ("build=noscience", "_build_noscience"),
            ("itest,ci", "_ci-itest"),
            ("a==b", "_a__b"),
            ("a!=b", "_a!_b"),
            ("a in (x,y)", "_a in (x-y)"),
            ("a in (y, x)", "_a in (x-y)"),
            ("!a", "_!a"),
            ("example.com/itest", "_example.com%2Fitest"),
            ("b,example.com/itest=true", "_b-example.com%2Fitest_true"),
            ("", ""),
        ];
        for (input, suffix) in cases {
            assert_eq!(
                Selector::parse(input).unwrap().file_suffix(),
                suffix,
                "{input}"
            );
        }
        assert_eq!(Selector::project_core().file_suffix(), "_project_core");
    }

    #[test]
    fn normalised_strings() {
        assert_eq!(
            Selector::parse(" b notin (z,y) , a>3 ")
                .unwrap()
                .to_string(),
            "a>3,b notin (y,z)"
        );
        assert_eq!(Selector::parse("x<10").unwrap().to_string(), "x<10");
        assert_eq!(Selector::parse("k=").unwrap().to_string(), "k=");
    }

    #[test]
    fn matching() {
        let optional = labels(&[("itest", "optional")]);
        let truthy = labels(&[("itest", "true"), ("ci", "true")]);
        let none = labels(&[]);
        let exists = Selector::parse("itest").unwrap();
        assert!(exists.matches(&optional) && exists.matches(&truthy) && !exists.matches(&none));
        let eq = Selector::parse("itest=true").unwrap();
        assert!(!eq.matches(&optional) && eq.matches(&truthy));
        assert!(Selector::parse("itest==true").unwrap().matches(&truthy));
        let ne = Selector::parse("itest!=true").unwrap();
        assert!(ne.matches(&optional) && ne.matches(&none) && !ne.matches(&truthy));
        assert!(Selector::parse("!itest").unwrap().matches(&none));
        assert!(
            Selector::parse("itest in (optional,x)")
                .unwrap()
                .matches(&optional)
        );
        let notin = Selector::parse("itest notin (optional)").unwrap();
        assert!(!notin.matches(&optional) && notin.matches(&none) && notin.matches(&truthy));
        let n = labels(&[("n", "5")]);
        assert!(Selector::parse("n>3").unwrap().matches(&n));
        assert!(!Selector::parse("n<3").unwrap().matches(&n));
        assert!(!Selector::parse("n>3").unwrap().matches(&optional));
        assert!(Selector::parse("itest,ci").unwrap().matches(&truthy));
        assert!(!Selector::parse("itest,ci").unwrap().matches(&optional));
        assert!(Selector::everything().matches(&none));
    }

    #[test]
    fn invalid_selectors_are_reported() {
        for bad in [
            "a in x", "a in ()", "=b", "a b", "a,", "a>b", "-a", "a=b=c", "a in (x", "a=-b-", "!",
            "a!",
        ] {
            let e = Selector::parse(bad).unwrap_err();
            assert!(
                e.to_string().starts_with("unable to parse label selector"),
                "{bad}: {e}"
            );
        }
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,40}") {
            let _ = Selector::parse(&s);
        }

        /// Whatever the selector, its env file is one plain file name: no `/`, not `.` nor `..`.
        #[test]
        fn file_suffix_is_one_file_name(s in "!?([a-z0-9]{1,3}\\.){0,2}[a-z0-9]{1,3}/?[A-Za-z0-9._-]{1,8}(=[a-z0-9]{0,4})?(,[a-z]{1,3}/[a-z]{1,3})?") {
            if let Ok(sel) = Selector::parse(&s) {
                let name = format!("ciux{}.sh", sel.file_suffix());
                prop_assert!(!name.contains('/') && !name.contains('\0'), "{}", name);
                prop_assert_eq!(std::path::Path::new(&name).file_name().map(|n| n.to_string_lossy().into_owned()), Some(name.clone()));
            }
        }

        #[test]
        fn normalised_form_parses_back_to_itself(s in "[a-c!=,() ]{0,3}(in|notin)?[a-c!=,()<>0-9 ]{0,12}") {
            if let Ok(sel) = Selector::parse(&s) {
                let again = Selector::parse(&sel.to_string()).unwrap();
                prop_assert_eq!(again.to_string(), sel.to_string());
            }
        }
    }
}
