//! Values: borrowed JSON nodes and computed system values, the collections they
//! live in, conversion to JSON, and FHIRPath equality, equivalence and ordering.

use crate::ast::SystemType;
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::model::{model, TypeId, UNKNOWN};
use crate::quantity::Quantity;
use crate::temporal::{Kind, Temporal};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::rc::Rc;

/// A node of the input document, borrowed. A FHIR primitive may have its value,
/// its `_name` extension object, or both.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    pub(crate) value: Option<&'a Value>,
    pub(crate) ext: Ext<'a>,
    pub(crate) ty: TypeId,
}

/// Where a node's `_name` extension object is. Looked up only on demand:
/// most navigation never needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ext<'a> {
    None,
    Known(&'a Value),
    /// In `parent["_" + key]`, at `index` when the element repeats.
    Sibling {
        parent: &'a Map<String, Value>,
        key: &'a str,
        index: Option<u32>,
    },
}

/// Runs `f` with `"_" + key` (a primitive's extension key) without allocating.
pub(crate) fn with_underscore<R>(key: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if key.len() < buf.len() {
        buf[0] = b'_';
        buf[1..=key.len()].copy_from_slice(key.as_bytes());
        f(std::str::from_utf8(&buf[..=key.len()]).unwrap_or_default())
    } else {
        f(&format!("_{key}"))
    }
}

#[derive(Clone, Debug)]
pub enum Item<'a> {
    Node(Node<'a>),
    Bool(bool),
    Int(i64),
    Dec(Decimal),
    Str(Rc<str>),
    Temporal(Temporal),
    Quantity(Rc<Quantity>),
    /// The result of `type()`: namespace and name.
    TypeInfo(&'static str, &'static str),
}

impl<'a> Node<'a> {
    /// A resource or other object, typed from its `resourceType` if it has one.
    pub fn root(value: &'a Value) -> Node<'a> {
        Node { value: Some(value), ext: Ext::None, ty: resource_type(value).unwrap_or(UNKNOWN) }
    }

    /// The JSON value; `None` for a primitive that only has extensions, or for
    /// the stand-in `resolve()` returns for a reference it cannot find.
    pub fn value(&self) -> Option<&'a Value> {
        self.value
    }

    /// A primitive's `_name` object (its `id` and `extension`).
    pub(crate) fn ext(&self) -> Option<&'a Value> {
        match self.ext {
            Ext::None => None,
            Ext::Known(v) => Some(v),
            Ext::Sibling { parent, key, index } => {
                let e = with_underscore(key, |k| parent.get(k))?;
                match index {
                    Some(i) => e.as_array()?.get(i as usize),
                    None => Some(e),
                }
                .filter(|e| !e.is_null())
            }
        }
    }
}

/// The model type named by a JSON object's `resourceType`.
pub fn resource_type(value: &Value) -> Option<TypeId> {
    model().type_id(value.get("resourceType")?.as_str()?)
}

