//! A synchronous FHIRPath evaluator over borrowed `serde_json::Value`s.
//!
//! ```
//! use serde_json::json;
//! let patient = json!({"resourceType": "Patient", "name": [{"use": "official", "given": ["Ann"]}]});
//! let expr = fhirpath::parse("name.where(use = 'official').given.first()").unwrap();
//! let result = expr.evaluate(&patient, &fhirpath::Environment::new()).unwrap();
//! assert_eq!(result.to_json(), json!(["Ann"]));
//! ```
//!
//! Write constraints bind `%before`/`%after` and pass only when the result is
//! exactly one `true` ([`Collection::is_single_true`]):
//!
//! ```
//! use serde_json::json;
//! let obs = json!({"resourceType": "Observation", "status": "final"});
//! let env = fhirpath::Environment::new().with_variable("before", [&obs]).with_variable("after", [&obs]);
//! let expr = fhirpath::parse_cached("%before.exists() implies %before.status != 'final'").unwrap();
//! assert!(!expr.evaluate(&obs, &env).unwrap().is_single_true());
//! ```
//!
//! Results borrow from the input document: a path result is the JSON node itself.
//! Every evaluation has a step budget, strings and regular expressions are
//! bounded, and the parser limits nesting, so hostile input yields an [`Error`].

mod ast;
mod cache;
mod decimal;
mod error;
mod eval;
mod functions;
mod lexer;
mod model;
mod parser;
mod quantity;
mod reads;
mod temporal;
mod text;
mod value;

pub use cache::{parse_cached, BoundedCache};
pub use error::{Error, ErrorKind};
pub use reads::{depends_on, Step};
pub use value::{Collection, Item, Node};

use serde_json::Value;

/// Default step budget: node visits plus items produced.
pub const DEFAULT_STEP_BUDGET: u64 = 1_000_000;

/// A parsed expression; parse once, evaluate many times.
#[derive(Debug)]
pub struct Expression {
    root: ast::Expr,
}

/// Parses a FHIRPath expression. Syntax errors carry the character position.
pub fn parse(src: &str) -> Result<Expression, Error> {
    Ok(Expression { root: parser::parse_expression(src)? })
}

/// Variables (`%name`) and limits for an evaluation.
#[derive(Clone, Debug)]
pub struct Environment<'a> {
    variables: Vec<(String, Collection<'a>)>,
    step_budget: u64,
}

impl Default for Environment<'_> {
    fn default() -> Self {
        Environment { variables: Vec::new(), step_budget: DEFAULT_STEP_BUDGET }
    }
}

impl<'a> Environment<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `%name` to JSON values (none for an empty collection, e.g. `%before`
    /// on create). Objects with a `resourceType` get that FHIR type.
    pub fn with_variable(mut self, name: &str, values: impl IntoIterator<Item = &'a Value>) -> Self {
        self.set_variable(name, values);
        self
    }

    pub fn set_variable(&mut self, name: &str, values: impl IntoIterator<Item = &'a Value>) {
        let items = values.into_iter().map(|v| Item::Node(Node::root(v))).collect();
        self.set_collection(name, items);
    }

    /// Binds `%name` to an arbitrary collection (e.g. an earlier result).
    pub fn set_collection(&mut self, name: &str, items: Collection<'a>) {
        match self.variables.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = items,
            None => self.variables.push((name.to_string(), items)),
        }
    }

    /// Maximum evaluation steps (node visits and produced items) before
    /// evaluation fails with [`ErrorKind::Budget`].
    pub fn with_step_budget(mut self, steps: u64) -> Self {
        self.step_budget = steps;
        self
    }

    fn variable(&self, name: &str) -> Option<&Collection<'a>> {
        self.variables.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }
}

impl Expression {
    /// Evaluates against `focus` (also `%resource`, `%rootResource`, `%context`).
    /// An undefined `%variable` is an error.
    pub fn evaluate<'a>(&self, focus: &'a Value, env: &Environment<'a>) -> Result<Collection<'a>, Error> {
        let root = Node::root(focus);
        let this = [Item::Node(root)];
        let evaluator = eval::Evaluator::new(env, root);
        evaluator.eval(&self.root, eval::Frame { this: &this, index: None, total: None })
    }

    /// True when the result is exactly one boolean `true` (write-constraint semantics);
    /// errors count as false.
    pub fn evaluate_to_bool<'a>(&self, focus: &'a Value, env: &Environment<'a>) -> bool {
        self.evaluate(focus, env).is_ok_and(|c| c.is_single_true())
    }
}
