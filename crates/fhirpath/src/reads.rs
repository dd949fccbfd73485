//! Which elements of the focus resource an expression's result can depend on:
//! a conservative abstract interpretation of the evaluator, used to decide
//! whether a search parameter touches a hidden field whatever its text looks like.
//!
//! Each sub-expression is evaluated over sets of element paths. Its *results*
//! are the paths the items it yields may be at (literals and computed values
//! yield none); everything whose value decided the outcome is recorded as
//! *used*. A value read is the whole subtree at the path; a *presence* read
//! (`exists()`, the number of items `select` maps) only needs the nodes
//! themselves, which removing a key below them never changes.
//!
//! Assumed: node types come from the model and `resourceType` (not reported),
//! `%resource`/`%rootResource`/`%context` are not rebound, and the step budget
//! is not exhausted.

use crate::ast::{BinOp, Expr, Func, TypeOp};
use crate::Expression;

/// One step of an element path from the resource root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Name(String),
    /// Any one child.
    AnyChild,
    /// Any depth, zero or more.
    AnyDescendant,
}

type Path = Vec<Step>;

/// Larger path sets widen to "any node": bounds hostile inputs such as nested `select`s.
const MAX_PATHS: usize = 256;
/// Node visits before the analysis gives up and reports the whole resource
/// (nested `repeat`/`aggregate` re-evaluate their arguments).
const BUDGET: u32 = 10_000;

fn any_node() -> Vec<Path> {
    vec![vec![Step::AnyDescendant]]
}

/// Every node matching `b` also matches `a`.
fn covers(a: &[Step], b: &[Step]) -> bool {
    match a.split_last() {
        Some((Step::AnyDescendant, prefix)) => b.starts_with(prefix),
        _ => a == b,
    }
}

fn extend(set: &mut Vec<Path>, more: impl IntoIterator<Item = Path>) {
    for p in more {
        if set.iter().any(|q| covers(q, &p)) {
            continue;
        }
        set.retain(|q| !covers(&p, q));
        set.push(p);
        if set.len() > MAX_PATHS {
            *set = any_node();
        }
    }
}

fn with_step(set: &[Path], step: Step) -> Vec<Path> {
    set.iter()
        .map(|p| {
            let mut p = p.clone();
            if !(step == Step::AnyDescendant && p.last() == Some(&Step::AnyDescendant)) {
                p.push(step.clone());
            }
            p
        })
        .collect()
}

fn child(set: &[Path], name: &str) -> Vec<Path> {
    with_step(set, Step::Name(name.to_string()))
}

/// What `$this` and `$total` may be (`$index` is a number: no node).
struct Ctx {
    this: Vec<Path>,
    total: Vec<Path>,
}

struct Analysis {
    used: Vec<Path>,
    presence: Vec<Path>,
    steps_left: u32,
}

impl Analysis {
    fn consume(&mut self, set: Vec<Path>) {
        extend(&mut self.used, set);
    }

