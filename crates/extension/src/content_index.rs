//! Plain SQL on `fhir.resources`, indexable under policy.
//!
//! A client's `content @> …` or `content->'a'->>'b' = …` is not leakproof,
//! so row-level security keeps it from the index and every row of the type
//! is checked. A planner hook adds, beside each such condition, a leakproof
//! containment it implies (`content OPERATOR(fhir.@>) {"a": {"b": …}}`,
//! `fhir_access_core::implied`): PostgreSQL may run that before the policy,
//! on the GIN index `resource_content_idx`, and the client's own condition
//! still decides after it. The view's unredacted branch carries the raw
//! column; for a session that hides fields the containment lands on the
//! redacted content, after the policy, so hidden values never filter rows.
//! The recursive walks check PostgreSQL's stack depth, as its own do.

use crate::errors::raise;
use crate::jsonb::{self, RawJsonb};
use crate::storage;
use fhir_access_core::implied::{self, Leaf, Step};
use fhir_access_core::outcome::FhirError;
use pgrx::datum::Internal;
use pgrx::prelude::*;
use pgrx::PgList;
use std::cell::Cell;
use std::ffi::{c_char, c_int, CStr};

/// `value` placed at `steps` (a NULL step is an array element).
#[pg_extern(immutable, parallel_safe)]
fn _content_document(steps: Array<&str>, value: RawJsonb) -> RawJsonb {
    // SAFETY: a jsonb datum, not null.
    let size = unsafe { pg_sys::toast_raw_datum_size(value.0) };
    jsonb::from_text(&implied::equality_document(&steps_of(steps), size, || jsonb::text_of(value)))
}

/// A value that `->>` turns into `value`, placed at `steps`: the string
/// (`as_string`), or the number, boolean, object or array; NULL when none.
#[pg_extern(immutable, parallel_safe)]
fn _content_text_document(steps: Array<&str>, value: &str, as_string: bool) -> Option<RawJsonb> {
    let document = implied::text_document(&steps_of(steps), value, if as_string { Leaf::String } else { Leaf::Other })?;
    Some(jsonb::from_text(&document))
}

/// The selectivity of `content OPERATOR(fhir.@>) document`: a constant that
/// takes a client's condition on content to pick a handful of rows (one in a
/// million), so that the planner narrows by it alone rather than also
/// scanning the policy's keys (a BitmapAnd with `_type=Observation` reads
/// every Observation's entry). Never the column's statistics: they cover
/// every project and every hidden value, and plans would follow them.
#[pg_extern(immutable, parallel_safe)]
fn _content_contains_sel(_root: Internal, _operator: pg_sys::Oid, _args: Internal, _var_relid: i32) -> f64 {
    1e-6
}

/// The steps the hook wrote (NULL for an array element). Called directly
/// with longer paths or keys, the helpers refuse them rather than copy them.
fn steps_of(steps: Array<&str>) -> Vec<Step> {
    if steps.len() > implied::MAX_STEPS || steps.iter().flatten().any(|key| key.len() > implied::MAX_KEY) {
        raise(FhirError::invalid("The path is longer than a containment document may be"));
    }
    steps.iter().map(|step| step.map_or(Step::Index, |key| Step::Key(key.to_owned()))).collect()
}

static mut PREVIOUS: pg_sys::planner_hook_type = None;

pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement.
    unsafe {
        PREVIOUS = pg_sys::planner_hook;
        pg_sys::planner_hook = Some(planner);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn planner(
    parse: *mut pg_sys::Query,
    query_string: *const c_char,
    cursor_options: c_int,
    bound_params: pg_sys::ParamListInfo,
) -> *mut pg_sys::PlannedStmt {
    if let Some(catalog) = Catalog::current() {
        // SAFETY: the planner's own parse tree, which it may scribble on.
        unsafe { add_to_query(parse, &catalog) };
    }
    // SAFETY: the arguments are passed through.
    unsafe {
        match PREVIOUS {
            Some(previous) => previous(parse, query_string, cursor_options, bound_params),
            None => pg_sys::standard_planner(parse, query_string, cursor_options, bound_params),
        }
    }
}

/// The extension's objects the hook builds with, as OIDs of this database.
#[derive(Clone, Copy)]
struct Catalog {
    view: pg_sys::Oid,
    content: i16,
    contains_op: pg_sys::Oid,
    contains_fn: pg_sys::Oid,
    document: pg_sys::Oid,
    text_document: pg_sys::Oid,
}

thread_local! {
    static CACHED: Cell<Option<Catalog>> = const { Cell::new(None) };
}

impl Catalog {
    /// The catalog when `fhir.resources` exists in a UTF-8 database (the
    /// documents are built as UTF-8 text), cached for as long as the view is
    /// the same.
    fn current() -> Option<Catalog> {
        // SAFETY: reads a backend global.
        if unsafe { pg_sys::GetDatabaseEncoding() } != pg_sys::pg_enc::PG_UTF8 as c_int {
            return None;
        }
        let view = storage::resources_view()?;
        if let Some(cached) = CACHED.get().filter(|c| c.view == view) {
            return Some(cached);
        }
        // SAFETY: `view` is the OID of fhir.resources.
        let found = unsafe { Catalog::lookup(view) };
        CACHED.set(found);
        found
    }

    /// SAFETY: `view` is the OID of `fhir.resources`.
    unsafe fn lookup(view: pg_sys::Oid) -> Option<Catalog> {
        use pg_sys::{BOOLOID, JSONBOID, TEXTARRAYOID, TEXTOID};
        // SAFETY: lookups by qualified name, missing_ok; the name lists are
        // only read.
        unsafe {
            let names = |name: &CStr| {
                let list = pg_sys::lappend(std::ptr::null_mut(), pg_sys::makeString(c"fhir".as_ptr().cast_mut()).cast());
                pg_sys::lappend(list, pg_sys::makeString(name.as_ptr().cast_mut()).cast())
            };
            let function =
                |name: &CStr, args: &[pg_sys::Oid]| pg_sys::LookupFuncName(names(name), args.len() as c_int, args.as_ptr(), true);
            let catalog = Catalog {
                view,
                content: pg_sys::get_attnum(view, c"content".as_ptr()),
                contains_op: pg_sys::OpernameGetOprid(names(c"@>"), JSONBOID, JSONBOID),
                contains_fn: function(c"content_contains", &[JSONBOID, JSONBOID]),
                document: function(c"_content_document", &[TEXTARRAYOID, JSONBOID]),
                text_document: function(c"_content_text_document", &[TEXTARRAYOID, TEXTOID, BOOLOID]),
            };
            let found = catalog.content > 0
                && [catalog.contains_op, catalog.contains_fn, catalog.document, catalog.text_document]
                    .iter()
                    .all(|o| *o != pg_sys::InvalidOid);
            found.then_some(catalog)
        }
    }
}

/// Adds the implied containments to every level of `query`.
///
/// SAFETY: `query` is a valid Query tree.
unsafe fn add_to_query(query: *mut pg_sys::Query, catalog: &Catalog) {
    // SAFETY: the tree's own lists and nodes.
    unsafe {
        pg_sys::check_stack_depth();
        for rte in PgList::<pg_sys::RangeTblEntry>::from_pg((*query).rtable).iter_ptr() {
            if (*rte).rtekind == pg_sys::RTEKind::RTE_SUBQUERY && !(*rte).subquery.is_null() {
                add_to_query((*rte).subquery, catalog);
            }
        }
        for cte in PgList::<pg_sys::CommonTableExpr>::from_pg((*query).cteList).iter_ptr() {
            if is_a((*cte).ctequery, pg_sys::NodeTag::T_Query) {
                add_to_query((*cte).ctequery.cast(), catalog);
            }
        }
        let tree = (*query).jointree;
        if tree.is_null() {
            return;
        }
        add_to_qual(&mut (*tree).quals, query, catalog);
        for item in PgList::<pg_sys::Node>::from_pg((*tree).fromlist).iter_ptr() {
            add_to_joins(item, query, catalog);
        }
    }
}

/// SAFETY: `node` is a jointree item of `query`.
unsafe fn add_to_joins(node: *mut pg_sys::Node, query: *mut pg_sys::Query, catalog: &Catalog) {
    // SAFETY: checked to be a JoinExpr.
    unsafe {
        pg_sys::check_stack_depth();
        if !is_a(node, pg_sys::NodeTag::T_JoinExpr) {
            return;
        }
        let join = node.cast::<pg_sys::JoinExpr>();
        add_to_qual(&mut (*join).quals, query, catalog);
        add_to_joins((*join).larg, query, catalog);
        add_to_joins((*join).rarg, query, catalog);
    }
}

/// ANDs the containments implied by the top-level conjuncts of `*qual` to it,
/// and visits the subqueries of its sublinks.
///
/// SAFETY: `*qual` is null or a boolean expression of `query`.
unsafe fn add_to_qual(qual: &mut *mut pg_sys::Node, query: *mut pg_sys::Query, catalog: &Catalog) {
    let mut conjuncts = Vec::new();
    // SAFETY: the expression's own nodes.
    unsafe {
        conjuncts_of(*qual, &mut conjuncts);
        let mut added: *mut pg_sys::List = std::ptr::null_mut();
        for conjunct in conjuncts {
            if let Some(implied) = implied_by(conjunct, query, catalog) {
                added = pg_sys::lappend(added, implied.cast());
            }
        }
        visit_sublinks(*qual, catalog);
        if !added.is_null() {
            let all = pg_sys::lcons((*qual).cast(), added);
            *qual = pg_sys::makeBoolExpr(pg_sys::BoolExprType::AND_EXPR, all, -1).cast();
        }
    }
}

/// SAFETY: `node` is null or an expression.
unsafe fn conjuncts_of(node: *mut pg_sys::Node, out: &mut Vec<*mut pg_sys::Node>) {
    // SAFETY: checked node tags.
    unsafe {
        pg_sys::check_stack_depth();
        if is_a(node, pg_sys::NodeTag::T_BoolExpr) && (*node.cast::<pg_sys::BoolExpr>()).boolop == pg_sys::BoolExprType::AND_EXPR {
            for arg in PgList::<pg_sys::Node>::from_pg((*node.cast::<pg_sys::BoolExpr>()).args).iter_ptr() {
                conjuncts_of(arg, out);
            }
        } else if !node.is_null() {
            out.push(node);
        }
    }
}

/// The subqueries of sublinks under AND, OR and NOT (`EXISTS`, `IN`).
///
/// SAFETY: `node` is null or an expression.
unsafe fn visit_sublinks(node: *mut pg_sys::Node, catalog: &Catalog) {
    // SAFETY: checked node tags.
    unsafe {
        pg_sys::check_stack_depth();
        if is_a(node, pg_sys::NodeTag::T_BoolExpr) {
            for arg in PgList::<pg_sys::Node>::from_pg((*node.cast::<pg_sys::BoolExpr>()).args).iter_ptr() {
                visit_sublinks(arg, catalog);
            }
        } else if is_a(node, pg_sys::NodeTag::T_SubLink) {
            let select = (*node.cast::<pg_sys::SubLink>()).subselect;
            if is_a(select, pg_sys::NodeTag::T_Query) {
                add_to_query(select.cast(), catalog);
            }
        }
    }
}

/// The leakproof containment `conjunct` implies on the view's content, if any.
///
/// SAFETY: `conjunct` is an expression of `query`.
unsafe fn implied_by(conjunct: *mut pg_sys::Node, query: *mut pg_sys::Query, catalog: &Catalog) -> Option<*mut pg_sys::Node> {
    // SAFETY: checked node tags; the arguments are expressions of `query`.
    unsafe {
        if !is_a(conjunct, pg_sys::NodeTag::T_OpExpr) {
            return None;
        }
        let op = conjunct.cast::<pg_sys::OpExpr>();
        let args = PgList::<pg_sys::Node>::from_pg((*op).args);
        let (left, right) = (args.get_ptr(0)?, args.get_ptr(1)?);
        match function_of(op).to_u32() {
            pg_sys::F_JSONB_CONTAINS => contained(left, right, query, catalog),
            pg_sys::F_JSONB_CONTAINED => contained(right, left, query, catalog),
            pg_sys::F_JSONB_EQ => {
                let (base, steps, value) = path_and_value(left, right, false, query, catalog)?;
                Some(containment(base, call(catalog.document, &[steps, value]), catalog))
            }
            pg_sys::F_TEXTEQ => {
                let (base, steps, value) = path_and_value(left, right, true, query, catalog)?;
                // A nondeterministic collation equates texts that containment does not.
                let collation = (*op).inputcollid;
                if collation == pg_sys::InvalidOid || !pg_sys::get_collation_isdeterministic(collation) {
                    return None;
                }
                let arms: Vec<_> = [true, false]
                    .into_iter()
                    .filter_map(|as_string| {
                        let document = call(catalog.text_document, &[steps, value, pg_sys::makeBoolConst(as_string, false)]);
                        // A constant is folded now, so that an arm no value can take leaves the plan.
                        let document = if is_a(value, pg_sys::NodeTag::T_Const) {
                            pg_sys::eval_const_expressions(std::ptr::null_mut(), document)
                        } else {
                            document
                        };
                        let never = is_a(document, pg_sys::NodeTag::T_Const) && (*document.cast::<pg_sys::Const>()).constisnull;
                        (!never).then(|| containment(base, document, catalog))
                    })
                    .collect();
                match arms.as_slice() {
                    [] => None,
                    [one] => Some(*one),
                    _ => {
                        let list = arms.iter().fold(std::ptr::null_mut(), |list, arm| pg_sys::lappend(list, (*arm).cast()));
                        Some(pg_sys::makeBoolExpr(pg_sys::BoolExprType::OR_EXPR, list, -1).cast())
                    }
                }
            }
            _ => None,
        }
    }
}

/// `container @> value`: on the content itself, or on a path into it when
/// the value is an object constant (`content->'subject' @> '{"reference": …}'`
/// implies `content @> {"subject": {"reference": …}}`; a scalar would not,
/// since only a top-level array contains a bare scalar).
///
/// SAFETY: both are expressions of `query`.
unsafe fn contained(
    container: *mut pg_sys::Node,
    value: *mut pg_sys::Node,
    query: *mut pg_sys::Query,
    catalog: &Catalog,
) -> Option<*mut pg_sys::Node> {
    // SAFETY: expressions of `query`; a jsonb constant's datum.
    unsafe {
        if is_content(container, query, catalog) && is_value(value) {
            return Some(containment(container, value, catalog));
        }
        let (base, steps) = path_of(container, false, query, catalog)?;
        let object = strip_relabel(value);
        let is_object = is_a(object, pg_sys::NodeTag::T_Const)
            && (*object.cast::<pg_sys::Const>()).consttype == pg_sys::JSONBOID
            && !(*object.cast::<pg_sys::Const>()).constisnull
            && jsonb::is_object(RawJsonb((*object.cast::<pg_sys::Const>()).constvalue));
        is_object.then(|| containment(base, call(catalog.document, &[steps_const(steps), value]), catalog))
    }
}

/// `path = value` or `value = path`: the content the path starts from, its
/// steps as a text[] constant and the value.
///
/// SAFETY: `left` and `right` are expressions of `query`.
unsafe fn path_and_value(
    left: *mut pg_sys::Node,
    right: *mut pg_sys::Node,
    text: bool,
    query: *mut pg_sys::Query,
    catalog: &Catalog,
) -> Option<(*mut pg_sys::Node, *mut pg_sys::Node, *mut pg_sys::Node)> {
    // SAFETY: expressions of `query`.
    unsafe {
        [(left, right), (right, left)].into_iter().find_map(|(path, value)| {
            let (base, steps) = path_of(path, text, query, catalog)?;
            (is_value(value) && implied::equality_path(&steps)).then(|| (base, steps_const(steps), value))
        })
    }
}

/// Steps as a text[] constant, a NULL element for an array element.
fn steps_const(steps: Vec<Step>) -> *mut pg_sys::Node {
    let steps: Vec<Option<String>> = steps.into_iter().map(|s| if let Step::Key(k) = s { Some(k) } else { None }).collect();
    let datum = steps.into_datum().expect("an array is not null");
    // SAFETY: a node constructor; the datum is a text[] of this memory context.
    unsafe { pg_sys::makeConst(pg_sys::TEXTARRAYOID, -1, pg_sys::DEFAULT_COLLATION_OID, -1, datum, false, false).cast() }
}

/// The content a `->` / `->>` / `#>` / `#>>` chain starts from, and its
/// steps (at most `MAX_STEPS`). `text`: the chain must end in a
/// text-returning operator.
///
/// SAFETY: `node` is an expression of `query`.
unsafe fn path_of(
    node: *mut pg_sys::Node,
    text: bool,
    query: *mut pg_sys::Query,
    catalog: &Catalog,
) -> Option<(*mut pg_sys::Node, Vec<Step>)> {
    // SAFETY: expressions of `query`.
    unsafe { path_within(node, text, query, catalog, implied::MAX_STEPS) }
}

/// `path_of`, giving up past `budget` steps before looking further down.
///
/// SAFETY: `node` is an expression of `query`.
unsafe fn path_within(
    node: *mut pg_sys::Node,
    text: bool,
    query: *mut pg_sys::Query,
    catalog: &Catalog,
    budget: usize,
) -> Option<(*mut pg_sys::Node, Vec<Step>)> {
    // SAFETY: checked node tags; arguments of a known function.
    unsafe {
        pg_sys::check_stack_depth();
        let node = strip_relabel(node);
        let (function, args) = if is_a(node, pg_sys::NodeTag::T_OpExpr) {
            (function_of(node.cast()).to_u32(), (*node.cast::<pg_sys::OpExpr>()).args)
        } else if is_a(node, pg_sys::NodeTag::T_FuncExpr) {
            ((*node.cast::<pg_sys::FuncExpr>()).funcid.to_u32(), (*node.cast::<pg_sys::FuncExpr>()).args)
        } else {
            return None;
        };
        let args = PgList::<pg_sys::Node>::from_pg(args);
        let (inner, key) = (args.get_ptr(0)?, args.get_ptr(1)?);
        let last: Vec<Step> = match (function, text) {
            (pg_sys::F_JSONB_OBJECT_FIELD, false) | (pg_sys::F_JSONB_OBJECT_FIELD_TEXT, true) => vec![Step::Key(text_const(key)?)],
            (pg_sys::F_JSONB_ARRAY_ELEMENT, false) | (pg_sys::F_JSONB_ARRAY_ELEMENT_TEXT, true) => vec![Step::Index],
            (pg_sys::F_JSONB_EXTRACT_PATH, false) | (pg_sys::F_JSONB_EXTRACT_PATH_TEXT, true) if args.len() == 2 => {
                path_elements(key)?.iter().map(|e| implied::path_element(e)).collect::<Option<_>>()?
            }
            _ => return None,
        };
        let budget = budget.checked_sub(last.len())?;
        if is_content(inner, query, catalog) {
            return Some((inner, last));
        }
        let (base, mut steps) = path_within(inner, false, query, catalog, budget)?;
        steps.extend(last);
        Some((base, steps))
    }
}

/// The elements of a `#>` path: a text[] constant or `ARRAY[...]` of text
/// constants, none copied unless all are within the limits.
///
/// SAFETY: `node` is an expression.
unsafe fn path_elements(node: *mut pg_sys::Node) -> Option<Vec<String>> {
    // SAFETY: checked node tags and types.
    unsafe {
        let node = strip_relabel(node);
        if is_a(node, pg_sys::NodeTag::T_Const) {
            let c = node.cast::<pg_sys::Const>();
            if (*c).consttype != pg_sys::TEXTARRAYOID || (*c).constisnull {
                return None;
            }
            let array = Array::<&str>::from_datum((*c).constvalue, false)?;
            if array.len() > implied::MAX_STEPS || array.iter().any(|e| e.is_none_or(|e| e.len() > implied::MAX_KEY)) {
                return None;
            }
            array.iter().map(|e| e.map(str::to_owned)).collect()
        } else if is_a(node, pg_sys::NodeTag::T_ArrayExpr) {
            let elements = PgList::<pg_sys::Node>::from_pg((*node.cast::<pg_sys::ArrayExpr>()).elements);
            if elements.len() > implied::MAX_STEPS {
                return None;
            }
            elements.iter_ptr().map(|e| text_const(e)).collect()
        } else {
            None
        }
    }
}

/// A non-null text constant's value.
///
/// SAFETY: `node` is an expression.
unsafe fn text_const(node: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: checked node tag and type.
    unsafe {
        let node = strip_relabel(node);
        if !is_a(node, pg_sys::NodeTag::T_Const) {
            return None;
        }
        let c = node.cast::<pg_sys::Const>();
        if (*c).consttype != pg_sys::TEXTOID || (*c).constisnull || pg_sys::toast_raw_datum_size((*c).constvalue) > implied::MAX_KEY {
            return None;
        }
        String::from_datum((*c).constvalue, false)
    }
}

/// Whether `node` is the view's content column, directly or through the
/// output columns of plain subqueries and CTEs.
///
/// SAFETY: `node` is an expression of `query`.
unsafe fn is_content(node: *mut pg_sys::Node, query: *mut pg_sys::Query, catalog: &Catalog) -> bool {
    // SAFETY: checked node tags; range-table indexes checked against its length.
    unsafe {
        pg_sys::check_stack_depth();
        let node = strip_relabel(node);
        if !is_a(node, pg_sys::NodeTag::T_Var) || (*node.cast::<pg_sys::Var>()).varlevelsup != 0 {
            return false;
        }
        let var = node.cast::<pg_sys::Var>();
        let rtable = PgList::<pg_sys::RangeTblEntry>::from_pg((*query).rtable);
        let Some(rte) = usize::try_from((*var).varno).ok().and_then(|n| n.checked_sub(1)).and_then(|i| rtable.get_ptr(i)) else {
            return false;
        };
        let inner = match (*rte).rtekind {
            pg_sys::RTEKind::RTE_SUBQUERY if !(*rte).subquery.is_null() => {
                if is_view(rte, catalog) {
                    return (*var).varattno == catalog.content;
                }
                (*rte).subquery
            }
            // A CTE the planner inlines takes the condition with it; one it
            // materializes is scanned with the condition after it (no index).
            pg_sys::RTEKind::RTE_CTE if (*rte).ctelevelsup == 0 => {
                let name = CStr::from_ptr((*rte).ctename);
                let Some(cte) = PgList::<pg_sys::CommonTableExpr>::from_pg((*query).cteList)
                    .iter_ptr()
                    .find(|cte| CStr::from_ptr((**cte).ctename) == name && !(**cte).cterecursive)
                else {
                    return false;
                };
                if !is_a((*cte).ctequery, pg_sys::NodeTag::T_Query) {
                    return false;
                }
                (*cte).ctequery.cast()
            }
            _ => return false,
        };
        if !(*inner).setOperations.is_null() {
            return false;
        }
        PgList::<pg_sys::TargetEntry>::from_pg((*inner).targetList)
            .iter_ptr()
            .find(|tle| (**tle).resno == (*var).varattno && !(**tle).resjunk)
            .is_some_and(|tle| is_content((*tle).expr.cast(), inner, catalog))
    }
}

/// Whether a subquery entry is the expanded view: PostgreSQL 16 and later
/// keep the view's OID on it, 15 keeps the view's own entry inside it.
///
/// SAFETY: `rte` is a subquery entry with a subquery.
unsafe fn is_view(rte: *mut pg_sys::RangeTblEntry, catalog: &Catalog) -> bool {
    // SAFETY: the entry's own fields and range table.
    unsafe {
        (*rte).relid == catalog.view
            || PgList::<pg_sys::RangeTblEntry>::from_pg((*(*rte).subquery).rtable)
                .iter_ptr()
                .any(|inner| (*inner).rtekind == pg_sys::RTEKind::RTE_RELATION && (*inner).relid == catalog.view)
    }
}

/// A value the implied condition may repeat: a constant, a parameter or a
/// column (of another relation, or an outer query's).
///
/// SAFETY: `node` is an expression.
unsafe fn is_value(node: *mut pg_sys::Node) -> bool {
    // SAFETY: checked node tags.
    unsafe {
        let node = strip_relabel(node);
        [pg_sys::NodeTag::T_Const, pg_sys::NodeTag::T_Param, pg_sys::NodeTag::T_Var].into_iter().any(|tag| is_a(node, tag))
    }
}

/// `base OPERATOR(fhir.@>) document`, on copies of both (a tree shares no node).
///
/// SAFETY: both are expressions.
unsafe fn containment(base: *mut pg_sys::Node, document: *mut pg_sys::Node, catalog: &Catalog) -> *mut pg_sys::Node {
    // SAFETY: node constructors.
    unsafe {
        let (base, document) = (pg_sys::copyObjectImpl(base.cast()).cast(), pg_sys::copyObjectImpl(document.cast()).cast());
        let op = pg_sys::make_opclause(catalog.contains_op, pg_sys::BOOLOID, false, base, document, pg_sys::InvalidOid, pg_sys::InvalidOid);
        (*op.cast::<pg_sys::OpExpr>()).opfuncid = catalog.contains_fn;
        op.cast()
    }
}

/// A call of `function` (returning jsonb) on copies of `args`.
///
/// SAFETY: `args` are expressions of the function's argument types.
unsafe fn call(function: pg_sys::Oid, args: &[*mut pg_sys::Node]) -> *mut pg_sys::Node {
    // SAFETY: node constructors.
    unsafe {
        let list = args.iter().fold(std::ptr::null_mut(), |list, arg| pg_sys::lappend(list, pg_sys::copyObjectImpl((*arg).cast())));
        pg_sys::makeFuncExpr(
            function,
            pg_sys::JSONBOID,
            list,
            pg_sys::InvalidOid,
            pg_sys::DEFAULT_COLLATION_OID,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        )
        .cast()
    }
}

/// The function behind an operator (parse trees may leave `opfuncid` unset).
///
/// SAFETY: `op` is an OpExpr.
unsafe fn function_of(op: *mut pg_sys::OpExpr) -> pg_sys::Oid {
    // SAFETY: an OpExpr; get_opcode is a syscache lookup.
    unsafe {
        if (*op).opfuncid != pg_sys::InvalidOid {
            (*op).opfuncid
        } else {
            pg_sys::get_opcode((*op).opno)
        }
    }
}

/// SAFETY: `node` is null or a node.
unsafe fn strip_relabel(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: checked node tags.
    unsafe {
        while is_a(node, pg_sys::NodeTag::T_RelabelType) {
            node = (*node.cast::<pg_sys::RelabelType>()).arg.cast();
        }
    }
    node
}

/// SAFETY: `node` is null or a node.
unsafe fn is_a(node: *mut pg_sys::Node, tag: pg_sys::NodeTag) -> bool {
    // SAFETY: a non-null node starts with its tag.
    !node.is_null() && unsafe { (*node).type_ } == tag
}