impl<'a> Item<'a> {
    /// The system value of a primitive node (a `code` becomes a String, a
    /// `Quantity` a quantity); other items are returned unchanged.
    pub fn to_system(&self) -> Item<'a> {
        let Item::Node(n) = self else { return self.clone() };
        let Some(v) = n.value else { return self.clone() };
        let m = model();
        if m.is_complex(n.ty) {
            return self.clone();
        }
        let converted = match (m.primitive(n.ty), v) {
            (_, Value::Bool(b)) => Some(Item::Bool(*b)),
            (Some(SystemType::Decimal), Value::Number(num)) => Decimal::parse(&num.to_string()).map(Item::Dec),
            (_, Value::Number(num)) => match num.as_i64() {
                Some(i) => Some(Item::Int(i)),
                None => Decimal::parse(&num.to_string()).map(Item::Dec),
            },
            (Some(SystemType::Date), Value::String(s)) => Temporal::parse_fhir(s, Kind::Date).map(Item::Temporal),
            (Some(SystemType::DateTime), Value::String(s)) => Temporal::parse_fhir(s, Kind::DateTime).map(Item::Temporal),
            (Some(SystemType::Time), Value::String(s)) => Temporal::parse_fhir(s, Kind::Time).map(Item::Temporal),
            (_, Value::String(s)) => Some(Item::Str(Rc::from(s.as_str()))),
            (Some(SystemType::Quantity), Value::Object(_)) => quantity_of(v).map(|q| Item::Quantity(Rc::new(q))),
            _ => None,
        };
        converted.unwrap_or_else(|| self.clone())
    }

    /// The string value, without allocating for borrowed strings.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Item::Str(s) => Some(s),
            Item::Node(Node { value: Some(Value::String(s)), ty, .. }) if !model().is_complex(*ty) => Some(s),
            _ => None,
        }
    }

    /// A string that is only a string (not a date/time in FHIR text form),
    /// so it can be compared without conversion.
    fn plain_str(&self) -> Option<&str> {
        match self {
            Item::Str(s) => Some(s),
            Item::Node(Node { value: Some(Value::String(s)), ty, .. })
                if matches!(model().primitive(*ty), None | Some(SystemType::String)) && !model().is_complex(*ty) =>
            {
                Some(s)
            }
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Item::Bool(b) => Some(*b),
            Item::Node(Node { value: Some(Value::Bool(b)), .. }) => Some(*b),
            _ => None,
        }
    }

    /// The system type this item has (after primitive conversion), if any.
    pub fn system_type(&self) -> Option<SystemType> {
        Some(match self.to_system() {
            Item::Bool(_) => SystemType::Boolean,
            Item::Int(_) => SystemType::Integer,
            Item::Dec(_) => SystemType::Decimal,
            Item::Str(_) => SystemType::String,
            Item::Temporal(t) => match t.kind {
                Kind::Date => SystemType::Date,
                Kind::DateTime => SystemType::DateTime,
                Kind::Time => SystemType::Time,
            },
            Item::Quantity(_) => SystemType::Quantity,
            Item::Node(_) | Item::TypeInfo(..) => return None,
        })
    }

    /// The FHIRPath type as (namespace, name): `("FHIR", "code")`, `("System", "Integer")`.
    /// Backbone elements report `BackboneElement`; untyped JSON reports its system type.
    pub fn type_name(&self) -> (&'static str, &'static str) {
        match self {
            Item::Node(n) if n.ty != UNKNOWN => match model().name(n.ty) {
                name if name.starts_with("System.") => ("System", &name[7..]),
                name if name.contains('.') => ("FHIR", "BackboneElement"),
                name => ("FHIR", name),
            },
            other => ("System", other.system_type().map_or("Any", |t| t.name())),
        }
    }

    /// JSON for output: borrowed nodes as they are, computed values as FHIR JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Item::Node(Node { value: Some(v), .. }) => (*v).clone(),
            Item::Node(Node { value: None, ty, .. }) if model().is_resource(*ty) => json!({ "resourceType": model().name(*ty) }),
            Item::Node(_) => Value::Null,
            Item::Bool(b) => Value::Bool(*b),
            Item::Int(i) => json!(i),
            Item::Dec(d) => decimal_json(*d),
            Item::Str(s) => Value::String(s.to_string()),
            Item::Temporal(t) => Value::String(t.to_string()),
            Item::Quantity(q) => json!({ "value": decimal_json(q.value), "unit": q.unit.as_ref() }),
            Item::TypeInfo(ns, name) => json!({ "namespace": ns, "name": name }),
        }
    }
}

/// A decimal as a JSON number, written from its decimal text so that with
/// serde_json's `arbitrary_precision` the scale survives ("1.50").
fn decimal_json(d: Decimal) -> Value {
    serde_json::from_str(&d.to_string()).unwrap_or_else(|_| serde_json::Number::from_f64(d.to_f64()).map_or(Value::Null, Value::Number))
}

/// A FHIR Quantity object as a quantity: the UCUM code when there is one, else the unit text.
fn quantity_of(v: &Value) -> Option<Quantity> {
    let value = Decimal::parse(&v.get("value")?.as_number()?.to_string())?;
    let code = v.get("code").and_then(Value::as_str);
    let unit = v.get("unit").and_then(Value::as_str);
    Some(Quantity::new(value, code.or(unit).unwrap_or("1")))
}

/// An ordered collection. Empty and single-item collections do not allocate.
#[derive(Clone, Debug, Default)]
pub struct Collection<'a> {
    repr: Repr<'a>,
}

#[derive(Clone, Debug, Default)]
enum Repr<'a> {
    #[default]
    Empty,
    One(Item<'a>),
    Many(Vec<Item<'a>>),
}

impl<'a> Collection<'a> {
    pub fn new() -> Collection<'a> {
        Collection { repr: Repr::Empty }
    }

    pub fn one(item: Item<'a>) -> Collection<'a> {
        Collection { repr: Repr::One(item) }
    }

    pub fn from_slice(items: &[Item<'a>]) -> Collection<'a> {
        match items {
            [] => Collection::new(),
            [one] => Collection::one(one.clone()),
            many => Collection { repr: Repr::Many(many.to_vec()) },
        }
    }

    pub fn push(&mut self, item: Item<'a>) {
        self.repr = match std::mem::take(&mut self.repr) {
            Repr::Empty => Repr::One(item),
            Repr::One(first) => Repr::Many(vec![first, item]),
            Repr::Many(mut v) => {
                v.push(item);
                Repr::Many(v)
            }
        };
    }

    pub fn as_slice(&self) -> &[Item<'a>] {
        match &self.repr {
            Repr::Empty => &[],
            Repr::One(item) => std::slice::from_ref(item),
            Repr::Many(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Item<'a>> {
        self.as_slice().iter()
    }

    /// The single item; `None` when empty; an error when there are several.
    pub fn singleton(&self) -> Result<Option<&Item<'a>>> {
        match self.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(Error::eval("expected a single item but the collection has several")),
        }
    }

    /// Exactly one boolean `true`: the pass condition of a write constraint.
    pub fn is_single_true(&self) -> bool {
        matches!(self.as_slice(), [item] if item.as_bool() == Some(true))
    }

    /// The results as a JSON array.
    pub fn to_json(&self) -> Value {
        Value::Array(self.iter().map(Item::to_json).collect())
    }
}

impl<'a> FromIterator<Item<'a>> for Collection<'a> {
    fn from_iter<I: IntoIterator<Item = Item<'a>>>(iter: I) -> Self {
        let mut c = Collection::new();
        for item in iter {
            c.push(item);
        }
        c
    }
}

impl<'a> IntoIterator for Collection<'a> {
    type Item = Item<'a>;
    type IntoIter = std::vec::IntoIter<Item<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        match self.repr {
            Repr::Empty => Vec::new().into_iter(),
            Repr::One(item) => vec![item].into_iter(),
            Repr::Many(v) => v.into_iter(),
        }
    }
}