    fn eval(&mut self, e: &Expr, cx: &Ctx) -> Vec<Path> {
        if self.steps_left == 0 {
            return any_node();
        }
        self.steps_left -= 1;
        match e {
            Expr::Literal(_) | Expr::EmptySet | Expr::Index => Vec::new(),
            Expr::This => cx.this.clone(),
            Expr::Total => cx.total.clone(),
            Expr::Variable(name) => match &**name {
                "resource" | "rootResource" | "context" => vec![Vec::new()],
                "ucum" | "sct" | "loinc" => Vec::new(),
                n if n.starts_with("vs-") || n.starts_with("ext-") => Vec::new(),
                // Caller-bound (`%before`, `%after`...): possibly this very resource.
                _ => any_node(),
            },
            Expr::Ident(name, _) => {
                let mut out = child(&cx.this, name);
                // A type name filters `$this`; if nothing matches it is a member after all.
                if name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    extend(&mut out, cx.this.clone());
                }
                out
            }
            Expr::Member(target, name, _) => child(&self.eval(target, cx), name),
            Expr::Call(target, func, args) => {
                let input = match target {
                    Some(t) => self.eval(t, cx),
                    None => cx.this.clone(),
                };
                self.call(*func, input, args, cx)
            }
            Expr::TypeTest(target, op, _) => {
                let input = match target {
                    Some(t) => self.eval(t, cx),
                    None => cx.this.clone(),
                };
                if *op == TypeOp::Is {
                    self.consume(input);
                    return Vec::new();
                }
                input
            }
            Expr::Indexer(target, index) => {
                let input = self.eval(target, cx);
                let index = self.eval(index, cx);
                self.consume(index);
                input
            }
            Expr::Negate(inner) => {
                let r = self.eval(inner, cx);
                self.consume(r);
                Vec::new()
            }
            Expr::Binary(op, l, r) => {
                let (a, b) = (self.eval(l, cx), self.eval(r, cx));
                // `|` removes duplicates by deep equality, so it reads both sides whole.
                self.consume(a.clone());
                self.consume(b.clone());
                if *op != BinOp::Union {
                    return Vec::new();
                }
                let mut out = a;
                extend(&mut out, b);
                out
            }
        }
    }

    /// Evaluates each argument with the outer `$this` and reads its value.
    fn consume_args(&mut self, args: &[Expr], cx: &Ctx) -> Vec<Path> {
        let mut out = Vec::new();
        for a in args {
            let r = self.eval(a, cx);
            self.consume(r.clone());
            extend(&mut out, r);
        }
        out
    }

    fn call(&mut self, func: Func, input: Vec<Path>, args: &[Expr], cx: &Ctx) -> Vec<Path> {
        // The frame of arguments evaluated once per input item.
        let per_item = Ctx { this: input.clone(), total: cx.total.clone() };
        match func {
            Func::Now | Func::Today | Func::TimeOfDay => Vec::new(),
            Func::Empty | Func::Count => {
                extend(&mut self.presence, input);
                Vec::new()
            }
            Func::Exists | Func::All => {
                extend(&mut self.presence, input);
                self.consume_args(args, &per_item);
                Vec::new()
            }
            Func::Where => {
                self.consume_args(args, &per_item);
                input
            }
            // The number of results follows the number of inputs.
            Func::Select => {
                extend(&mut self.presence, input);
                self.eval(&args[0], &per_item)
            }
            Func::Repeat => {
                extend(&mut self.presence, input.clone());
                self.repeat(&args[0], input, cx)
            }
            Func::Aggregate => {
                extend(&mut self.presence, input.clone());
                let init = match args.get(1) {
                    Some(init) => self.eval(init, cx),
                    None => Vec::new(),
                };
                self.aggregate(&args[0], input, init)
            }
            Func::Iif => {
                // Several input items are an error.
                extend(&mut self.presence, input);
                let criterion = self.eval(&args[0], &per_item);
                self.consume(criterion);
                let mut out = Vec::new();
                for a in &args[1..] {
                    let r = self.eval(a, &per_item);
                    extend(&mut out, r);
                }
                out
            }
            Func::Sort => {
                if args.is_empty() {
                    self.consume(input.clone());
                }
                self.consume_args(args, &per_item);
                input
            }
            Func::First | Func::Last | Func::Tail | Func::Single | Func::Skip | Func::Take | Func::Trace => {
                self.consume_args(args, cx);
                input
            }
            // These compare items by deep equality.
            Func::Distinct | Func::Intersect | Func::Exclude | Func::Union => {
                self.consume(input.clone());
                let other = self.consume_args(args, cx);
                let mut out = input;
                if func == Func::Union {
                    extend(&mut out, other);
                }
                out
            }
            Func::Combine => {
                let mut out = input;
                for a in args {
                    let r = self.eval(a, cx);
                    extend(&mut out, r);
                }
                out
            }
            Func::Children => with_step(&input, Step::AnyChild),
            Func::Descendants => with_step(&input, Step::AnyDescendant),
            Func::Extension => {
                self.consume_args(args, cx);
                let exts = child(&input, "extension");
                self.consume(child(&exts, "url"));
                exts
            }
            // `#id` finds a contained resource, `Type/id` an entry of the root Bundle.
            Func::Resolve => {
                self.consume(input);
                self.consume(vec![vec![name("contained")], vec![name("entry")]]);
                vec![vec![name("contained")], vec![name("entry"), name("resource")]]
            }
            // Everything else computes a value from its input and arguments.
            _ => {
                self.consume(input);
                self.consume_args(args, cx);
                Vec::new()
            }
        }
    }

    /// `repeat(e)`: results of `e` applied again and again, to a fixpoint or,
    /// failing that, widened to everything at or under what was seen.
    fn repeat(&mut self, step: &Expr, input: Vec<Path>, cx: &Ctx) -> Vec<Path> {
        let mut out: Vec<Path> = Vec::new();
        for _ in 0..4 {
            let mut this = input.clone();
            extend(&mut this, out.clone());
            let r = self.eval(step, &Ctx { this, total: cx.total.clone() });
            if r.iter().all(|p| out.iter().any(|o| covers(o, p))) {
                return out;
            }
            extend(&mut out, r);
        }
        let mut wide = with_step(&input, Step::AnyDescendant);
        extend(&mut wide, with_step(&out, Step::AnyDescendant));
        let r = self.eval(step, &Ctx { this: wide.clone(), total: cx.total.clone() });
        if r.iter().all(|p| wide.iter().any(|w| covers(w, p))) {
            return wide;
        }
        self.eval(step, &Ctx { this: any_node(), total: cx.total.clone() });
        any_node()
    }

    /// `aggregate(e, init)`: `$total` is `init` or an earlier result of `e`.
    fn aggregate(&mut self, step: &Expr, input: Vec<Path>, init: Vec<Path>) -> Vec<Path> {
        let mut total = init;
        for _ in 0..4 {
            let r = self.eval(step, &Ctx { this: input.clone(), total: total.clone() });
            if r.iter().all(|p| total.iter().any(|t| covers(t, p))) {
                return total;
            }
            extend(&mut total, r);
        }
        self.eval(step, &Ctx { this: input, total: any_node() });
        any_node()
    }
}

