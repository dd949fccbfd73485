//! The parsed expression tree. Function names and type names are resolved at
//! parse time so evaluation never looks them up by string.

use crate::model::{FieldCache, TypeId};
use crate::value::Item;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeOp {
    Is,
    As,
    OfType,
}

/// FHIRPath system (primitive) types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemType {
    Boolean,
    Integer,
    Decimal,
    String,
    Date,
    DateTime,
    Time,
    Quantity,
}

impl SystemType {
    pub fn from_name(name: &str) -> Option<SystemType> {
        Some(match name {
            "Boolean" => SystemType::Boolean,
            "Integer" => SystemType::Integer,
            "Decimal" => SystemType::Decimal,
            "String" => SystemType::String,
            "Date" => SystemType::Date,
            "DateTime" => SystemType::DateTime,
            "Time" => SystemType::Time,
            "Quantity" => SystemType::Quantity,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SystemType::Boolean => "Boolean",
            SystemType::Integer => "Integer",
            SystemType::Decimal => "Decimal",
            SystemType::String => "String",
            SystemType::Date => "Date",
            SystemType::DateTime => "DateTime",
            SystemType::Time => "Time",
            SystemType::Quantity => "Quantity",
        }
    }
}

/// A type specifier such as `Quantity`, `System.Boolean` or `FHIR.Patient`:
/// an unqualified name may denote a system type, a FHIR type, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeSpec {
    pub system: Option<SystemType>,
    pub fhir: Option<TypeId>,
}

macro_rules! functions {
    ($($variant:ident = $name:literal ($min:literal, $max:literal)),* $(,)?) => {
        /// Every supported function, with its name and accepted argument counts.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Func { $($variant),* }

        impl Func {
            pub fn lookup(name: &str) -> Option<(Func, usize, usize)> {
                match name {
                    $($name => Some((Func::$variant, $min, $max)),)*
                    _ => None,
                }
            }
        }
    };
}

functions! {
    Empty = "empty"(0, 0), Exists = "exists"(0, 1), All = "all"(1, 1), AllTrue = "allTrue"(0, 0),
    AnyTrue = "anyTrue"(0, 0), AllFalse = "allFalse"(0, 0), AnyFalse = "anyFalse"(0, 0),
    SubsetOf = "subsetOf"(1, 1), SupersetOf = "supersetOf"(1, 1), Count = "count"(0, 0),
    Distinct = "distinct"(0, 0), IsDistinct = "isDistinct"(0, 0),
    Where = "where"(1, 1), Select = "select"(1, 1), Repeat = "repeat"(1, 1),
    Single = "single"(0, 0), First = "first"(0, 0), Last = "last"(0, 0), Tail = "tail"(0, 0),
    Skip = "skip"(1, 1), Take = "take"(1, 1), Intersect = "intersect"(1, 1), Exclude = "exclude"(1, 1),
    Union = "union"(1, 1), Combine = "combine"(1, 1), Iif = "iif"(2, 3),
    ToBoolean = "toBoolean"(0, 0), ConvertsToBoolean = "convertsToBoolean"(0, 0),
    ToInteger = "toInteger"(0, 0), ConvertsToInteger = "convertsToInteger"(0, 0),
    ToDecimal = "toDecimal"(0, 0), ConvertsToDecimal = "convertsToDecimal"(0, 0),
    ToStringFn = "toString"(0, 0), ConvertsToString = "convertsToString"(0, 0),
    ToDate = "toDate"(0, 0), ConvertsToDate = "convertsToDate"(0, 0),
    ToDateTime = "toDateTime"(0, 0), ConvertsToDateTime = "convertsToDateTime"(0, 0),
    ToTime = "toTime"(0, 0), ConvertsToTime = "convertsToTime"(0, 0),
    ToQuantity = "toQuantity"(0, 1), ConvertsToQuantity = "convertsToQuantity"(0, 1),
    IndexOf = "indexOf"(1, 1), Substring = "substring"(1, 2), StartsWith = "startsWith"(1, 1),
    EndsWith = "endsWith"(1, 1), Contains = "contains"(1, 1), Upper = "upper"(0, 0), Lower = "lower"(0, 0),
    Replace = "replace"(2, 2), Matches = "matches"(1, 1), MatchesFull = "matchesFull"(1, 1),
    ReplaceMatches = "replaceMatches"(2, 2), Length = "length"(0, 0), ToChars = "toChars"(0, 0),
    Trim = "trim"(0, 0), Split = "split"(1, 1), Join = "join"(0, 1),
    Encode = "encode"(1, 1), Decode = "decode"(1, 1), Escape = "escape"(1, 1), Unescape = "unescape"(1, 1),
    Abs = "abs"(0, 0), Ceiling = "ceiling"(0, 0), Exp = "exp"(0, 0), Floor = "floor"(0, 0),
    Ln = "ln"(0, 0), Log = "log"(1, 1), Power = "power"(1, 1), Round = "round"(0, 1),
    Sqrt = "sqrt"(0, 0), Truncate = "truncate"(0, 0),
    Children = "children"(0, 0), Descendants = "descendants"(0, 0),
    Trace = "trace"(1, 2), Now = "now"(0, 0), Today = "today"(0, 0), TimeOfDay = "timeOfDay"(0, 0),
    Not = "not"(0, 0), Aggregate = "aggregate"(1, 2), Sort = "sort"(0, 8), Type = "type"(0, 0),
    Extension = "extension"(1, 1), HasValue = "hasValue"(0, 0), GetValue = "getValue"(0, 0),
    Resolve = "resolve"(0, 0), LowBoundary = "lowBoundary"(0, 1), HighBoundary = "highBoundary"(0, 1),
    Precision = "precision"(0, 0), Comparable = "comparable"(1, 1), ConformsTo = "conformsTo"(1, 1),
}

#[derive(Clone, Debug)]
pub enum Expr {
    Literal(Item<'static>),
    EmptySet,
    This,
    Index,
    Total,
    Variable(Box<str>),
    /// An identifier at the start of a path: a member of `$this`, or a type name filter.
    Ident(Box<str>, FieldCache),
    /// `target.name`
    Member(Box<Expr>, Box<str>, FieldCache),
    /// `target.f(args)`, or `f(args)` on `$this` when there is no target.
    Call(Option<Box<Expr>>, Func, Vec<Expr>),
    /// `x is T`, `x as T`, `x.is(T)`, `x.as(T)`, `x.ofType(T)`.
    TypeTest(Option<Box<Expr>>, TypeOp, TypeSpec),
    Indexer(Box<Expr>, Box<Expr>),
    Negate(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
}
