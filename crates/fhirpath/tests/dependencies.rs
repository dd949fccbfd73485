//! `Expression::dependencies` and `depends_on`: which fields of the resource an
//! expression's result can depend on, checked case by case and empirically
//! (removing a field the analysis calls irrelevant never changes a result).

use fhirpath::{depends_on, parse, Environment, Expression, Step};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn touches(src: &str, field: &str) -> bool {
    let segments: Vec<&str> = field.split('.').collect();
    depends_on(&parse(src).unwrap().dependencies(), &segments)
}

fn names(path: &[&str]) -> Vec<Step> {
    path.iter().map(|s| Step::Name(s.to_string())).collect()
}

#[test]
fn a_plain_path_depends_on_its_field_what_is_under_it_and_above_it() {
    assert!(touches("Patient.birthDate", "birthDate"));
    assert!(touches("Patient.birthDate", "_birthDate"));
    assert!(touches("Patient.address.city", "address"));
    assert!(touches("Patient.address", "address.city"));
    assert!(!touches("Patient.birthDate", "gender"));
}

#[test]
fn a_path_does_not_depend_on_its_siblings() {
    assert!(!touches("Patient.name.family", "name.given"));
    assert!(touches("Patient.name.family", "name.family"));
    assert!(touches("Patient.name", "name.given"));
    assert!(!touches("Patient.name.select(family)", "name.given"));
}

#[test]
fn where_criteria_are_dependencies() {
    assert!(touches("Patient.name.where(given = 'x').family", "name.given"));
    assert!(!touches("Patient.name.where(given = 'x').family", "name.use"));
    assert_eq!(parse("name.where(use = 'official').family").unwrap().dependencies(), [names(&["name", "use"]), names(&["name", "family"])]);
}

#[test]
fn iif_depends_on_its_criterion_and_both_branches() {
    let src = "iif(Patient.active, Patient.gender, Patient.birthDate)";
    assert!(touches(src, "active") && touches(src, "gender") && touches(src, "birthDate"));
    assert!(!touches(src, "name"));
    assert!(touches("iif(priority = 'stat', 50, 10)", "priority"));
    assert!(!touches("iif(priority = 'stat', 50, 10)", "status"));
}

#[test]
fn a_union_depends_on_both_sides() {
    assert!(touches("Patient.name | Patient.contact.name", "name.given"));
    assert!(touches("Patient.name | Patient.contact.name", "contact.name"));
    assert!(touches("Patient.name.union(Patient.contact.name).family", "contact.name.given"));
    assert!(!touches("Patient.name | Patient.contact.name", "gender"));
}

#[test]
fn type_casts_and_filters_depend_on_every_choice_key() {
    for src in ["(Observation.value as Quantity)", "Observation.value.ofType(Quantity)", "Observation.value is Quantity"] {
        assert!(touches(src, "value[x]"), "{src}");
        assert!(touches(src, "valueQuantity"), "{src}");
        assert!(touches(src, "valueString"), "{src}");
        assert!(!touches(src, "status"), "{src}");
    }
    assert!(touches("Observation.valueQuantity", "value[x]"));
    assert!(!touches("Observation.valueQuantity", "valueString"));
}

#[test]
fn resolve_depends_on_the_reference_and_what_it_can_find() {
    let src = "Condition.subject.where(resolve() is Patient)";
    assert!(touches(src, "subject") && touches(src, "subject.reference"));
    assert!(touches(src, "contained"));
    assert!(!touches(src, "code"));
}

#[test]
fn the_resource_variable_is_the_root() {
    assert!(touches("%resource.gender", "gender"));
    assert!(touches("Patient.name.select(%resource.gender)", "gender"));
    assert!(touches("name.where(%context.active).family", "active"));
    assert!(!touches("%resource.gender", "name"));
}

#[test]
fn other_variables_may_be_the_resource_itself() {
    assert!(touches("%after.gender", "name.given"));
    assert!(!touches("%ucum = 'x'", "name"));
}

#[test]
fn descendants_and_children_depend_on_everything_below() {
    assert!(touches("Patient.descendants()", "name.given"));
    assert!(touches("Patient.contact.descendants().where($this = 'x')", "contact.name.given"));
    assert!(!touches("Patient.contact.descendants()", "name.given"));
    assert!(touches("Patient.name.children()", "name.given"));
    assert!(!touches("Patient.name.children()", "gender"));
}

