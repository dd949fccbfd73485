//! The function library (FHIRPath §5 plus the FHIR additions `extension`,
//! `hasValue`, `getValue`, `resolve`). Arguments of the filtering functions are
//! evaluated once per input item with `$this`/`$index` bound; the others once.

use crate::ast::{Expr, Func};
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::eval::{bool_result, to_bool, Evaluator, Frame};
use crate::model::{model, FieldCache, UNKNOWN};
use crate::quantity::{is_calendar_keyword, Quantity};
use crate::temporal::{Kind, Temporal};
use crate::text;
use crate::value::{as_decimal, compare, equals, Collection, Ext, Item, Node};
use serde_json::Value;
use std::cmp::Ordering;
use std::rc::Rc;

type Ev<'a, 'e> = Evaluator<'a, 'e>;

fn contains_item(c: &Collection, x: &Item) -> bool {
    c.iter().any(|y| equals(x, y) == Some(true))
}

fn one<'a>(item: Item<'a>) -> Result<Collection<'a>> {
    Ok(Collection::one(item))
}

fn boolean<'a>(b: bool) -> Result<Collection<'a>> {
    one(Item::Bool(b))
}

fn none<'a>() -> Result<Collection<'a>> {
    Ok(Collection::new())
}

/// The input's single string, `None` if empty, an error for a non-string.
fn input_str<'c>(input: &'c Collection) -> Result<Option<&'c str>> {
    match input.singleton()? {
        None => Ok(None),
        Some(it) => it.as_str().map(Some).ok_or_else(|| Error::eval("this function needs a string input")),
    }
}

