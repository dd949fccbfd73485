//! FHIR search over flat string tokens: one semantics for reads and writes.
//!
//! [`index`] turns a resource into sorted, deduplicated tokens (stored in a
//! `text[]` column with a GIN index); a [`Matcher`] compiled from
//! [`Criteria`](crate::criteria::Criteria) decides a match from those tokens
//! alone. AccessPolicy criteria on writes ([`matches_resource`]) and on reads
//! (tokens of stored rows) therefore agree by construction.
//!
//! # Token grammar
//!
//! One string per indexed value; `code` is the search parameter code (codes
//! never contain `=~@#`):
//!
//! | token | from |
//! | --- | --- |
//! | `code=Type/id` and `code=id` | reference `Type/id[/_history/v]` (contained `#x` skipped) |
//! | `code=<url>` | absolute or canonical reference, `urn:` reference |
//! | `code=c`, `code=s\|c`, `code=s\|` | Coding / Identifier with a system (Identifier: `value` for `c`) |
//! | `code=c`, `code=\|c` | Coding / Identifier without a system |
//! | `code=v` | ContactPoint value, code/string/uri/id primitive, uri param, `_id`, `_project` |
//! | `code=true` / `code=false` | boolean |
//! | `code~Text` | string param, as written: HumanName given/family/prefix/suffix/text, Address line/city/district/state/postalCode/country/text |
//! | `code@LOW/HIGH` | date: closed range of UTC instants `YYYY-MM-DDTHH:MM:SS.sssZ`; Period ends open at `0001-…`/`9999-12-31T23:59:59.999Z` |
//! | `code#N` | number, decimal text as written |
//! | `code#N\|SYSTEM\|CODE` | Quantity; CODE is `code`, else `unit`; parts may be empty |
//! | `_compartment=Patient/id` and `_compartment=id` | the Patient compartment |
//!
//! `_compartment` tokens for the project and accounts are the caller's, via
//! [`compartment_tokens`]: `meta.compartment` in the submitted JSON is never
//! trusted.

mod index;
mod matcher;
mod sort;
mod values;

pub use index::{compartment_tokens, index, Index};
pub use matcher::{matches_resource, Matcher};
pub use sort::sort_key;

/// Separates the code from an exact value (reference, token, uri).
const EXACT: char = '=';
/// Separates the code from string text.
const TEXT: char = '~';
/// Separates the code from a date range.
const DATE: char = '@';
/// Separates the code from a number or quantity.
const NUMBER: char = '#';

/// The token every row of a type carries: row-level security finds the rows
/// of types a session may read outright by it.
pub fn type_token(resource_type: &str) -> String {
    format!("_type{EXACT}{resource_type}")
}

/// The value of `token` if it belongs to `code` with separator `sep`.
fn value_of<'t>(token: &'t str, code: &str, sep: char) -> Option<&'t str> {
    token.strip_prefix(code)?.strip_prefix(sep)
}