/// A string compared with a date/time literal is read as one of the same kind.
fn as_temporal(item: &Item, like: &Temporal) -> Option<Temporal> {
    match item {
        Item::Temporal(t) => Some(*t),
        Item::Str(s) => Temporal::parse_fhir(s, like.kind),
        _ => None,
    }
}

/// Numbers as decimals, for mixed integer/decimal arithmetic and comparison.
pub fn as_decimal(item: &Item) -> Option<Decimal> {
    match item {
        Item::Int(i) => Some(Decimal::from_i64(*i)),
        Item::Dec(d) => Some(*d),
        _ => None,
    }
}

/// `=` on two items: `None` when the answer is unknown (differing date precision,
/// incomparable units).
pub fn equals(a: &Item, b: &Item) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.plain_str(), b.plain_str()) {
        return Some(x == y);
    }
    let (a, b) = (a.to_system(), b.to_system());
    match (&a, &b) {
        (Item::Bool(x), Item::Bool(y)) => Some(x == y),
        (Item::Int(x), Item::Int(y)) => Some(x == y),
        (Item::Str(x), Item::Str(y)) => Some(x == y),
        (Item::Quantity(x), Item::Quantity(y)) => x.compare(y).map(|o| o == Ordering::Equal),
        (Item::Node(x), Item::Node(y)) => Some(x.value == y.value),
        (Item::TypeInfo(n1, t1), Item::TypeInfo(n2, t2)) => Some(n1 == n2 && t1 == t2),
        _ => {
            if let (Some(x), Some(y)) = (as_decimal(&a), as_decimal(&b)) {
                return Some(x.cmp_num(y) == Ordering::Equal);
            }
            match temporal_pair(&a, &b) {
                Some((x, y)) if x.comparable_kinds(&y) => x.compare(&y).map(|o| o == Ordering::Equal),
                _ => Some(false),
            }
        }
    }
}

fn temporal_pair(a: &Item, b: &Item) -> Option<(Temporal, Temporal)> {
    match (a, b) {
        (Item::Temporal(x), other) => Some((*x, as_temporal(other, x)?)),
        (other, Item::Temporal(y)) => Some((as_temporal(other, y)?, *y)),
        _ => None,
    }
}

/// Whitespace-normalised, case-insensitive text for string equivalence.
fn normalized(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// `~` on two items.
pub fn equivalent(a: &Item, b: &Item) -> bool {
    let (a, b) = (a.to_system(), b.to_system());
    match (&a, &b) {
        (Item::Str(x), Item::Str(y)) => normalized(x) == normalized(y),
        (Item::Quantity(x), Item::Quantity(y)) => x.equivalent(y),
        _ => {
            if let (Some(x), Some(y)) = (as_decimal(&a), as_decimal(&b)) {
                return x.equivalent(y);
            }
            match temporal_pair(&a, &b) {
                Some((x, y)) => x.comparable_kinds(&y) && x.compare(&y) == Some(Ordering::Equal),
                None => equals(&a, &b) == Some(true),
            }
        }
    }
}

/// Ordering for `<`, `>` etc.: `Ok(None)` when uncertain, an error for values
/// that cannot be ordered against each other.
pub fn compare(a: &Item, b: &Item) -> Result<Option<Ordering>> {
    let (a, b) = (a.to_system(), b.to_system());
    if let (Some(x), Some(y)) = (as_decimal(&a), as_decimal(&b)) {
        return Ok(Some(x.cmp_num(y)));
    }
    match (&a, &b) {
        (Item::Str(x), Item::Str(y)) => Ok(Some(x.as_ref().cmp(y.as_ref()))),
        (Item::Quantity(x), Item::Quantity(y)) => Ok(x.compare(y)),
        _ => match temporal_pair(&a, &b) {
            Some((x, y)) if x.comparable_kinds(&y) => Ok(x.compare(&y)),
            _ => Err(Error::eval("cannot compare values of these types")),
        },
    }
}