pub fn call<'a>(ev: &Ev<'a, '_>, func: Func, input: Collection<'a>, args: &[Expr], f: Frame<'a, '_>) -> Result<Collection<'a>> {
    let arg = |i: usize| ev.eval(&args[i], f);
    let arg_str = |i: usize| -> Result<Option<String>> {
        let c = arg(i)?;
        match c.singleton()? {
            None => Ok(None),
            Some(it) => it.as_str().map(|s| Some(s.to_string())).ok_or_else(|| Error::eval("expected a string argument")),
        }
    };
    let arg_int = |i: usize| -> Result<Option<i64>> {
        let c = arg(i)?;
        match c.singleton()?.map(Item::to_system) {
            None => Ok(None),
            Some(Item::Int(n)) => Ok(Some(n)),
            Some(_) => Err(Error::eval("expected an integer argument")),
        }
    };
    match func {
        Func::Empty => boolean(input.is_empty()),
        Func::Exists if args.is_empty() => boolean(!input.is_empty()),
        Func::Exists => boolean(!filter(ev, input, &args[0], f)?.is_empty()),
        Func::Where => filter(ev, input, &args[0], f),
        Func::All => {
            for (i, item) in input.iter().enumerate() {
                if to_bool(&ev.eval(&args[0], Frame::item(item, i, f.total))?)? != Some(true) {
                    return boolean(false);
                }
            }
            boolean(true)
        }
        Func::AllTrue | Func::AnyTrue | Func::AllFalse | Func::AnyFalse => {
            let mut values = Vec::with_capacity(input.len());
            for item in input.iter() {
                values.push(item.as_bool().ok_or_else(|| Error::eval("expected a collection of booleans"))?);
            }
            boolean(match func {
                Func::AllTrue => values.iter().all(|b| *b),
                Func::AnyTrue => values.iter().any(|b| *b),
                Func::AllFalse => values.iter().all(|b| !*b),
                _ => values.iter().any(|b| !*b),
            })
        }
        Func::SubsetOf => {
            let other = arg(0)?;
            boolean(input.iter().all(|x| contains_item(&other, x)))
        }
        Func::SupersetOf => {
            let other = arg(0)?;
            boolean(other.iter().all(|x| contains_item(&input, x)))
        }
        Func::Count => one(Item::Int(input.len() as i64)),
        Func::Distinct => ev.union(input, Collection::new()),
        Func::IsDistinct => {
            let n = input.len();
            boolean(ev.union(input, Collection::new())?.len() == n)
        }
        Func::Select => {
            let mut out = Collection::new();
            for (i, item) in input.iter().enumerate() {
                for r in ev.eval(&args[0], Frame::item(item, i, f.total))? {
                    ev.produce(&mut out, r)?;
                }
            }
            Ok(out)
        }
        Func::Repeat => repeat(ev, input, |item| ev.eval(&args[0], Frame::item(item, 0, f.total))),
        Func::Single => Ok(input.singleton()?.cloned().map_or_else(Collection::new, Collection::one)),
        Func::First => Ok(input.iter().next().cloned().map_or_else(Collection::new, Collection::one)),
        Func::Last => Ok(input.iter().last().cloned().map_or_else(Collection::new, Collection::one)),
        Func::Tail => Ok(input.into_iter().skip(1).collect()),
        Func::Skip => {
            let n = arg_int(0)?.unwrap_or(0).max(0) as usize;
            Ok(input.into_iter().skip(n).collect())
        }
        Func::Take => {
            let n = arg_int(0)?.unwrap_or(0).max(0) as usize;
            Ok(input.into_iter().take(n).collect())
        }
        Func::Intersect => {
            let other = arg(0)?;
            let common: Collection = input.into_iter().filter(|x| contains_item(&other, x)).collect();
            ev.union(common, Collection::new())
        }
        Func::Exclude => {
            let other = arg(0)?;
            Ok(input.into_iter().filter(|x| !contains_item(&other, x)).collect())
        }
        Func::Union => ev.union(input, arg(0)?),
        Func::Combine => {
            let mut out = input;
            for item in arg(0)? {
                ev.produce(&mut out, item)?;
            }
            Ok(out)
        }
        Func::Iif => {
            if input.len() > 1 {
                return Err(Error::eval("iif() on a collection of several items"));
            }
            let inner = if args.is_empty() { f } else { Frame { this: input.as_slice(), ..f } };
            let criterion = ev.eval(&args[0], inner)?;
            let chosen = match criterion.singleton()? {
                None => false,
                Some(it) => it.as_bool().ok_or_else(|| Error::eval("iif() criterion must be a boolean"))?,
            };
            match (chosen, args.len()) {
                (true, _) => ev.eval(&args[1], inner),
                (false, 3) => ev.eval(&args[2], inner),
                _ => none(),
            }
        }
        Func::Not => Ok(bool_result(to_bool(&input)?.map(|b| !b))),
        Func::ToBoolean | Func::ToInteger | Func::ToDecimal | Func::ToStringFn | Func::ToDate | Func::ToDateTime | Func::ToTime => {
            let Some(item) = input.singleton()? else { return none() };
            Ok(convert(ev, func, item)?.map_or_else(Collection::new, Collection::one))
        }
        Func::ConvertsToBoolean
        | Func::ConvertsToInteger
        | Func::ConvertsToDecimal
        | Func::ConvertsToString
        | Func::ConvertsToDate
        | Func::ConvertsToDateTime
        | Func::ConvertsToTime => {
            let Some(item) = input.singleton()? else { return none() };
            let target = match func {
                Func::ConvertsToBoolean => Func::ToBoolean,
                Func::ConvertsToInteger => Func::ToInteger,
                Func::ConvertsToDecimal => Func::ToDecimal,
                Func::ConvertsToString => Func::ToStringFn,
                Func::ConvertsToDate => Func::ToDate,
                Func::ConvertsToDateTime => Func::ToDateTime,
                _ => Func::ToTime,
            };
            boolean(convert(ev, target, item)?.is_some())
        }
        Func::ToQuantity | Func::ConvertsToQuantity => {
            let Some(item) = input.singleton()? else { return none() };
            let q = to_quantity(item);
            if func == Func::ConvertsToQuantity {
                return boolean(q.is_some());
            }
            Ok(q.map_or_else(Collection::new, |q| Collection::one(Item::Quantity(Rc::new(q)))))
        }
        Func::IndexOf
        | Func::StartsWith
        | Func::EndsWith
        | Func::Contains
        | Func::Split
        | Func::Matches
        | Func::MatchesFull
        | Func::Encode
        | Func::Decode
        | Func::Escape
        | Func::Unescape => {
            let Some(s) = input_str(&input)? else { return none() };
            let Some(a) = arg_str(0)? else { return none() };
            string_function(ev, func, s, &a)
        }
        Func::Upper | Func::Lower | Func::Trim | Func::Length | Func::ToChars => {
            let Some(s) = input_str(&input)? else { return none() };
            match func {
                Func::Upper => one(ev.string(s.to_uppercase())?),
                Func::Lower => one(ev.string(s.to_lowercase())?),
                Func::Trim => one(ev.string(s.trim().to_string())?),
                Func::Length => one(Item::Int(s.chars().count() as i64)),
                _ => {
                    let mut out = Collection::new();
                    for c in s.chars() {
                        ev.produce(&mut out, ev.string(c.to_string())?)?;
                    }
                    Ok(out)
                }
            }
        }
        Func::Substring => {
            let Some(s) = input_str(&input)? else { return none() };
            let Some(start) = arg_int(0)? else { return none() };
            let len = if args.len() > 1 { arg_int(1)? } else { None };
            let count = s.chars().count() as i64;
            if start < 0 || start >= count {
                return none();
            }
            let taken: String = s.chars().skip(start as usize).take(len.unwrap_or(count).max(0) as usize).collect();
            one(ev.string(taken)?)
        }
        Func::Replace | Func::ReplaceMatches => {
            let Some(s) = input_str(&input)? else { return none() };
            let (Some(pattern), Some(with)) = (arg_str(0)?, arg_str(1)?) else { return none() };
            if func == Func::Replace {
                // Refuse before building: the result can be |s| × |with| long.
                if s.len().saturating_mul(with.len() + 1) > crate::eval::MAX_STRING_BYTES * 4 {
                    return Err(Error::budget("string result too large"));
                }
                return one(ev.string(s.replace(&pattern, &with))?);
            }
            if pattern.is_empty() {
                return one(Item::Str(Rc::from(s)));
            }
            let re = text::regex(&pattern, false)?;
            one(ev.string(re.replace_all(s, with.as_str()).into_owned())?)
        }
        Func::Join => {
            let sep = if args.is_empty() { String::new() } else { arg_str(0)?.unwrap_or_default() };
            let mut parts = Vec::with_capacity(input.len());
            for item in input.iter() {
                parts.push(item.as_str().ok_or_else(|| Error::eval("join() needs strings"))?);
            }
            one(ev.string(parts.join(&sep))?)
        }
        Func::Abs
        | Func::Ceiling
        | Func::Floor
        | Func::Truncate
        | Func::Exp
        | Func::Ln
        | Func::Sqrt
        | Func::Round
        | Func::Log
        | Func::Power => {
            let Some(item) = input.singleton()? else { return none() };
            math(func, &item.to_system(), if args.is_empty() { None } else { Some(arg(0)?) })
        }
        Func::Children => {
            let mut out = Collection::new();
            for item in input.iter() {
                children(ev, item, &mut out)?;
            }
            Ok(out)
        }
        Func::Descendants => repeat(ev, input, |item| {
            let mut out = Collection::new();
            children(ev, item, &mut out)?;
            Ok(out)
        }),
        Func::Trace => Ok(input),
        Func::Now => one(Item::Temporal(Temporal::from_unix_millis(unix_millis(), Kind::DateTime))),
        Func::Today => one(Item::Temporal(Temporal::from_unix_millis(unix_millis(), Kind::Date))),
        Func::TimeOfDay => one(Item::Temporal(Temporal::from_unix_millis(unix_millis(), Kind::Time))),
        Func::Aggregate => {
            let mut total = if args.len() > 1 { arg(1)? } else { Collection::new() };
            for (i, item) in input.iter().enumerate() {
                total = ev.eval(&args[0], Frame::item(item, i, Some(&total)))?;
            }
            Ok(total)
        }
        Func::Sort => sort(ev, input, args, f),
        Func::Type => Ok(input
            .iter()
            .map(|it| {
                let (namespace, name) = it.type_name();
                Item::TypeInfo(namespace, name)
            })
            .collect()),
        Func::Extension => {
            let Some(url) = arg_str(0)? else { return none() };
            let mut out = Collection::new();
            for item in input.iter() {
                let mut exts = Collection::new();
                ev.member(item, "extension", &FieldCache::default(), &mut exts)?;
                for e in exts {
                    if let Item::Node(Node { value: Some(v), .. }) = &e {
                        if v.get("url").and_then(Value::as_str) == Some(url.as_str()) {
                            ev.produce(&mut out, e)?;
                        }
                    }
                }
            }
            Ok(out)
        }
        Func::HasValue => {
            boolean(matches!(input.singleton()?, Some(Item::Node(Node { value: Some(v), .. })) if !v.is_object() && !v.is_array()))
        }
        Func::GetValue => Ok(match input.singleton()? {
            Some(it @ Item::Node(Node { value: Some(v), .. })) if !v.is_object() && !v.is_array() => Collection::one(it.to_system()),
            _ => Collection::new(),
        }),
        Func::Resolve => {
            let mut out = Collection::new();
            for item in input.iter() {
                if let Some(r) = resolve(ev, item) {
                    ev.produce(&mut out, r)?;
                }
            }
            Ok(out)
        }
        Func::LowBoundary | Func::HighBoundary => {
            let Some(item) = input.singleton()? else { return none() };
            let digits = if args.is_empty() { None } else { arg_int(0)? };
            Ok(boundary(&item.to_system(), digits, func == Func::HighBoundary).map_or_else(Collection::new, Collection::one))
        }
        Func::Precision => Ok(match input.singleton()?.map(Item::to_system) {
            Some(Item::Dec(d)) => Collection::one(Item::Int(d.scale() as i64)),
            Some(Item::Int(_)) => Collection::one(Item::Int(0)),
            Some(Item::Temporal(t)) => Collection::one(Item::Int(t.precision_digits())),
            _ => Collection::new(),
        }),
        Func::Comparable => {
            let other = arg(0)?;
            match (input.singleton()?.map(Item::to_system), other.singleton()?.map(Item::to_system)) {
                (Some(Item::Quantity(a)), Some(Item::Quantity(b))) => boolean(a.comparable(&b)),
                _ => none(),
            }
        }
        Func::ConformsTo => {
            let Some(url) = arg_str(0)? else { return none() };
            let name = url.strip_prefix("http://hl7.org/fhir/StructureDefinition/").unwrap_or("");
            let Some(target) = model().type_id(name) else { return Err(Error::eval(format!("unknown profile {url}"))) };
            let Some(item) = input.singleton()? else { return none() };
            boolean(matches!(item, Item::Node(n) if model().is_subtype(n.ty, target)))
        }
    }
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn filter<'a>(ev: &Ev<'a, '_>, input: Collection<'a>, criterion: &Expr, f: Frame<'a, '_>) -> Result<Collection<'a>> {
    let mut out = Collection::new();
    for (i, item) in input.iter().enumerate() {
        if to_bool(&ev.eval(criterion, Frame::item(item, i, f.total))?)? == Some(true) {
            out.push(item.clone());
        }
    }
    Ok(out)
}

