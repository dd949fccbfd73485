//! Tokenizer. Positions are character offsets so errors point at what the user typed.

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A plain identifier (keywords such as `and` or `true` are identifiers here).
    Ident(String),
    /// A `backtick` identifier: never a keyword.
    Quoted(String),
    Str(String),
    Number(String),
    /// Date/time literal text after the `@`.
    Temporal(String),
    /// `%name`, ``%`name` `` or `%'name'`.
    Var(String),
    /// `$this`, `$index`, `$total` (the name after `$`).
    Special(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const SYMBOLS: &[&str] =
    &["!=", "!~", "<=", ">=", ".", "[", "]", "(", ")", "{", "}", ",", "+", "-", "*", "/", "&", "|", "=", "~", "<", ">"];

/// Longest accepted literal or identifier, in characters.
const MAX_TOKEN_CHARS: usize = 10_000;

pub fn tokenize(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut lexer = Lexer { chars, i: 0, out: Vec::new() };
    lexer.run()?;
    Ok(lexer.out)
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    out: Vec<Token>,
}

impl Lexer {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.i;
        while self.peek(0).is_some_and(&f) {
            self.i += 1;
        }
        self.chars[start..self.i].iter().collect()
    }

    fn push(&mut self, tok: Tok, pos: usize) -> Result<()> {
        if self.i - pos > MAX_TOKEN_CHARS {
            return Err(Error::syntax("literal or identifier too long", pos));
        }
        self.out.push(Token { tok, pos });
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
        while let Some(c) = self.peek(0) {
            let pos = self.i;
            if c.is_whitespace() {
                self.i += 1;
            } else if c == '/' && self.peek(1) == Some('/') {
                self.take_while(|c| c != '\n');
            } else if c == '/' && self.peek(1) == Some('*') {
                self.i += 2;
                loop {
                    match (self.peek(0), self.peek(1)) {
                        (Some('*'), Some('/')) => break self.i += 2,
                        (Some(_), _) => self.i += 1,
                        (None, _) => return Err(Error::syntax("unterminated comment", pos)),
                    }
                }
            } else if c.is_ascii_alphabetic() || c == '_' {
                let id = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_');
                self.push(Tok::Ident(id), pos)?;
            } else if c.is_ascii_digit() {
                let mut n = self.take_while(|c| c.is_ascii_digit());
                if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
                    self.i += 1;
                    n.push('.');
                    n.push_str(&self.take_while(|c| c.is_ascii_digit()));
                }
                self.push(Tok::Number(n), pos)?;
            } else if c == '\'' || c == '`' {
                let s = self.quoted(c)?;
                self.push(if c == '`' { Tok::Quoted(s) } else { Tok::Str(s) }, pos)?;
            } else if c == '@' {
                self.i += 1;
                let text = self.temporal();
                if text.is_empty() {
                    return Err(Error::syntax("expected a date or time after '@'", pos));
                }
                self.push(Tok::Temporal(text), pos)?;
            } else if c == '%' {
                self.i += 1;
                let name = match self.peek(0) {
                    Some(q @ ('`' | '\'')) => self.quoted(q)?,
                    _ => self.take_while(|c| c.is_ascii_alphanumeric() || c == '_'),
                };
                if name.is_empty() {
                    return Err(Error::syntax("expected a variable name after '%'", pos));
                }
                self.push(Tok::Var(name), pos)?;
            } else if c == '$' {
                self.i += 1;
                let name = self.take_while(|c| c.is_ascii_alphanumeric());
                self.push(Tok::Special(name), pos)?;
            } else if let Some(sym) = SYMBOLS.iter().find(|s| s.chars().enumerate().all(|(k, sc)| self.peek(k) == Some(sc))) {
                self.i += sym.chars().count();
                self.push(Tok::Sym(sym), pos)?;
            } else {
                return Err(Error::syntax(format!("unexpected character '{c}'"), pos));
            }
        }
        self.out.push(Token { tok: Tok::Eof, pos: self.chars.len() });
        Ok(())
    }

    /// Date/time literal characters; a `.` only continues it before a digit
    /// (fractional seconds), otherwise it is an invocation.
    fn temporal(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0) {
            let digit_follows = self.peek(1).is_some_and(|n| n.is_ascii_digit());
            let ok = c.is_ascii_digit() || matches!(c, 'T' | ':' | 'Z' | '-' | '+') || (c == '.' && digit_follows);
            if !ok || ((c == '+' || c == '-') && !digit_follows) {
                break;
            }
            s.push(c);
            self.i += 1;
        }
        s
    }

    fn quoted(&mut self, q: char) -> Result<String> {
        let pos = self.i;
        self.i += 1;
        let mut s = String::new();
        loop {
            let c = self.peek(0).ok_or_else(|| Error::syntax("unterminated string or identifier", pos))?;
            self.i += 1;
            if c == q {
                return Ok(s);
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            let e = self.peek(0).ok_or_else(|| Error::syntax("unterminated escape", pos))?;
            self.i += 1;
            s.push(match e {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'f' => '\u{c}',
                'u' => {
                    let hex: String = (0..4).filter_map(|k| self.peek(k)).collect();
                    let code = u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 4);
                    self.i += 4;
                    code.and_then(char::from_u32).ok_or_else(|| Error::syntax("invalid \\u escape", self.i - 6))?
                }
                other => other,
            });
        }
    }
}