#[test]
fn exists_depends_on_the_tested_path() {
    let src = "Patient.deceased.exists() and Patient.deceased != false";
    assert!(touches(src, "deceased[x]") && touches(src, "deceasedBoolean"));
    assert!(!touches(src, "name"));
    assert!(touches("Patient.name.exists(given = 'x')", "name.given"));
    assert!(touches("Patient.name.count()", "name"));
}

#[test]
fn another_types_element_names_are_not_dependencies() {
    assert!(!touches("RelatedPerson.patient", "gender"));
    assert!(touches("RelatedPerson.patient", "patient"));
}

#[test]
fn select_reads_how_many_items_it_maps() {
    assert!(touches("Patient.name.select(%resource.gender)", "name"));
    assert!(touches("Patient.name.select('x')", "name"));
    assert!(!touches("Patient.name.select(given.exists())", "name.family"));
}

#[test]
fn repeat_and_aggregate_follow_their_results() {
    assert!(touches("Questionnaire.item.repeat(item).linkId", "item.item.item.linkId"));
    assert!(!touches("Questionnaire.item.repeat(item).linkId", "url"));
    assert!(touches("Patient.name.aggregate($total | family, {})", "name.family"));
    assert!(touches("Patient.name.aggregate($total.combine(%resource.gender), {})", "gender"));
}

#[test]
fn extension_reads_the_url_and_returns_the_extension() {
    let src = "Patient.extension('http://x').valueString";
    assert!(touches(src, "extension.url") && touches(src, "extension.valueString"));
    assert!(!touches(src, "name"));
}

#[test]
fn distinct_values_compare_whole_items() {
    assert!(touches("Patient.name.distinct().family", "name.given"));
    assert!(!touches("Patient.name.first().family", "name.given"));
}

// ---- Empirical soundness: removing a field the analysis says is irrelevant
// never changes the result (or the error) of evaluating the expression.

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'v, T>(&mut self, items: &'v [T]) -> &'v T {
        &items[self.below(items.len())]
    }
}

/// What random documents are made of, read from the expressions' text: the
/// element chains they name (`a.b.where(c = 'x').d` names a.b, a.b.c and a.b.d),
/// type names and string literals, so that paths and criteria find something.
#[derive(Default)]
struct Vocabulary {
    chains: Vec<Vec<String>>,
    keys: Vec<String>,
    types: Vec<String>,
    strings: Vec<String>,
}

const SUFFIXES: [&str; 6] = ["Quantity", "String", "Boolean", "DateTime", "Reference", "CodeableConcept"];
const KEYWORDS: [&str; 12] = ["and", "or", "xor", "implies", "is", "as", "div", "mod", "in", "contains", "true", "false"];

impl Vocabulary {
    fn of(expressions: &[String]) -> Vocabulary {
        let mut v = Vocabulary {
            keys: ["id", "url", "system", "code", "value"].map(String::from).to_vec(),
            types: vec!["Patient".into()],
            strings: ["a", "b", "http://a", "2020-01-01", "#c1"].map(String::from).to_vec(),
            ..Vocabulary::default()
        };
        for e in expressions {
            v.read(e);
        }
        for chain in &v.chains {
            for k in chain {
                if !v.keys.contains(k) {
                    v.keys.push(k.clone());
                }
            }
        }
        v
    }

    fn add_chain(&mut self, chain: &[String]) {
        if !chain.is_empty() && !self.chains.iter().any(|c| c == chain) {
            self.chains.push(chain.to_vec());
        }
    }