/// Same item for `repeat`: the same JSON node, or an equal computed value.
fn same(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Node(x), Item::Node(y)) => match (x.value, y.value) {
            (Some(p), Some(q)) => std::ptr::eq(p, q),
            _ => x.ext().zip(y.ext()).is_some_and(|(p, q)| std::ptr::eq(p, q)),
        },
        _ => equals(a, b) == Some(true),
    }
}

/// Applies `step` to the input, then to every new result, until nothing new appears.
fn repeat<'a>(ev: &Ev<'a, '_>, input: Collection<'a>, step: impl Fn(&Item<'a>) -> Result<Collection<'a>>) -> Result<Collection<'a>> {
    let mut out: Vec<Item<'a>> = Vec::new();
    let mut queue: Vec<Item<'a>> = input.into_iter().collect();
    while let Some(item) = queue.pop() {
        for r in step(&item)? {
            ev.tick(1 + out.len() as u64 / 64)?;
            if !out.iter().any(|o| same(o, &r)) {
                out.push(r.clone());
                queue.insert(0, r);
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn children<'a>(ev: &Ev<'a, '_>, item: &Item<'a>, out: &mut Collection<'a>) -> Result<()> {
    let Item::Node(Node { value: Some(Value::Object(obj)), ty, .. }) = item else { return Ok(()) };
    for key in obj.keys() {
        let field = key.strip_prefix('_').unwrap_or(key);
        if key == "resourceType" || (field.len() < key.len() && obj.contains_key(field)) {
            continue;
        }
        let t = match model().field(*ty, field) {
            Some(crate::model::Field::Type(t)) => t,
            _ => UNKNOWN,
        };
        ev.push_field(obj, field, t, out)?;
    }
    Ok(())
}

fn sort<'a>(ev: &Ev<'a, '_>, input: Collection<'a>, args: &[Expr], f: Frame<'a, '_>) -> Result<Collection<'a>> {
    // A leading unary minus on a sort key means descending order, for any type.
    let keys: Vec<(&Expr, bool)> = args
        .iter()
        .map(|a| match a {
            Expr::Negate(inner) => (inner.as_ref(), true),
            other => (other, false),
        })
        .collect();
    let mut rows = Vec::with_capacity(input.len());
    for (i, item) in input.into_iter().enumerate() {
        let mut values = Vec::with_capacity(keys.len().max(1));
        if keys.is_empty() {
            values.push(Collection::one(item.clone()));
        }
        for (k, _) in &keys {
            values.push(ev.eval(k, Frame::item(&item, i, f.total))?);
        }
        ev.tick(1)?;
        rows.push((values, item));
    }
    let mut failure = None;
    rows.sort_by(|(a, _), (b, _)| {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let desc = keys.get(i).is_some_and(|k| k.1);
            // Empty keys sort first in either direction.
            let o = match (x.iter().next(), y.iter().next()) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(p), Some(q)) => compare(p, q)
                    .unwrap_or_else(|e| {
                        failure = Some(e);
                        None
                    })
                    .unwrap_or(Ordering::Equal),
            };
            if o != Ordering::Equal {
                return if desc { o.reverse() } else { o };
            }
        }
        Ordering::Equal
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(rows.into_iter().map(|(_, item)| item).collect()),
    }
}

