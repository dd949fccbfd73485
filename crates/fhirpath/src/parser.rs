//! Precedence-climbing parser for the FHIRPath grammar (spec §"Operator precedence").

use crate::ast::{BinOp, Expr, Func, SystemType, TypeOp, TypeSpec};
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::lexer::{tokenize, Tok, Token};
use crate::model::model;
use crate::quantity::{is_calendar_keyword, Quantity};
use crate::temporal::{Kind, Temporal};
use crate::value::Item;
use std::rc::Rc;

/// Deepest expression tree accepted: operator chains and `a.b.c` paths count
/// too, because the evaluator recurses once per level.
const MAX_DEPTH: usize = 300;

pub fn parse_expression(src: &str) -> Result<Expr> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, i: 0, depth: 0 };
    let e = p.expr(0)?;
    match &p.tokens[p.i].tok {
        Tok::Eof => Ok(e),
        t => Err(Error::syntax(format!("unexpected {}", describe(t)), p.tokens[p.i].pos)),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Eof => "end of expression".into(),
        Tok::Sym(s) => format!("'{s}'"),
        Tok::Ident(s) | Tok::Quoted(s) => format!("identifier '{s}'"),
        Tok::Str(_) => "string literal".into(),
        Tok::Number(n) => format!("number {n}"),
        Tok::Temporal(t) => format!("date/time @{t}"),
        Tok::Var(v) => format!("%{v}"),
        Tok::Special(s) => format!("${s}"),
    }
}

/// Infix operators: (left binding power, operator). Higher binds tighter.
fn infix(t: &Tok) -> Option<(u8, BinOp)> {
    let op = match t {
        Tok::Sym(s) => match *s {
            "*" => BinOp::Mul,
            "/" => BinOp::Div,
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "&" => BinOp::Concat,
            "|" => BinOp::Union,
            "<" => BinOp::Lt,
            "<=" => BinOp::Le,
            ">" => BinOp::Gt,
            ">=" => BinOp::Ge,
            "=" => BinOp::Eq,
            "!=" => BinOp::Ne,
            "~" => BinOp::Equiv,
            "!~" => BinOp::NotEquiv,
            _ => return None,
        },
        Tok::Ident(s) => match s.as_str() {
            "div" => BinOp::IntDiv,
            "mod" => BinOp::Mod,
            "in" => BinOp::In,
            "contains" => BinOp::Contains,
            "and" => BinOp::And,
            "or" => BinOp::Or,
            "xor" => BinOp::Xor,
            "implies" => BinOp::Implies,
            _ => return None,
        },
        _ => return None,
    };
    let bp = match op {
        BinOp::Implies => 1,
        BinOp::Or | BinOp::Xor => 2,
        BinOp::And => 3,
        BinOp::In | BinOp::Contains => 4,
        BinOp::Eq | BinOp::Ne | BinOp::Equiv | BinOp::NotEquiv => 5,
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 6,
        BinOp::Union => 7,
        BinOp::Add | BinOp::Sub | BinOp::Concat => 9,
        BinOp::Mul | BinOp::Div | BinOp::IntDiv | BinOp::Mod => 10,
    };
    Some((bp, op))
}

const TYPE_BP: u8 = 8;
const PREFIX_BP: u8 = 11;

