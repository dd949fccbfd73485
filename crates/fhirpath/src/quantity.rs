//! Quantities with simple unit handling: a few UCUM atoms with metric prefixes,
//! the FHIRPath calendar keywords, and products/quotients of them. Enough to
//! compare `4 'g'` with `4000 'mg'` or `7 days` with `1 'wk'`; units we do not
//! know are compared by their text.

use crate::decimal::Decimal;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

#[derive(Clone, Debug)]
pub struct Quantity {
    pub value: Decimal,
    pub unit: Rc<str>,
}

/// Calendar keywords are written without quotes in FHIRPath (`1 week`).
pub fn is_calendar_keyword(unit: &str) -> bool {
    matches!(
        unit,
        "year"
            | "years"
            | "month"
            | "months"
            | "week"
            | "weeks"
            | "day"
            | "days"
            | "hour"
            | "hours"
            | "minute"
            | "minutes"
            | "second"
            | "seconds"
            | "millisecond"
            | "milliseconds"
    )
}

/// A unit reduced to a factor and base-unit exponents (`cm2` = 0.0001 × m²).
struct Canonical {
    factor: Decimal,
    dims: BTreeMap<String, i32>,
}

/// Atoms as (code, factor, base). Calendar years and months are their own
/// dimension: `1 year` is not the same as UCUM `1 'a'` (a mean year).
const ATOMS: &[(&str, &str, &str)] = &[
    ("g", "1", "g"),
    ("m", "1", "m"),
    ("s", "1", "s"),
    ("L", "0.001", "m3"),
    ("min", "60", "s"),
    ("h", "3600", "s"),
    ("d", "86400", "s"),
    ("wk", "604800", "s"),
    ("mo", "2629800", "s"),
    ("a", "31557600", "s"),
    ("[lb_av]", "453.59237", "g"),
    ("[oz_av]", "28.349523125", "g"),
    ("[in_i]", "0.0254", "m"),
    ("[ft_i]", "0.3048", "m"),
    ("year", "12", "mo_cal"),
    ("years", "12", "mo_cal"),
    ("month", "1", "mo_cal"),
    ("months", "1", "mo_cal"),
    ("week", "604800", "s"),
    ("weeks", "604800", "s"),
    ("day", "86400", "s"),
    ("days", "86400", "s"),
    ("hour", "3600", "s"),
    ("hours", "3600", "s"),
    ("minute", "60", "s"),
    ("minutes", "60", "s"),
    ("second", "1", "s"),
    ("seconds", "1", "s"),
    ("millisecond", "0.001", "s"),
    ("milliseconds", "0.001", "s"),
];

const PREFIXES: &[(&str, &str)] = &[("k", "1000"), ("d", "0.1"), ("c", "0.01"), ("m", "0.001"), ("u", "0.000001"), ("n", "0.000000001")];

fn atom(code: &str) -> Option<(Decimal, &'static str)> {
    let find = |c: &str| ATOMS.iter().find(|(a, _, _)| *a == c).map(|(_, f, b)| (Decimal::parse(f).unwrap(), *b));
    if let Some(found) = find(code) {
        return Some(found);
    }
    for (p, f) in PREFIXES {
        if let Some(rest) = code.strip_prefix(p) {
            if matches!(rest, "g" | "m" | "s" | "L") {
                let (af, base) = find(rest)?;
                return Some((Decimal::parse(f).unwrap().mul(af)?, base));
            }
        }
    }
    None
}