/// `resolve()`: `#id` finds a contained resource, `Type/id` an entry of the root
/// Bundle; a reference that is not found still resolves to a stub of its type,
/// so that `resolve() is Patient` works on plain references.
fn resolve<'a>(ev: &Ev<'a, '_>, item: &Item<'a>) -> Option<Item<'a>> {
    let reference: &'a str = match item {
        Item::Node(Node { value: Some(Value::Object(o)), .. }) => o.get("reference")?.as_str()?,
        Item::Node(Node { value: Some(Value::String(s)), .. }) => s,
        _ => return None,
    };
    let root = ev.root.value?;
    if let Some(id) = reference.strip_prefix('#') {
        let contained = root.get("contained")?.as_array()?;
        let found = contained.iter().find(|r| r.get("id").and_then(Value::as_str) == Some(id))?;
        return Some(Item::Node(Node::root(found)));
    }
    let path = reference.split("/_history/").next().unwrap_or(reference);
    let mut parts = path.rsplit('/');
    let (id, type_name) = (parts.next()?, parts.next()?);
    if let Some(entries) = root.get("entry").and_then(Value::as_array) {
        for entry in entries {
            let Some(resource) = entry.get("resource") else { continue };
            let full_url = entry.get("fullUrl").and_then(Value::as_str);
            let matches_type = resource.get("resourceType").and_then(Value::as_str) == Some(type_name)
                && resource.get("id").and_then(Value::as_str) == Some(id);
            if full_url == Some(reference) || matches_type {
                return Some(Item::Node(Node::root(resource)));
            }
        }
    }
    let ty = model().type_id(type_name).filter(|t| model().is_resource(*t))?;
    Some(Item::Node(Node { value: None, ext: Ext::None, ty }))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "0.0" => Some(false),
        _ => None,
    }
}