struct Parser {
    tokens: Vec<Token>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.i].tok
    }

    fn pos(&self) -> usize {
        self.tokens[self.i].pos
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.i].clone();
        if self.i + 1 < self.tokens.len() {
            self.i += 1;
        }
        t
    }

    fn expect(&mut self, sym: &'static str) -> Result<()> {
        if *self.peek() == Tok::Sym(sym) {
            self.next();
            Ok(())
        } else {
            Err(Error::syntax(format!("expected '{sym}' but found {}", describe(self.peek())), self.pos()))
        }
    }

    /// Counts one more level of tree depth for the current sub-expression.
    fn deeper(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::syntax("expression nested too deeply", self.pos()));
        }
        Ok(())
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr> {
        let entry = self.depth;
        self.deeper()?;
        let mut lhs = self.prefix()?;
        loop {
            let t = self.peek().clone();
            if let Tok::Ident(kw) = &t {
                if (kw == "is" || kw == "as") && TYPE_BP >= min_bp {
                    self.next();
                    self.deeper()?;
                    let spec = self.type_spec()?;
                    let op = if kw == "is" { TypeOp::Is } else { TypeOp::As };
                    lhs = Expr::TypeTest(Some(Box::new(lhs)), op, spec);
                    continue;
                }
            }
            let Some((bp, op)) = infix(&t) else { break };
            if bp < min_bp {
                break;
            }
            self.next();
            self.deeper()?;
            // `implies` is right-associative; everything else associates left.
            let rhs = self.expr(if op == BinOp::Implies { bp } else { bp + 1 })?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth = entry;
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr> {
        match self.peek() {
            Tok::Sym("-") => {
                self.next();
                Ok(Expr::Negate(Box::new(self.expr(PREFIX_BP)?)))
            }
            Tok::Sym("+") => {
                self.next();
                self.expr(PREFIX_BP)
            }
            _ => {
                let term = self.term()?;
                self.postfix(term)
            }
        }
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr> {
        loop {
            if matches!(self.peek(), Tok::Sym(".") | Tok::Sym("[")) {
                self.deeper()?;
            }
            match self.peek() {
                Tok::Sym(".") => {
                    self.next();
                    let pos = self.pos();
                    let name = self.identifier()?;
                    e = if *self.peek() == Tok::Sym("(") {
                        self.call(Some(Box::new(e)), &name, pos)?
                    } else {
                        Expr::Member(Box::new(e), name.into(), Default::default())
                    };
                }
                Tok::Sym("[") => {
                    self.next();
                    let index = self.expr(0)?;
                    self.expect("]")?;
                    e = Expr::Indexer(Box::new(e), Box::new(index));
                }
                _ => return Ok(e),
            }
        }
    }

    fn identifier(&mut self) -> Result<String> {
        let t = self.next();
        match t.tok {
            Tok::Ident(s) | Tok::Quoted(s) => Ok(s),
            other => Err(Error::syntax(format!("expected an identifier but found {}", describe(&other)), t.pos)),
        }
    }

    fn term(&mut self) -> Result<Expr> {
        let t = self.next();
        let pos = t.pos;
        Ok(match t.tok {
            Tok::Number(n) => self.number(&n, pos)?,
            Tok::Str(s) => Expr::Literal(Item::Str(Rc::from(s))),
            Tok::Temporal(text) => {
                let v = Temporal::parse_literal(&text).ok_or_else(|| Error::syntax(format!("invalid date/time literal @{text}"), pos))?;
                if v.kind == Kind::Time && (text.ends_with('Z') || text[1..].contains(['+', '-'])) {
                    return Err(Error::syntax("a time literal cannot have a time zone", pos));
                }
                Expr::Literal(Item::Temporal(v))
            }
            Tok::Var(name) => Expr::Variable(name.into()),
            Tok::Special(name) => match name.as_str() {
                "this" => Expr::This,
                "index" => Expr::Index,
                "total" => Expr::Total,
                _ => return Err(Error::syntax(format!("unknown special variable ${name}"), pos)),
            },
            Tok::Sym("(") => {
                let e = self.expr(0)?;
                self.expect(")")?;
                e
            }
            Tok::Sym("{") => {
                self.expect("}")?;
                Expr::EmptySet
            }
            Tok::Ident(name) if *self.peek() == Tok::Sym("(") => self.call(None, &name, pos)?,
            Tok::Ident(name) if name == "true" || name == "false" => Expr::Literal(Item::Bool(name == "true")),
            Tok::Ident(name) | Tok::Quoted(name) => Expr::Ident(name.into(), Default::default()),
            other => return Err(Error::syntax(format!("unexpected {}", describe(&other)), pos)),
        })
    }

    fn number(&mut self, text: &str, pos: usize) -> Result<Expr> {
        let unit = match self.peek().clone() {
            Tok::Str(u) => Some(u),
            Tok::Ident(u) if is_calendar_keyword(&u) => Some(u),
            _ => None,
        };
        let too_large = || Error::syntax("numeric literal out of range", pos);
        if let Some(unit) = unit {
            self.next();
            let value = Decimal::parse(text).ok_or_else(too_large)?;
            return Ok(Expr::Literal(Item::Quantity(Rc::new(Quantity::new(value, &unit)))));
        }
        Ok(Expr::Literal(if text.contains('.') {
            Item::Dec(Decimal::parse(text).ok_or_else(too_large)?)
        } else {
            Item::Int(text.parse().map_err(|_| too_large())?)
        }))
    }

    fn call(&mut self, target: Option<Box<Expr>>, name: &str, pos: usize) -> Result<Expr> {
        self.expect("(")?;
        if let Some(op) = match name {
            "is" => Some(TypeOp::Is),
            "as" => Some(TypeOp::As),
            "ofType" => Some(TypeOp::OfType),
            _ => None,
        } {
            let spec = self.type_spec()?;
            self.expect(")")?;
            return Ok(Expr::TypeTest(target, op, spec));
        }
        let (func, min, max) = Func::lookup(name).ok_or_else(|| Error::syntax(format!("unknown function '{name}'"), pos))?;
        let mut args = Vec::new();
        if *self.peek() != Tok::Sym(")") {
            loop {
                args.push(self.expr(0)?);
                if *self.peek() != Tok::Sym(",") {
                    break;
                }
                self.next();
            }
        }
        self.expect(")")?;
        if args.len() < min || args.len() > max {
            return Err(Error::syntax(format!("{name}() takes {min} to {max} arguments, got {}", args.len()), pos));
        }
        Ok(Expr::Call(target, func, args))
    }

    /// `Name`, `System.Name` or `FHIR.Name` (each part may be `backticked`).
    fn type_spec(&mut self) -> Result<TypeSpec> {
        let pos = self.pos();
        let first = self.identifier()?;
        let (namespace, name) = if *self.peek() == Tok::Sym(".") {
            self.next();
            (Some(first), self.identifier()?)
        } else {
            (None, first)
        };
        let spec = match namespace.as_deref() {
            Some("System") => TypeSpec { system: SystemType::from_name(&name), fhir: None },
            Some("FHIR") => TypeSpec { system: None, fhir: model().type_id(&name) },
            None => TypeSpec { system: SystemType::from_name(&name), fhir: model().type_id(&name) },
            Some(ns) => return Err(Error::syntax(format!("unknown type namespace '{ns}'"), pos)),
        };
        if spec.system.is_none() && spec.fhir.is_none() && namespace.as_deref() != Some("System") {
            return Err(Error::syntax(format!("unknown type '{name}'"), pos));
        }
        Ok(spec)
    }
}
