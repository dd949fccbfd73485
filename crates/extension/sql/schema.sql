-- Storage: the current version of every resource and the full history.
--
-- Every row carries its project (a hard tenant wall) and its search tokens:
-- every search-parameter value extracted at write time, compartments and the
-- type included (`subject=Patient/1`, `_compartment=Patient/1`, `name~Smith`,
-- `birthdate@<low>/<high>`, `_type=Patient`), so that access policies and
-- searches are predicates over one indexed column.

-- Array overlap and containment on text[], declared LEAKPROOF: PostgreSQL only
-- lets leakproof operators from a query run before row-level security, so
-- only these can drive an index scan for a client's search. The built-in
-- functions behind them (called through operators.rs) raise no
-- data-dependent errors on text arrays.
-- (arraycontsel, the built-in operators' estimator, refuses other operators:
-- contsel's small constant selectivity is what lets the planner pick the index.)
CREATE FUNCTION fhir.tokens_overlap(text[], text[]) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'tokens_overlap_wrapper';
CREATE FUNCTION fhir.tokens_contain(text[], text[]) RETURNS boolean
    LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF AS 'MODULE_PATHNAME', 'tokens_contain_wrapper';
CREATE OPERATOR fhir.&& (
    LEFTARG = text[], RIGHTARG = text[], FUNCTION = fhir.tokens_overlap,
    COMMUTATOR = OPERATOR(fhir.&&), RESTRICT = contsel, JOIN = contjoinsel);
CREATE OPERATOR fhir.@> (
    LEFTARG = text[], RIGHTARG = text[], FUNCTION = fhir.tokens_contain,
    RESTRICT = contsel, JOIN = contjoinsel);

-- GIN over text[] with those operators (strategies as in the built-in array_ops).
CREATE OPERATOR CLASS fhir.token_ops FOR TYPE text[] USING gin AS
    OPERATOR 1 fhir.&& (text[], text[]),
    OPERATOR 2 fhir.@> (text[], text[]),
    FUNCTION 1 bttextcmp(text, text),
    FUNCTION 2 ginarrayextract(anyarray, internal, internal),
    FUNCTION 3 ginqueryarrayextract(anyarray, internal, smallint, internal, internal, internal, internal),
    FUNCTION 4 ginarrayconsistent(internal, smallint, anyarray, integer, internal, internal, internal, internal),
    FUNCTION 6 ginarraytriconsistent(internal, smallint, anyarray, integer, internal, internal, internal),
    STORAGE text;

CREATE TABLE fhir.resource (
    resource_type text NOT NULL,
    id            text NOT NULL,
    project_id    text NOT NULL,
    version_id    text NOT NULL,
    last_updated  timestamptz NOT NULL,
    -- A deleted resource stays as a tombstone so that reads can answer "Gone".
    deleted       boolean NOT NULL DEFAULT false,
    tokens        text[] NOT NULL DEFAULT '{}',
    content       jsonb NOT NULL,
    PRIMARY KEY (resource_type, id)
);

-- No statistics on the columns a client can compare that tell one tenant
-- from another. PostgreSQL plans a leakproof condition (`project_id =
-- 'other'`, a range of `last_updated`) from the column's statistics, which
-- count every tenant's rows; a plan's shape, even under EXPLAIN (COSTS OFF),
-- would then tell a client how much another project holds. Without them the
-- planner uses the same defaults whatever the data. `resource_type` keeps
-- its statistics: without them `resource_type = 'Observation'` looks
-- selective and the primary key would be scanned for every Observation; what
-- they tell is how common each type is in the whole database.
ALTER TABLE fhir.resource
    ALTER COLUMN project_id SET STATISTICS 0,
    ALTER COLUMN id SET STATISTICS 0,
    ALTER COLUMN version_id SET STATISTICS 0,
    ALTER COLUMN last_updated SET STATISTICS 0;

-- Project walls and type-wide policies: all Observations of a project.
CREATE INDEX resource_project_type_idx ON fhir.resource (project_id, resource_type);
-- Policies and searches: a patient's resources, an organization's patients.
-- Every read under policy scans this index, and each scan reads the GIN
-- pending list whole: at the default 4 MB, a read after 3,000 creates took
-- 9.2 ms instead of 0.08. At 64 kB (8 pages) reads stay as fast, and a
-- create costs 16% more than at 4 MB; without a pending list, 61% more.
CREATE INDEX resource_tokens_idx ON fhir.resource USING gin (tokens fhir.token_ops) WITH (gin_pending_list_limit = 64);

CREATE TABLE fhir.resource_history (
    resource_type text NOT NULL,
    id            text NOT NULL,
    version_id    text NOT NULL,
    project_id    text NOT NULL,
    last_updated  timestamptz NOT NULL,
    deleted       boolean NOT NULL,
    content       jsonb NOT NULL,
    PRIMARY KEY (resource_type, id, version_id)
);

-- fhir.history lists a resource's versions newest first.
CREATE INDEX resource_history_newest_idx ON fhir.resource_history (resource_type, id, last_updated DESC);

-- The audit trail's records of successful interactions, queued by the
-- transaction that made them (they commit and roll back with it) and moved
-- into fhir.resource as AuditEvents by the audit writer (audit.rs). Narrow,
-- without indexes, the record as the compact JSON text the writer builds its
-- AuditEvents from, compressed only past a page: recording costs an
-- interaction little.
CREATE TABLE fhir.audit_queue (
    project_id text NOT NULL,
    content    text NOT NULL
) WITH (toast_tuple_target = 8160);

-- Clients never touch the tables: they go through fhir.resources and the functions.
REVOKE ALL ON fhir.resource, fhir.resource_history, fhir.audit_queue FROM PUBLIC;