/// The `toX()` conversions; `None` where the value does not convert.
fn convert<'a>(ev: &Ev<'a, '_>, func: Func, item: &Item<'a>) -> Result<Option<Item<'a>>> {
    let v = item.to_system();
    Ok(match func {
        Func::ToBoolean => match &v {
            Item::Bool(b) => Some(Item::Bool(*b)),
            Item::Int(1) => Some(Item::Bool(true)),
            Item::Int(0) => Some(Item::Bool(false)),
            Item::Dec(d) if d.cmp_num(Decimal::from_i64(1)) == Ordering::Equal => Some(Item::Bool(true)),
            Item::Dec(d) if d.is_zero() => Some(Item::Bool(false)),
            Item::Str(s) => parse_bool(s).map(Item::Bool),
            _ => None,
        },
        Func::ToInteger => match &v {
            Item::Int(i) => Some(Item::Int(*i)),
            Item::Bool(b) => Some(Item::Int(*b as i64)),
            Item::Str(s) if s.trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit()) => s.parse().ok().map(Item::Int),
            _ => None,
        },
        Func::ToDecimal => match &v {
            Item::Int(i) => Some(Item::Dec(Decimal::from_i64(*i))),
            Item::Dec(d) => Some(Item::Dec(*d)),
            Item::Bool(b) => Some(Item::Dec(Decimal::from_i64(*b as i64))),
            Item::Str(s) => Decimal::parse(s).map(Item::Dec),
            _ => None,
        },
        Func::ToStringFn => match &v {
            Item::Str(_) => Some(v.clone()),
            Item::Bool(b) => Some(Item::Str(Rc::from(b.to_string()))),
            Item::Int(i) => Some(Item::Str(Rc::from(i.to_string()))),
            Item::Dec(d) => Some(Item::Str(Rc::from(d.to_string()))),
            Item::Temporal(t) => Some(Item::Str(Rc::from(t.to_string()))),
            Item::Quantity(q) => Some(ev.string(q.to_string())?),
            _ => None,
        },
        Func::ToDate | Func::ToDateTime | Func::ToTime => {
            let kind = match func {
                Func::ToDate => Kind::Date,
                Func::ToDateTime => Kind::DateTime,
                _ => Kind::Time,
            };
            match &v {
                Item::Temporal(t) if t.kind == kind || (kind == Kind::DateTime && t.kind == Kind::Date) => Some(v.clone()),
                Item::Str(s) => Temporal::parse_fhir(s, kind).map(Item::Temporal),
                _ => None,
            }
        }
        _ => None,
    })
}