    /// A rough reading: a chain continues after `.`, function arguments start
    /// from the function's receiver, and a call's result is its receiver again.
    fn read(&mut self, src: &str) {
        let chars: Vec<char> = src.chars().collect();
        let (mut i, mut after_dot) = (0, false);
        let (mut cur, mut base): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        // (receiver, enclosing base, function name) per open parenthesis.
        let mut frames: Vec<(Vec<String>, Vec<String>, String)> = Vec::new();
        while i < chars.len() {
            let c = chars[i];
            let start = i;
            i += 1;
            if c == '\'' {
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                self.strings.push(chars[start + 1..i.min(chars.len())].iter().collect());
                i += 1;
            } else if c.is_ascii_alphabetic() || c == '_' || c == '%' || c == '$' {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '-') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let call = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
                if call {
                    let receiver = if after_dot { cur.clone() } else { base.clone() };
                    if word == "resolve" {
                        let mut r = receiver.clone();
                        r.push("reference".into());
                        self.add_chain(&r);
                    }
                    frames.push((receiver.clone(), std::mem::replace(&mut base, receiver), word));
                    i = start + chars[start..].iter().position(|c| *c == '(').unwrap() + 1;
                } else if word.starts_with(['%', '$']) {
                    cur = if matches!(&*word, "%resource" | "%rootResource" | "%context") { Vec::new() } else { base.clone() };
                } else if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                    self.types.push(word);
                    cur = base.clone();
                } else if after_dot {
                    cur.push(word);
                    self.add_chain(&cur);
                } else if !KEYWORDS.contains(&&*word) {
                    cur = base.clone();
                    cur.push(word);
                    self.add_chain(&cur);
                }
                after_dot = false;
                continue;
            } else if c == '(' {
                frames.push((base.clone(), base.clone(), String::new()));
            } else if c == ')' {
                let Some((receiver, outer, name)) = frames.pop() else { continue };
                base = outer;
                cur = match &*name {
                    "" => cur,
                    "resolve" => vec!["contained".to_string()],
                    "extension" => [receiver, vec!["extension".to_string()]].concat(),
                    _ => receiver,
                };
            } else if c == ',' {
                cur = base.clone();
            }
            after_dot = c == '.';
        }
    }

    fn primitive(&self, rng: &mut Rng) -> Value {
        match rng.below(6) {
            0 => json!(rng.below(2) == 0),
            1 => json!(rng.below(3)),
            _ => json!(rng.pick(&self.strings)),
        }
    }

    /// An object with a few unrelated keys.
    fn noise(&self, rng: &mut Rng) -> Map<String, Value> {
        (0..rng.below(3)).map(|_| (rng.pick(&self.keys).clone(), self.primitive(rng))).collect()
    }

    /// A new value for `key`: typed by a choice suffix, else a primitive, an
    /// object or an array (only objects when more of a chain goes below).
    fn fresh(&self, rng: &mut Rng, key: &str, leaf: bool) -> Value {
        let one = |rng: &mut Rng| {
            let mut obj = self.noise(rng);
            if key == "extension" {
                obj.insert("url".into(), json!(rng.pick(&["http://a", "http://b"])));
            }
            if leaf && rng.below(2) == 0 {
                self.primitive(rng)
            } else {
                Value::Object(obj)
            }
        };
        match SUFFIXES.iter().find(|s| key.ends_with(*s)) {
            Some(&"Quantity") => return json!({"value": rng.below(3), "unit": rng.pick(&self.strings)}),
            Some(&"String") => return json!(rng.pick(&self.strings)),
            Some(&"Boolean") => return json!(rng.below(2) == 0),
            Some(&"DateTime") => return json!(rng.pick(&["2020-01-01", "2021-02-03T04:05:06Z"])),
            Some(_) => return json!({"reference": "#c1", "coding": [{"code": rng.pick(&self.strings)}]}),
            None => {}
        }
        if key == "reference" {
            return json!(rng.pick(&["#c1", "#c2", "Patient/1"]));
        }
        match rng.below(3) {
            0 => one(rng),
            _ => Value::Array((0..1 + rng.below(3)).map(|_| one(rng)).collect()),
        }
    }

    /// Makes `chain` exist under `node`, reusing what is there.
    fn insert(&self, rng: &mut Rng, node: &mut Value, chain: &[String]) {
        let (Some((first, rest)), Value::Object(obj)) = (chain.split_first(), node) else { return };
        let existing = obj.keys().find(|k| k.strip_prefix(first.as_str()).is_some_and(|s| s.is_empty() || SUFFIXES.contains(&s))).cloned();
        let key = existing.unwrap_or_else(|| if rng.below(6) == 0 { format!("{first}{}", rng.pick(&SUFFIXES)) } else { first.clone() });
        if !obj.contains_key(&key) {
            let value = self.fresh(rng, &key, rest.is_empty());
            if !value.is_object() && rng.below(4) == 0 {
                obj.insert(format!("_{key}"), json!({"extension": [{"url": "http://a", "valueString": rng.pick(&self.strings)}]}));
            }
            obj.insert(key.clone(), value);
        }
        match &mut obj[&key] {
            Value::Array(items) => {
                let i = rng.below(items.len());
                self.insert(rng, &mut items[i], rest);
            }
            child => self.insert(rng, child, rest),
        }
    }

    fn resource(&self, rng: &mut Rng, ty: &str) -> Value {
        let mut doc = Value::Object(self.noise(rng));
        for chain in &self.chains {
            if rng.below(2) == 0 {
                self.insert(rng, &mut doc, chain);
            }
        }
        // Contained resources, for `resolve()` to find by id.
        if let Some(contained) = doc.get_mut("contained") {
            *contained = Value::Array((0..1 + rng.below(2)).map(|_| json!({})).collect());
            for c in contained.as_array_mut().unwrap() {
                *c = json!({"resourceType": rng.pick(&self.types), "id": rng.pick(&["c1", "c2"])});
                for chain in &self.chains {
                    if rng.below(2) == 0 {
                        self.insert(rng, c, chain);
                    }
                }
            }
        }
        duplicate_some(rng, &mut doc);
        doc["resourceType"] = json!(ty);
        doc
    }
}

