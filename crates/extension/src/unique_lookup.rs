//! A query that names a resource by type and id reads it by the primary key
//! alone.
//!
//! `id` has no statistics (they would tell tenants apart), so PostgreSQL
//! estimates `resource_type = … AND id = …` at hundreds of rows and ANDs
//! the primary key with the policy's keys on the tokens index. That scan
//! reads every entry of a key such as `_type=Patient`: a read by id cost
//! time in proportion to the project. Past planning, a hook drops the other
//! indexes from a BitmapAnd that holds the primary key with both columns
//! pinned by equality: the key finds at most one row, and the policy's
//! conditions still run on it, as a filter.

use crate::storage;
use pgrx::prelude::*;
use pgrx::PgList;

static mut PREVIOUS: pg_sys::set_rel_pathlist_hook_type = None;

pub fn install() {
    // SAFETY: _PG_init runs once per backend, before any statement.
    unsafe {
        PREVIOUS = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    rte: *mut pg_sys::RangeTblEntry,
) {
    // SAFETY: the planner's own structures, passed on unchanged first.
    unsafe {
        if let Some(previous) = PREVIOUS {
            previous(root, rel, rti, rte);
        }
        if (*rte).rtekind != pg_sys::RTEKind::RTE_RELATION || (*rel).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL {
            return;
        }
        let mut checked = false;
        // Partial paths too: a Gather over them is built after this hook.
        let paths = PgList::<pg_sys::Path>::from_pg((*rel).pathlist);
        let partial = PgList::<pg_sys::Path>::from_pg((*rel).partial_pathlist);
        for path in paths.iter_ptr().chain(partial.iter_ptr()) {
            if (*path).type_ != pg_sys::NodeTag::T_BitmapHeapPath || !(*path).param_info.is_null() {
                continue;
            }
            let heap = path.cast::<pg_sys::BitmapHeapPath>();
            let Some(key) = pinned_unique_index((*heap).bitmapqual) else { continue };
            if !checked {
                if Some((*rte).relid) != storage::resource_table() {
                    return;
                }
                checked = true;
            }
            // The path keeps the BitmapAnd's cost: it still has to win.
            (*heap).bitmapqual = key;
        }
    }
}

/// Within a BitmapAnd, an index scan of a unique index whose every key
/// column is pinned by an equality.
///
/// SAFETY: `qual` is a bitmap path of the planner's.
unsafe fn pinned_unique_index(qual: *mut pg_sys::Path) -> Option<*mut pg_sys::Path> {
    // SAFETY: checked node tags; the index's arrays have nkeycolumns entries.
    unsafe {
        if (*qual).type_ != pg_sys::NodeTag::T_BitmapAndPath {
            return None;
        }
        let and = qual.cast::<pg_sys::BitmapAndPath>();
        PgList::<pg_sys::Path>::from_pg((*and).bitmapquals).iter_ptr().find(|&p| {
            if (*p).type_ != pg_sys::NodeTag::T_IndexPath {
                return false;
            }
            let index = (*p.cast::<pg_sys::IndexPath>()).indexinfo;
            if !(*index).unique || (*index).nkeycolumns < 1 {
                return false;
            }
            let clauses = PgList::<pg_sys::IndexClause>::from_pg((*p.cast::<pg_sys::IndexPath>()).indexclauses);
            (0..(*index).nkeycolumns).all(|column| {
                let family = *(*index).opfamily.add(column as usize);
                clauses.iter_ptr().any(|c| (*c).indexcol as i32 == column && !(*c).lossy && is_equality((*(*c).rinfo).clause, family))
            })
        })
    }
}

/// SAFETY: `clause` is an expression.
unsafe fn is_equality(clause: *mut pg_sys::Expr, family: pg_sys::Oid) -> bool {
    // SAFETY: checked node tag.
    unsafe {
        (*clause.cast::<pg_sys::Node>()).type_ == pg_sys::NodeTag::T_OpExpr
            && pg_sys::get_op_opfamily_strategy((*clause.cast::<pg_sys::OpExpr>()).opno, family) == pg_sys::BTEqualStrategyNumber as i32
    }
}
