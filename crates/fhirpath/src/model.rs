//! The FHIR R4 type table (`data/r4-model.txt`, derived from fhirpath.js's model
//! by `scripts/derive_model.py`): element types per path, choice elements and the
//! type hierarchy. It gives nodes their FHIR type, which `is`/`as`/`ofType`,
//! polymorphic navigation (`Observation.value`) and primitive conversion need.

use crate::ast::SystemType;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

pub type TypeId = u16;
/// A node whose FHIR type the model does not know (e.g. non-standard content).
pub const UNKNOWN: TypeId = u16::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Type(TypeId),
    /// A `[x]` element: the JSON key carries the type as a suffix.
    Choice,
}

struct TypeDef {
    name: &'static str,
    parent: TypeId,
    /// The system type a primitive converts to; `None` for complex types.
    primitive: Option<SystemType>,
    /// Sorted by name for binary search.
    fields: Vec<(&'static str, Field)>,
}

/// FNV-1a: type names are short and trusted, so SipHash's cost buys nothing
/// (every evaluation looks up the root's `resourceType`).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

pub struct Model {
    types: Vec<TypeDef>,
    by_name: HashMap<&'static str, TypeId, BuildHasherDefault<Fnv>>,
    resource: TypeId,
    domain_resource: TypeId,
}

const DATA: &str = include_str!("../data/r4-model.txt");

fn primitive(name: &str) -> Option<SystemType> {
    match name {
        "boolean" => Some(SystemType::Boolean),
        "integer" | "positiveInt" | "unsignedInt" => Some(SystemType::Integer),
        "decimal" => Some(SystemType::Decimal),
        "date" => Some(SystemType::Date),
        "dateTime" | "instant" => Some(SystemType::DateTime),
        "time" => Some(SystemType::Time),
        "Quantity" | "Age" | "Count" | "Distance" | "Duration" | "MoneyQuantity" | "SimpleQuantity" => Some(SystemType::Quantity),
        _ if name.starts_with("System.") || name.starts_with(|c: char| c.is_ascii_lowercase()) => Some(SystemType::String),
        _ => None,
    }
}

impl Model {
    fn load() -> Model {
        let lines: Vec<Vec<&'static str>> =
            DATA.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| l.split(' ').collect()).collect();
        let mut m = Model { types: Vec::new(), by_name: HashMap::default(), resource: UNKNOWN, domain_resource: UNKNOWN };
        for line in &lines {
            m.intern(line[0]);
        }
        for line in &lines {
            let id = m.intern(line[0]);
            let parent = if line[1] == "-" { UNKNOWN } else { m.intern(line[1]) };
            let mut fields: Vec<(&'static str, Field)> = line[2..]
                .iter()
                .filter_map(|f| f.split_once(':'))
                .map(|(name, ty)| (name, if ty == "[x]" { Field::Choice } else { Field::Type(m.intern(ty)) }))
                .collect();
            fields.sort_by_key(|(name, _)| *name);
            let def = &mut m.types[id as usize];
            def.parent = parent;
            def.fields = fields;
        }
        m.resource = m.by_name["Resource"];
        m.domain_resource = m.by_name["DomainResource"];
        m
    }

    fn intern(&mut self, name: &'static str) -> TypeId {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        let id = self.types.len() as TypeId;
        self.types.push(TypeDef { name, parent: UNKNOWN, primitive: primitive(name), fields: Vec::new() });
        self.by_name.insert(name, id);
        id
    }

    pub fn type_id(&self, name: &str) -> Option<TypeId> {
        self.by_name.get(name).copied()
    }

    /// The type's name; backbone elements are named by their path (`Patient.contact`).
    pub fn name(&self, id: TypeId) -> &'static str {
        self.types.get(id as usize).map_or("", |t| t.name)
    }

    /// The system type a node of this FHIR type converts to (Quantity-like
    /// types convert to Quantity); `None` for complex and unknown types.
    pub fn primitive(&self, id: TypeId) -> Option<SystemType> {
        self.types.get(id as usize).and_then(|t| t.primitive)
    }

    /// A known type that is neither primitive nor Quantity-like.
    pub fn is_complex(&self, id: TypeId) -> bool {
        self.types.get(id as usize).is_some_and(|t| t.primitive.is_none())
    }

    /// The declared type of `field` on `ty`, looking through base types.
    pub fn field(&self, mut ty: TypeId, field: &str) -> Option<Field> {
        while let Some(def) = self.types.get(ty as usize) {
            if let Ok(i) = def.fields.binary_search_by(|(n, _)| (*n).cmp(field)) {
                return Some(def.fields[i].1);
            }
            ty = def.parent;
        }
        None
    }

    pub fn is_subtype(&self, mut ty: TypeId, ancestor: TypeId) -> bool {
        while ty != UNKNOWN {
            if ty == ancestor {
                return true;
            }
            ty = self.types.get(ty as usize).map_or(UNKNOWN, |t| t.parent);
        }
        false
    }

    /// `Resource`/`DomainResource` (or unknown): the JSON `resourceType` says more.
    pub fn is_abstract_resource(&self, ty: TypeId) -> bool {
        ty == UNKNOWN || ty == self.resource || ty == self.domain_resource
    }

    pub fn is_resource(&self, ty: TypeId) -> bool {
        self.is_subtype(ty, self.resource)
    }
}

pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(Model::load)
}

/// A one-entry cache of a field lookup, kept in the expression tree: a path in
/// an expression nearly always meets the same type, so the search is skipped.
#[derive(Clone, Debug, Default)]
pub struct FieldCache(Cell<Option<(TypeId, Option<Field>)>>);

impl FieldCache {
    pub fn field(&self, ty: TypeId, name: &str) -> Option<Field> {
        match self.0.get() {
            Some((cached, field)) if cached == ty => field,
            _ => {
                let field = model().field(ty, name);
                self.0.set(Some((ty, field)));
                field
            }
        }
    }
}