/// `toQuantity()`: numbers get unit '1'; strings read as `number ['unit' | calendar word]`.
fn to_quantity(item: &Item) -> Option<Quantity> {
    match item.to_system() {
        Item::Quantity(q) => Some((*q).clone()),
        Item::Int(i) => Some(Quantity::new(Decimal::from_i64(i), "1")),
        Item::Dec(d) => Some(Quantity::new(d, "1")),
        Item::Bool(b) => Some(Quantity::new(Decimal::from_i64(b as i64), "1")),
        Item::Str(s) => {
            let s = s.trim();
            let (number, unit) = s.split_once(' ').unwrap_or((s, ""));
            let value = Decimal::parse(number)?;
            let unit = unit.trim();
            let unit = if unit.is_empty() {
                "1"
            } else if let Some(quoted) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
                quoted
            } else if is_calendar_keyword(unit) {
                unit
            } else {
                return None;
            };
            Some(Quantity::new(value, unit))
        }
        _ => None,
    }
}

fn string_function<'a>(ev: &Ev<'a, '_>, func: Func, s: &str, a: &str) -> Result<Collection<'a>> {
    match func {
        Func::IndexOf => one(Item::Int(s.find(a).map_or(-1, |b| s[..b].chars().count() as i64))),
        Func::StartsWith => boolean(s.starts_with(a)),
        Func::EndsWith => boolean(s.ends_with(a)),
        Func::Contains => boolean(s.contains(a)),
        Func::Matches => boolean(text::regex(a, false)?.is_match(s)),
        Func::MatchesFull => boolean(text::regex(a, true)?.is_match(s)),
        Func::Split => {
            let mut out = Collection::new();
            for part in s.split(a) {
                ev.produce(&mut out, ev.string(part.to_string())?)?;
            }
            Ok(out)
        }
        _ => match text::transcode(func, s, a) {
            Some(r) => one(ev.string(r)?),
            None => none(),
        },
    }
}