impl Canonical {
    fn of(unit: &str) -> Option<Canonical> {
        let mut c = Canonical { factor: Decimal::from_i64(1), dims: BTreeMap::new() };
        if unit == "1" || unit.is_empty() {
            return Some(c);
        }
        let mut sign = 1;
        let mut rest = unit;
        loop {
            let end = rest.find(['.', '/']).unwrap_or(rest.len());
            let term = &rest[..end];
            let body = term.trim_end_matches(|ch: char| ch.is_ascii_digit());
            let (name, exp) = if body.len() == term.len() || body.is_empty() {
                (term, 1)
            } else {
                let e: i32 = term[body.len()..].parse().ok()?;
                match body.strip_suffix('-') {
                    Some(n) if !n.is_empty() => (n, -e),
                    _ => (body, e),
                }
            };
            if name == "1" {
                // dimensionless factor term
            } else if let Some((factor, base)) = atom(name) {
                for _ in 0..exp.unsigned_abs() {
                    c.factor = if exp * sign > 0 { c.factor.mul(factor)? } else { c.factor.div(factor)? };
                }
                let (bname, bexp) = split_base(base);
                *c.dims.entry(bname.to_string()).or_default() += bexp * exp * sign;
            } else {
                *c.dims.entry(name.to_string()).or_default() += exp * sign;
            }
            if end == rest.len() {
                break;
            }
            sign = if &rest[end..end + 1] == "/" { -1 } else { sign };
            rest = &rest[end + 1..];
        }
        c.dims.retain(|_, e| *e != 0);
        Some(c)
    }

    fn unit_text(&self) -> String {
        let term = |(b, e): (&String, &i32)| if e.abs() == 1 { b.clone() } else { format!("{b}{}", e.abs()) };
        let num: Vec<String> = self.dims.iter().filter(|(_, e)| **e > 0).map(term).collect();
        let den: Vec<String> = self.dims.iter().filter(|(_, e)| **e < 0).map(term).collect();
        let mut s = if num.is_empty() { "1".to_string() } else { num.join(".") };
        for d in den {
            s.push('/');
            s.push_str(&d);
        }
        s
    }
}

fn split_base(base: &str) -> (&str, i32) {
    match base.strip_suffix('3') {
        Some(b) => (b, 3),
        None => (base, 1),
    }
}

impl Quantity {
    pub fn new(value: Decimal, unit: &str) -> Quantity {
        Quantity { value, unit: Rc::from(unit) }
    }

    /// Both values in a common unit, or `None` when the units are not comparable.
    fn common(&self, o: &Quantity) -> Option<(Decimal, Decimal)> {
        if self.unit == o.unit {
            return Some((self.value, o.value));
        }
        let (a, b) = (Canonical::of(&self.unit)?, Canonical::of(&o.unit)?);
        if a.dims != b.dims {
            return None;
        }
        Some((self.value.mul(a.factor)?, o.value.mul(b.factor)?))
    }

    pub fn compare(&self, o: &Quantity) -> Option<Ordering> {
        self.common(o).map(|(a, b)| a.cmp_num(b))
    }

    pub fn equivalent(&self, o: &Quantity) -> bool {
        self.common(o).is_some_and(|(a, b)| a.equivalent(b))
    }

    pub fn comparable(&self, o: &Quantity) -> bool {
        self.common(o).is_some()
    }

    /// Sum or difference in the left operand's unit.
    pub fn add(&self, o: &Quantity, negate: bool) -> Option<Quantity> {
        let other = if negate { o.value.neg() } else { o.value };
        if self.unit == o.unit {
            return Some(Quantity { value: self.value.add(other)?, unit: self.unit.clone() });
        }
        let (a, b) = (Canonical::of(&self.unit)?, Canonical::of(&o.unit)?);
        if a.dims != b.dims {
            return None;
        }
        let converted = other.mul(b.factor)?.div(a.factor)?;
        Some(Quantity { value: self.value.add(converted)?, unit: self.unit.clone() })
    }

    /// Product (`divide == false`) or quotient, in base units.
    pub fn mul(&self, o: &Quantity, divide: bool) -> Option<Quantity> {
        let (a, b) = (Canonical::of(&self.unit)?, Canonical::of(&o.unit)?);
        let mut dims = a.dims.clone();
        for (k, e) in b.dims {
            *dims.entry(k).or_default() += if divide { -e } else { e };
        }
        dims.retain(|_, e| *e != 0);
        let (va, vb) = (self.value.mul(a.factor)?, o.value.mul(b.factor)?);
        let value = if divide { va.div(vb)? } else { va.mul(vb)? };
        let unit = Canonical { factor: Decimal::from_i64(1), dims }.unit_text();
        Some(Quantity { value, unit: Rc::from(unit) })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_calendar_keyword(&self.unit) {
            write!(f, "{} {}", self.value, self.unit)
        } else {
            write!(f, "{} '{}'", self.value, self.unit)
        }
    }
}
