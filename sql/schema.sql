-- Storage: the current version of every resource and the full history.
--
-- Every row carries its project (a hard tenant wall) and its compartments
-- (`Project/<id>`, later `Patient/<id>` and account references), so that
-- row-level security can be expressed over indexed columns.

CREATE TABLE fhir.resource (
    resource_type text NOT NULL,
    id            text NOT NULL,
    project_id    text NOT NULL,
    version_id    text NOT NULL,
    last_updated  timestamptz NOT NULL,
    -- A deleted resource stays as a tombstone so that reads can answer "Gone".
    deleted       boolean NOT NULL DEFAULT false,
    compartments  text[] NOT NULL DEFAULT '{}',
    content       jsonb NOT NULL,
    PRIMARY KEY (resource_type, id)
);

-- Project walls and type-wide policies: all Observations of a project.
CREATE INDEX resource_project_type_idx ON fhir.resource (project_id, resource_type);
-- Compartment policies: a patient's resources, an account's resources.
CREATE INDEX resource_compartments_idx ON fhir.resource USING gin (compartments);

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

-- Clients never touch the tables: they go through fhir.resources and the functions.
REVOKE ALL ON fhir.resource, fhir.resource_history FROM PUBLIC;