fn name(s: &str) -> Step {
    Step::Name(s.to_string())
}

/// Adds a dependency path, keeping the shortest of paths that extend one another
/// (a path covers everything under it, and `**` everything after it).
fn add_dependency(deps: &mut Vec<Path>, mut p: Path) {
    if let Some(i) = p.iter().position(|s| *s == Step::AnyDescendant) {
        p.truncate(i + 1);
    }
    if deps.iter().any(|q| p.starts_with(q)) {
        return;
    }
    deps.retain(|q| !q.starts_with(&p));
    deps.push(p);
}

impl Expression {
    /// Element paths (from the focus/root resource) such that the result of
    /// evaluating this expression on a resource depends only on the values at,
    /// under, or on the presence of nodes along, these paths. `[]` (empty path)
    /// means the whole resource.
    pub fn dependencies(&self) -> Vec<Vec<Step>> {
        let mut a = Analysis { used: Vec::new(), presence: Vec::new(), steps_left: BUDGET };
        let results = a.eval(&self.root, &Ctx { this: vec![Vec::new()], total: Vec::new() });
        if a.steps_left == 0 {
            return vec![Vec::new()];
        }
        let mut deps = Vec::new();
        for p in a.used.into_iter().chain(results) {
            add_dependency(&mut deps, p);
        }
        // A node's presence is implied by any path through it (longest first, to
        // imply its ancestors); the root is always there.
        a.presence.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in a.presence {
            if !p.is_empty() && !deps.iter().any(|q| q.starts_with(&p)) {
                add_dependency(&mut deps, p);
            }
        }
        deps
    }
}

/// Could an expression with these dependencies depend on the element at `field`
/// (segments like `["name", "given"]`; a segment may end in `[x]`, e.g. `value[x]`,
/// meaning every choice key `valueQuantity`, `valueString`...)? True when some
/// dependency path is a prefix of `field` or `field` is a prefix of it, segment-wise.
pub fn depends_on(dependencies: &[Vec<Step>], field: &[&str]) -> bool {
    dependencies.iter().any(|d| overlaps(d, field))
}

fn overlaps(dep: &[Step], field: &[&str]) -> bool {
    match (dep.split_first(), field.split_first()) {
        (None, _) | (_, None) | (Some((Step::AnyDescendant, _)), _) => true,
        (Some((Step::AnyChild, rest)), Some((_, more))) => overlaps(rest, more),
        (Some((Step::Name(s), rest)), Some((f, more))) => segment_matches(s, f) && overlaps(rest, more),
    }
}

/// A step against a field segment: equal, a choice element against `x[x]` or
/// one of its keys (polymorphic `value` reaches `valueQuantity`). A primitive's
/// `_name` (its id and extensions) belongs to `name`.
fn segment_matches(step: &str, field: &str) -> bool {
    let s = step.strip_prefix('_').unwrap_or(step);
    let f = field.strip_prefix('_').unwrap_or(field);
    let choice_of = |key: &str, base: &str| key.strip_prefix(base).is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase()));
    match f.strip_suffix("[x]") {
        Some(base) => s == base || choice_of(s, base),
        None => s == f || choice_of(f, s) || choice_of(s, f),
    }
}