fn math<'a>(func: Func, v: &Item<'a>, arg: Option<Collection<'a>>) -> Result<Collection<'a>> {
    if let (Func::Abs, Item::Quantity(q)) = (func, v) {
        return one(Item::Quantity(Rc::new(Quantity { value: q.value.abs(), unit: q.unit.clone() })));
    }
    let Some(d) = as_decimal(v) else { return Err(Error::eval("math functions need a number")) };
    let is_int = matches!(v, Item::Int(_));
    let arg = match arg {
        Some(c) => match c.singleton()?.map(Item::to_system) {
            None => return none(),
            Some(a) => Some(as_decimal(&a).ok_or_else(|| Error::eval("expected a numeric argument"))?),
        },
        None => None,
    };
    let int = |d: Decimal| d.integral().map(Item::Int).ok_or_else(|| Error::eval("integer overflow"));
    let float = |x: f64| Ok(Decimal::from_f64(x).map_or_else(Collection::new, |d| Collection::one(Item::Dec(d))));
    match func {
        Func::Abs if is_int => one(Item::Int(d.integral().unwrap_or(0).checked_abs().ok_or_else(|| Error::eval("integer overflow"))?)),
        Func::Abs => one(Item::Dec(d.abs())),
        Func::Ceiling => one(int(d.ceil_to(0))?),
        Func::Floor => one(int(d.floor_to(0))?),
        Func::Truncate => one(int(d.truncate_to(0))?),
        Func::Round => {
            let places = arg.and_then(Decimal::integral).unwrap_or(0);
            if !(0..=28).contains(&places) {
                return Err(Error::eval("round() precision must be between 0 and 28"));
            }
            one(Item::Dec(d.round(places as u32)))
        }
        Func::Exp => float(d.to_f64().exp()),
        Func::Ln => float(d.to_f64().ln()),
        Func::Sqrt => float(d.to_f64().sqrt()),
        Func::Log => float(d.to_f64().ln() / arg.map_or(f64::NAN, Decimal::to_f64).ln()),
        _ => {
            let Some(exp) = arg else { return none() };
            if let (true, Some(e)) = (is_int, exp.to_i64_exact().filter(|e| (0..=u32::MAX as i64).contains(e))) {
                return Ok(d
                    .integral()
                    .and_then(|b| b.checked_pow(e as u32))
                    .map_or_else(Collection::new, |p| Collection::one(Item::Int(p))));
            }
            float(d.to_f64().powf(exp.to_f64()))
        }
    }
}

/// `lowBoundary()` / `highBoundary()`: the range a value of limited precision may stand for.
fn boundary<'a>(v: &Item<'a>, digits: Option<i64>, high: bool) -> Option<Item<'a>> {
    match v {
        Item::Int(_) | Item::Dec(_) => {
            let d = as_decimal(v)?;
            let digits = digits.unwrap_or(8);
            if !(0..=28).contains(&digits) {
                return None;
            }
            let half = d.half_ulp();
            let edge = if high { d.add(half)? } else { d.sub(half)? };
            let digits = digits as u32;
            // Values within one unit of the requested precision from zero have
            // zero as both bounds (the suite's `0.0034.highBoundary(1)` is 0.0).
            let r = if digits < d.scale() && d.truncate_to(digits).is_zero() {
                Decimal::from_i64(0).round(digits)
            } else if high {
                edge.ceil_to(digits)
            } else {
                edge.floor_to(digits)
            };
            Some(Item::Dec(r))
        }
        Item::Temporal(t) => t.boundary(digits.unwrap_or(17), high).map(Item::Temporal),
        Item::Quantity(q) => match boundary(&Item::Dec(q.value), digits, high)? {
            Item::Dec(d) => Some(Item::Quantity(Rc::new(Quantity { value: d, unit: q.unit.clone() }))),
            _ => None,
        },
        _ => None,
    }
}
