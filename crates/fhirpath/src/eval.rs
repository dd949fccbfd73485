//! The tree-walking evaluator: navigation over borrowed JSON, operators with
//! FHIRPath's empty-propagation and three-valued logic, and the step budget.

use crate::ast::{BinOp, Expr, TypeOp, TypeSpec};
use crate::decimal::Decimal;
use crate::error::{Error, Result};
use crate::functions;
use crate::model::{model, Field, FieldCache, TypeId, UNKNOWN};
use crate::quantity::Quantity;
use crate::temporal::CalendarUnit;
use crate::value::{as_decimal, compare, equals, equivalent, resource_type, with_underscore, Collection, Ext, Item, Node};
use crate::Environment;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::cmp::Ordering;
use std::rc::Rc;

/// Longest string an expression may build (concatenation, replace, join...).
pub const MAX_STRING_BYTES: usize = 1 << 20;

pub struct Evaluator<'a, 'e> {
    pub env: &'e Environment<'a>,
    pub root: Node<'a>,
    steps_left: Cell<u64>,
}

/// What `$this`, `$index` and `$total` mean at a point of the expression.
#[derive(Clone, Copy)]
pub struct Frame<'a, 'f> {
    pub this: &'f [Item<'a>],
    pub index: Option<usize>,
    pub total: Option<&'f Collection<'a>>,
}

impl<'a, 'f> Frame<'a, 'f> {
    /// The frame for evaluating a lambda argument on one item.
    pub fn item(this: &'f Item<'a>, index: usize, total: Option<&'f Collection<'a>>) -> Frame<'a, 'f> {
        Frame { this: std::slice::from_ref(this), index: Some(index), total }
    }
}

fn truthy(item: &Item) -> bool {
    item.as_bool().unwrap_or(true)
}

/// Boolean reading of a collection: empty is unknown, a single non-boolean is true.
pub fn to_bool(c: &Collection) -> Result<Option<bool>> {
    match c.singleton() {
        Ok(item) => Ok(item.map(truthy)),
        Err(_) => Err(Error::eval("expected a single boolean but the collection has several items")),
    }
}

pub fn bool_result<'a>(b: Option<bool>) -> Collection<'a> {
    b.map_or_else(Collection::new, |b| Collection::one(Item::Bool(b)))
}

/// The type a choice key's suffix names (`valueQuantity` → Quantity, `valueString` → string).
fn suffix_type(suffix: &str) -> Option<TypeId> {
    let m = model();
    m.type_id(suffix).or_else(|| {
        let mut lower = suffix.to_string();
        lower[..1].make_ascii_lowercase();
        m.type_id(&lower)
    })
}

impl<'a, 'e> Evaluator<'a, 'e> {
    pub fn new(env: &'e Environment<'a>, root: Node<'a>) -> Self {
        Evaluator { env, root, steps_left: Cell::new(env.step_budget) }
    }

    /// Counts `n` steps against the budget.
    pub fn tick(&self, n: u64) -> Result<()> {
        let left = self.steps_left.get();
        if left < n {
            return Err(Error::budget("step budget exhausted"));
        }
        self.steps_left.set(left - n);
        Ok(())
    }

    pub fn produce(&self, out: &mut Collection<'a>, item: Item<'a>) -> Result<()> {
        self.tick(1)?;
        out.push(item);
        Ok(())
    }