/// Equal array items exercise deduplication (`|`, `distinct()`).
fn duplicate_some(rng: &mut Rng, v: &mut Value) {
    match v {
        Value::Object(obj) => obj.values_mut().for_each(|c| duplicate_some(rng, c)),
        Value::Array(items) => {
            items.iter_mut().for_each(|c| duplicate_some(rng, c));
            if rng.below(3) == 0 {
                let copy = rng.pick(items).clone();
                items.push(copy);
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Every key of every object (but `resourceType`: types are not fields), as
/// its concrete location.
fn locations(v: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(obj) => {
            for (k, child) in obj.iter().filter(|(k, _)| *k != "resourceType") {
                at.push(Seg::Key(k.clone()));
                out.push(at.clone());
                locations(child, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                at.push(Seg::Index(i));
                locations(item, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn without(doc: &Value, location: &[Seg]) -> Value {
    let mut out = doc.clone();
    let Some((Seg::Key(last), parents)) = location.split_last() else { unreachable!("a location ends at a key") };
    let mut node = &mut out;
    for seg in parents {
        node = match seg {
            Seg::Key(k) => &mut node[k.as_str()],
            Seg::Index(i) => &mut node[*i],
        };
    }
    node.as_object_mut().unwrap().remove(last);
    out
}

fn outcome(expr: &Expression, doc: &Value) -> Result<Value, String> {
    expr.evaluate(doc, &Environment::new()).map(|c| c.to_json()).map_err(|e| e.to_string())
}

/// An expression with its dependencies, analysed once.
struct Case {
    src: String,
    expr: Expression,
    deps: Vec<Vec<Step>>,
}

fn cases<'s>(sources: impl IntoIterator<Item = &'s String>) -> Vec<Case> {
    sources
        .into_iter()
        .map(|src| {
            let expr = parse(src).unwrap();
            Case { src: src.clone(), deps: expr.dependencies(), expr }
        })
        .collect()
}

/// Checks every (expression, field of `doc`) pair the analysis calls independent;
/// returns how many removals it checked.
fn check_sound(cases: &[Case], doc: &Value) -> usize {
    let before: Vec<Result<Value, String>> = cases.iter().map(|c| outcome(&c.expr, doc)).collect();
    let mut locs = Vec::new();
    locations(doc, &mut Vec::new(), &mut locs);
    let mut checked = 0;
    for loc in &locs {
        let field: Vec<&str> = loc.iter().filter_map(|s| if let Seg::Key(k) = s { Some(k.as_str()) } else { None }).collect();
        let mut changed: Option<Value> = None;
        for (case, before) in cases.iter().zip(&before) {
            if depends_on(&case.deps, &field) {
                continue;
            }
            let changed = changed.get_or_insert_with(|| without(doc, loc));
            let after = outcome(&case.expr, changed);
            let (src, deps) = (&case.src, &case.deps);
            assert_eq!(&after, before, "{src} with dependencies {deps:?} changed when {} was removed from {doc}", field.join("."));
            checked += 1;
        }
    }
    checked
}

/// Expressions for constructs search parameters rarely use, on random Patients.
const CONSTRUCTS: &[&str] = &[
    "Patient.name.family",
    "name.where(given = 'a').family",
    "name.where($index = 1).family",
    "name.where(%resource.gender = 'a').use",
    "name.select(family)",
    "name.select(%resource.gender)",
    "name.select('x')",
    "name.select($index)",
    "name.select(given.exists())",
    "name.select(iif($index = 0, %resource.gender, {}))",
    "iif(name.exists(), gender, birthDate)",
    "name.first().iif(given.exists(), family, use)",
    "name.iif(true, 'a', 'b')",
    "(name | contact.name).family",
    "name.union(contact.name).given",
    "name.combine(contact.name).use",
    "name.distinct().family",
    "name.intersect(contact.name).family",
    "name.exclude(contact.name).family",
    "name.first().family | name.last().given",
    "name.tail().use",
    "name.skip(1).family",
    "name.take(1).family",
    "name[1].family",
    "name.single().family",
    "descendants().where($this = 'a')",
    "descendants().count()",
    "contact.descendants()",
    "children().count()",
    "name.children().first()",
    "contained.repeat(contained).id",
    "name.repeat(given)",
    "repeat(children()).count()",
    "name.aggregate($total | family, {})",
    "name.aggregate($this.given.count() + $total, 0)",
    "extension('http://a').valueString",
    "name.extension('http://a').value",
    "name.given.extension.url",
    "subject.resolve().gender",
    "subject.where(resolve() is Patient)",
    "%resource.contained.gender",
    "name.sort(family).given",
    "name.sort(-family).first().use",
    "name.given.sort().first()",
    "name.all(given.exists())",
    "name.exists(use = 'a')",
    "name.empty()",
    "name.count()",
    "gender.type().name",
    "name.given.toChars().count()",
    "birthDate.hasValue()",
    "value.ofType(Quantity).value",
    "(value as Quantity).unit",
    "value is string",
    "name.family & ' ' & name.given.first()",
    "name.given.join(',')",
    "gender = 'a' and active",
    "name.where(family.startsWith('a')).given",
    "trace('x').name.family",
    "name.given.isDistinct()",
    "name.family.subsetOf(contact.name.family)",
    "%context.name.given",
    "$this.name.use",
    "name.given.where($this = 'b').exists()",
    "name.use.where($this = 'a').count() > 1",
];

#[test]
fn removing_a_field_the_analysis_calls_independent_never_changes_a_result() {
    let path = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("../core/data/search-parameters.json");
    let table: BTreeMap<String, BTreeMap<String, Value>> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let by_type: BTreeMap<&str, Vec<String>> = table
        .iter()
        .map(|(ty, params)| (ty.as_str(), params.values().map(|p| p["expression"].as_str().unwrap().to_string()).collect()))
        .collect();
    let constructs: Vec<String> = CONSTRUCTS.iter().map(|s| s.to_string()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;

    let vocabulary = Vocabulary::of(&constructs);
    let construct_cases = cases(&constructs);
    for _ in 0..60 {
        checked += check_sound(&construct_cases, &vocabulary.resource(&mut rng, "Patient"));
    }
    for (ty, expressions) in &by_type {
        let vocabulary = Vocabulary::of(expressions);
        let cases = cases(expressions);
        for _ in 0..6 {
            checked += check_sound(&cases, &vocabulary.resource(&mut rng, ty));
        }
    }
    let examples = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test")).join("tests/r4/input");
    for entry in std::fs::read_dir(examples).unwrap() {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        let own = by_type.get(doc["resourceType"].as_str().unwrap()).into_iter().flatten();
        checked += check_sound(&cases(own.chain(&constructs)), &doc);
    }
    assert!(checked > 100_000, "only {checked} removals checked");
}

#[test]
fn deeply_nested_repeats_give_up_on_the_whole_resource() {
    let src = format!("{}x{}", "repeat(a.".repeat(40), ")".repeat(40));
    assert_eq!(parse(&src).unwrap().dependencies(), [Vec::<Step>::new()]);
    let unions = format!("{}x{}", "(a | b).select(".repeat(40), ")".repeat(40));
    assert!(touches(&unions, "name.given"));
}