    /// A computed string, refused beyond the size cap.
    pub fn string(&self, s: String) -> Result<Item<'a>> {
        if s.len() > MAX_STRING_BYTES {
            return Err(Error::budget("string result too large"));
        }
        self.tick(1 + s.len() as u64 / 1024)?;
        Ok(Item::Str(Rc::from(s)))
    }

    pub fn eval(&self, e: &Expr, f: Frame<'a, '_>) -> Result<Collection<'a>> {
        self.tick(1)?;
        match e {
            Expr::Literal(item) => Ok(Collection::one(item.clone())),
            Expr::EmptySet => Ok(Collection::new()),
            Expr::This => Ok(Collection::from_slice(f.this)),
            Expr::Index => Ok(f.index.map_or_else(Collection::new, |i| Collection::one(Item::Int(i as i64)))),
            Expr::Total => Ok(f.total.cloned().unwrap_or_default()),
            Expr::Variable(name) => self.variable(name),
            Expr::Ident(name, cache) => self.ident(name, cache, f.this),
            Expr::Member(target, name, cache) => {
                let input = self.eval(target, f)?;
                let mut out = Collection::new();
                for item in input.iter() {
                    self.member(item, name, cache, &mut out)?;
                }
                Ok(out)
            }
            Expr::Call(target, func, args) => {
                let input = match target {
                    Some(t) => self.eval(t, f)?,
                    None => Collection::from_slice(f.this),
                };
                functions::call(self, *func, input, args, f)
            }
            Expr::TypeTest(target, op, spec) => {
                let input = match target {
                    Some(t) => self.eval(t, f)?,
                    None => Collection::from_slice(f.this),
                };
                self.type_test(input, *op, spec)
            }
            Expr::Indexer(target, index) => {
                let input = self.eval(target, f)?;
                let index = self.eval(index, f)?;
                match index.singleton()?.map(Item::to_system) {
                    None => Ok(Collection::new()),
                    Some(Item::Int(i)) => Ok(usize::try_from(i)
                        .ok()
                        .and_then(|i| input.as_slice().get(i))
                        .map_or_else(Collection::new, |it| Collection::one(it.clone()))),
                    Some(_) => Err(Error::eval("an index must be an integer")),
                }
            }
            Expr::Negate(inner) => {
                let v = self.eval(inner, f)?;
                let Some(item) = v.singleton()? else { return Ok(Collection::new()) };
                Ok(Collection::one(match item.to_system() {
                    Item::Int(i) => Item::Int(i.checked_neg().ok_or_else(|| Error::eval("integer overflow"))?),
                    Item::Dec(d) => Item::Dec(d.neg()),
                    Item::Quantity(q) => Item::Quantity(Rc::new(Quantity { value: q.value.neg(), unit: q.unit.clone() })),
                    _ => return Err(Error::eval("unary minus needs a number or quantity")),
                }))
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r, f),
        }
    }

    fn variable(&self, name: &str) -> Result<Collection<'a>> {
        if let Some(c) = self.env.variable(name) {
            return Ok(c.clone());
        }
        let constant = |s: &str| Ok(Collection::one(Item::Str(Rc::from(s))));
        match name {
            "resource" | "rootResource" | "context" => Ok(Collection::one(Item::Node(self.root))),
            "ucum" => constant("http://unitsofmeasure.org"),
            "sct" => constant("http://snomed.info/sct"),
            "loinc" => constant("http://loinc.org"),
            _ => {
                if let Some(vs) = name.strip_prefix("vs-") {
                    return constant(&format!("http://hl7.org/fhir/ValueSet/{vs}"));
                }
                if let Some(ext) = name.strip_prefix("ext-") {
                    return constant(&format!("http://hl7.org/fhir/StructureDefinition/{ext}"));
                }
                Err(Error::eval(format!("undefined variable %{name}")))
            }
        }
    }

    /// A path's first identifier: a type name (`Patient.name`) selects the items of
    /// that type; anything else is a member of `$this`.
    fn ident(&self, name: &str, cache: &FieldCache, this: &[Item<'a>]) -> Result<Collection<'a>> {
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            // Types outside the R4 model (Medplum's Project, ProjectMembership…)
            // are recognised by the resource's own `resourceType`.
            let matching: Collection = match model().type_id(name) {
                Some(t) => this.iter().filter(|it| matches!(it, Item::Node(n) if model().is_subtype(n.ty, t))).cloned().collect(),
                None => this
                    .iter()
                    .filter(|it| matches!(it, Item::Node(n) if n.value.and_then(|v| v.get("resourceType")) == Some(&Value::from(name))))
                    .cloned()
                    .collect(),
            };
            if !matching.is_empty() {
                return Ok(matching);
            }
        }
        let mut out = Collection::new();
        for item in this {
            self.member(item, name, cache, &mut out)?;
        }
        Ok(out)
    }

    /// Appends the children named `name` of `item` to `out`.
    pub fn member(&self, item: &Item<'a>, name: &str, cache: &FieldCache, out: &mut Collection<'a>) -> Result<()> {
        let node = match item {
            Item::Node(n) => n,
            Item::TypeInfo(ns, n) => {
                match name {
                    "namespace" => out.push(Item::Str(Rc::from(*ns))),
                    "name" => out.push(Item::Str(Rc::from(*n))),
                    _ => {}
                }
                return Ok(());
            }
            _ => return Ok(()),
        };
        // A primitive's `id` and `extension` live in its `_name` object.
        let obj = match (node.value, node.ext()) {
            (Some(Value::Object(m)), _) | (_, Some(Value::Object(m))) => m,
            _ => return Ok(()),
        };
        match cache.field(node.ty, name) {
            Some(Field::Type(t)) => self.push_field(obj, name, t, out),
            Some(Field::Choice) => self.push_choice(node.ty, obj, name, out),
            None if obj.contains_key(name) => self.push_field(obj, name, UNKNOWN, out),
            None if node.ty == UNKNOWN => self.push_choice(node.ty, obj, name, out),
            None => Ok(()),
        }
    }

    /// Appends the value(s) under `key`; primitives remember where their `_key`
    /// extensions would be.
    pub fn push_field(&self, obj: &'a Map<String, Value>, key: &str, ty: TypeId, out: &mut Collection<'a>) -> Result<()> {
        let refine = |v: &'a Value| if model().is_abstract_resource(ty) { resource_type(v).unwrap_or(ty) } else { ty };
        let node = |v: &'a Value, k: &'a str, index: Option<u32>| {
            let ext = if v.is_object() { Ext::None } else { Ext::Sibling { parent: obj, key: k, index } };
            Item::Node(Node { value: Some(v), ext, ty: refine(v) })
        };
        let extension_only = |e: &'a Value| Item::Node(Node { value: None, ext: Ext::Known(e), ty });
        match obj.get_key_value(key) {
            Some((k, Value::Array(values))) => {
                for (i, v) in values.iter().enumerate() {
                    if !v.is_null() {
                        self.produce(out, node(v, k, Some(i as u32)))?;
                    } else if let Some(e) =
                        (Node { value: None, ext: Ext::Sibling { parent: obj, key: k, index: Some(i as u32) }, ty }).ext()
                    {
                        self.produce(out, extension_only(e))?;
                    }
                }
            }
            Some((k, v)) if !v.is_null() => self.produce(out, node(v, k, None))?,
            // No value: a primitive may still have an id or extensions.
            _ => match with_underscore(key, |k| obj.get(k)) {
                Some(Value::Array(exts)) => {
                    for e in exts.iter().filter(|e| !e.is_null()) {
                        self.produce(out, extension_only(e))?;
                    }
                }
                Some(e @ Value::Object(_)) => self.produce(out, extension_only(e))?,
                _ => {}
            },
        }
        Ok(())
    }

    /// `value` finds `valueQuantity`, `valueString`, ... (the key's suffix is the type).
    fn push_choice(&self, owner: TypeId, obj: &'a Map<String, Value>, name: &str, out: &mut Collection<'a>) -> Result<()> {
        for key in obj.keys() {
            let Some(suffix) = key.strip_prefix(name) else { continue };
            if !suffix.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let ty = match model().field(owner, key) {
                Some(Field::Type(t)) => Some(t),
                _ if owner == UNKNOWN => suffix_type(suffix),
                _ => None,
            };
            if let Some(t) = ty {
                self.push_field(obj, key, t, out)?;
            }
        }
        Ok(())
    }

    /// Whether `item` is of the type `spec`; `exact` leaves out FHIR primitive
    /// subtypes (a `code` is a `string` for `is` but not for `as`/`ofType`).
    pub fn is_type(item: &Item<'a>, spec: &TypeSpec, exact: bool) -> bool {
        let m = model();
        match item {
            Item::Node(n) if n.ty != UNKNOWN => spec.fhir.is_some_and(|t| {
                let primitive = !m.is_complex(t);
                if exact && primitive {
                    n.ty == t
                } else {
                    m.is_subtype(n.ty, t)
                }
            }),
            Item::Node(_) => spec.system.is_some() && item.system_type() == spec.system,
            Item::TypeInfo(..) => false,
            _ => spec.system.is_some() && item.system_type() == spec.system,
        }
    }

    fn type_test(&self, input: Collection<'a>, op: TypeOp, spec: &TypeSpec) -> Result<Collection<'a>> {
        match op {
            TypeOp::OfType => Ok(input.into_iter().filter(|it| Self::is_type(it, spec, true)).collect()),
            TypeOp::Is => Ok(bool_result(input.singleton()?.map(|it| Self::is_type(it, spec, false)))),
            TypeOp::As => Ok(match input.singleton()? {
                Some(it) if Self::is_type(it, spec, true) => Collection::one(it.clone()),
                _ => Collection::new(),
            }),
        }
    }

    fn binary(&self, op: BinOp, l: &Expr, r: &Expr, f: Frame<'a, '_>) -> Result<Collection<'a>> {
        // The logical operators look at the right side only when the left does not decide.
        match op {
            BinOp::And | BinOp::Or | BinOp::Implies | BinOp::Xor => {
                let a = to_bool(&self.eval(l, f)?)?;
                let short = match (op, a) {
                    (BinOp::And, Some(false)) => Some(false),
                    (BinOp::Or, Some(true)) => Some(true),
                    (BinOp::Implies, Some(false)) => Some(true),
                    _ => None,
                };
                if short.is_some() {
                    return Ok(bool_result(short));
                }
                let b = to_bool(&self.eval(r, f)?)?;
                return Ok(bool_result(match op {
                    BinOp::And => match (a, b) {
                        (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    },
                    BinOp::Or => match (a, b) {
                        (_, Some(true)) => Some(true),
                        (Some(false), Some(false)) => Some(false),
                        _ => None,
                    },
                    BinOp::Implies => match (a, b) {
                        (_, Some(true)) => Some(true),
                        (Some(true), Some(false)) => Some(false),
                        _ => None,
                    },
                    _ => a.zip(b).map(|(x, y)| x != y),
                }));
            }
            _ => {}
        }
        let a = self.eval(l, f)?;
        let b = self.eval(r, f)?;
        match op {
            BinOp::Union => self.union(a, b),
            BinOp::Eq => Ok(bool_result(collections_equal(&a, &b))),
            BinOp::Ne => Ok(bool_result(collections_equal(&a, &b).map(|x| !x))),
            BinOp::Equiv => Ok(bool_result(Some(collections_equivalent(&a, &b)))),
            BinOp::NotEquiv => Ok(bool_result(Some(!collections_equivalent(&a, &b)))),
            BinOp::In => membership(&a, &b),
            BinOp::Contains => membership(&b, &a),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let (Some(x), Some(y)) = (a.singleton()?, b.singleton()?) else { return Ok(Collection::new()) };
                Ok(bool_result(compare(x, y)?.map(|o| match op {
                    BinOp::Lt => o == Ordering::Less,
                    BinOp::Le => o != Ordering::Greater,
                    BinOp::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                })))
            }
            BinOp::Concat => {
                let text = |c: &Collection| -> Result<String> {
                    Ok(match c.singleton()? {
                        None => String::new(),
                        Some(it) => it.as_str().ok_or_else(|| Error::eval("& needs strings"))?.to_string(),
                    })
                };
                let s = text(&a)? + &text(&b)?;
                Ok(Collection::one(self.string(s)?))
            }
            _ => {
                let (Some(x), Some(y)) = (a.singleton()?, b.singleton()?) else { return Ok(Collection::new()) };
                Ok(self.arithmetic(op, &x.to_system(), &y.to_system())?.map_or_else(Collection::new, Collection::one))
            }
        }
    }

    pub fn union(&self, a: Collection<'a>, b: Collection<'a>) -> Result<Collection<'a>> {
        let mut out = Collection::new();
        for item in a.into_iter().chain(b) {
            self.tick(out.len() as u64 / 16 + 1)?;
            if !out.iter().any(|o| equals(o, &item) == Some(true)) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// `+ - * / div mod` on two system values; `Ok(None)` means an empty result
    /// (division by zero).
    fn arithmetic(&self, op: BinOp, x: &Item<'a>, y: &Item<'a>) -> Result<Option<Item<'a>>> {
        let overflow = || Error::eval("arithmetic overflow");
        match (x, y) {
            (Item::Int(a), Item::Int(b)) if op != BinOp::Div => Ok(match op {
                BinOp::Add => Some(Item::Int(a.checked_add(*b).ok_or_else(overflow)?)),
                BinOp::Sub => Some(Item::Int(a.checked_sub(*b).ok_or_else(overflow)?)),
                BinOp::Mul => Some(Item::Int(a.checked_mul(*b).ok_or_else(overflow)?)),
                BinOp::IntDiv => a.checked_div(*b).map(Item::Int),
                _ => a.checked_rem(*b).map(Item::Int),
            }),
            (Item::Str(a), Item::Str(b)) if op == BinOp::Add => Ok(Some(self.string(format!("{a}{b}"))?)),
            (Item::Temporal(t), Item::Quantity(q)) if matches!(op, BinOp::Add | BinOp::Sub) => {
                let unit = CalendarUnit::from_unit(&q.unit).ok_or_else(|| Error::eval(format!("cannot add '{}' to a date", q.unit)))?;
                let amount = q.value.integral().ok_or_else(overflow)?;
                let amount = if op == BinOp::Sub { -amount } else { amount };
                Ok(Some(Item::Temporal(t.add(amount, unit).ok_or_else(|| Error::eval("date out of range"))?)))
            }
            (Item::Quantity(_), _) | (_, Item::Quantity(_)) => {
                let as_q = |it: &Item| match it {
                    Item::Quantity(q) => Some((**q).clone()),
                    other => as_decimal(other).map(|d| Quantity::new(d, "1")),
                };
                let (Some(a), Some(b)) = (as_q(x), as_q(y)) else { return Err(Error::eval("invalid quantity arithmetic")) };
                let r = match op {
                    BinOp::Add => a.add(&b, false),
                    BinOp::Sub => a.add(&b, true),
                    BinOp::Mul => a.mul(&b, false),
                    BinOp::Div if b.value.is_zero() => return Ok(None),
                    BinOp::Div => a.mul(&b, true),
                    _ => None,
                };
                r.map(|q| Some(Item::Quantity(Rc::new(q)))).ok_or_else(|| Error::eval("incompatible quantity units"))
            }
            _ => {
                let (Some(a), Some(b)) = (as_decimal(x), as_decimal(y)) else {
                    return Err(Error::eval("arithmetic needs numbers, quantities, or dates with a quantity"));
                };
                let r: Option<Decimal> = match op {
                    BinOp::Add => Some(a.add(b).ok_or_else(overflow)?),
                    BinOp::Sub => Some(a.sub(b).ok_or_else(overflow)?),
                    BinOp::Mul => Some(a.mul(b).ok_or_else(overflow)?),
                    BinOp::Div => a.div(b),
                    BinOp::IntDiv => a.div_trunc(b),
                    _ => a.rem(b),
                };
                Ok(r.map(|d| match (op, d.to_i64_exact()) {
                    (BinOp::IntDiv, Some(i)) => Item::Int(i),
                    _ => Item::Dec(d),
                }))
            }
        }
    }
}

/// `=` on collections: empty if either is empty, else item by item in order.
pub fn collections_equal(a: &Collection, b: &Collection) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut result = Some(true);
    for (x, y) in a.iter().zip(b.iter()) {
        match equals(x, y) {
            Some(false) => return Some(false),
            None => result = None,
            Some(true) => {}
        }
    }
    result
}

/// `~` on collections: same size and every item has an equivalent, in any order.
pub fn collections_equivalent(a: &Collection, b: &Collection) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| equivalent(x, y)))
}

fn membership<'a>(item: &Collection<'a>, within: &Collection<'a>) -> Result<Collection<'a>> {
    let Some(x) = item.singleton()? else { return Ok(Collection::new()) };
    Ok(bool_result(Some(within.iter().any(|y| equals(x, y) == Some(true)))))
}
