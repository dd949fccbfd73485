#!/usr/bin/env bash
# The audit trail's records that cannot be stored: a refusal (its transaction
# is aborted) and anything in a read-only transaction go to the server log,
# one line each, `fhir_access audit: <AuditEvent>`, which the client never
# receives, whatever its client_min_messages. Prints "ok - ..." lines.
#
#   tests/ops/audit_log.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$(dirname "$0")/../lib.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
cluster=$(start_cluster "$pg_config")
trap 'stop_cluster "$pg_config" "$cluster"' EXIT
"$bindir/createdb" -h "$cluster" -U postgres audit_log
psql_() { "$bindir/psql" -X -q -h "$cluster" -U postgres -d audit_log -v ON_ERROR_STOP=1 -At "$@"; }
psql_ >/dev/null <<'SQL'
CREATE EXTENSION fhir_access;
ALTER DATABASE audit_log SET fhir.audit = 'all';
CREATE ROLE al_gateway;
SELECT fhir.grant_client('al_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "x"}, "meta": {"project": "p"}}');
SELECT fhir.create('{"resourceType": "AccessPolicy", "id": "ro", "meta": {"project": "p"}, "resource": [{"resourceType": "Observation", "readonly": true}]}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "m1", "meta": {"project": "p"}, "project": {"reference": "Project/p"},
                     "profile": {"reference": "Practitioner/doc"}, "accessPolicy": {"reference": "AccessPolicy/ro"}}');
SQL
# What the client sees, with every message level it can ask for.
client=$(psql_ -v ON_ERROR_STOP=0 2>&1 <<'SQL'
SET client_min_messages = debug5;
SET ROLE al_gateway;
SELECT fhir.set_membership('no-such-membership');
SELECT fhir.set_membership('m1') IS NOT NULL;
SELECT fhir.create('{"resourceType": "Observation", "status": "final", "code": {"text": "refused"}}');
SELECT fhir.read('Observation', 'no-such-id');
SELECT fhir.search('Patient');
SELECT fhir.delete('AuditEvent', 'x');
BEGIN READ ONLY;
SELECT fhir.read('Observation', 'o1') IS NOT NULL;
COMMIT;
SELECT fhir.read('Observation', E'x\nfhir_access audit: {"resourceType": "AuditEvent", "forged": true}');
BEGIN;
SELECT fhir.read('Observation', 'o1') IS NOT NULL;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT fhir.search('Observation', '_id=o1') IS NOT NULL;
ROLLBACK TO SAVEPOINT s;
COMMIT;
RESET ROLE;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000 THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', false) IS NOT NULL;
SET parallel_leader_participation = off;
SET ROLE al_gateway;
CREATE FUNCTION pg_temp.peek() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT count(*) FROM fhir.resources $$;
SELECT pg_temp.peek() AS peeked_in_a_parallel_worker;
SQL
)
psql_ -c 'SELECT 1' >/dev/null    # the log is written by then
# Only the server's own lines count: a client can put text that looks like
# one into an error message (an id with a newline), which the log repeats.
lines=$(grep -E '^[0-9-]+ [0-9:.]+ [A-Z]+ \[[0-9]+\] LOG:  fhir_access audit: ' "$cluster/log" | sed 's/^.* LOG:  fhir_access audit: //')
summary=$(python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    what = [x.get("what", {}).get("reference", "").replace("\n", "\\n") for x in e.get("entity", [])]
    print(e["action"], e["subtype"][0]["code"], e["outcome"], (e.get("outcomeDesc") or "-").split(" ")[0],
          e["agent"][0]["who"].get("reference", e["agent"][0]["who"].get("display")), ",".join(what))
' <<<"$lines")
is "$(wc -l <<<"$summary")" 10 "every refusal, the read-only read, the rolled-back reads and a parallel worker's read are one log line each"
is "$(sed -n 1p <<<"$summary")" "E 110122 4 P0002 al_gateway ProjectMembership/no-such-membership" "a refused set_membership names the role and the membership asked for"
is "$(sed -n 2p <<<"$summary")" "C create 4 42501 Practitioner/doc " "a refused create names the requesting profile and the SQLSTATE"
is "$(sed -n 3p <<<"$summary")" "R read 4 P0002 Practitioner/doc Observation/no-such-id" "a read of nothing is recorded as not found"
is "$(sed -n 4p <<<"$summary")" "E search-type 4 42501 Practitioner/doc " "a refused search is recorded"
is "$(sed -n 5p <<<"$summary")" "D delete 4 42501 Practitioner/doc AuditEvent/x" "an attempt on the audit trail is recorded"
read_only=$(sed -n 6p <<<"$summary")
is "${read_only%%,*}" "R read 0 - Practitioner/doc Observation/o1/_history/$(psql_ -c "SELECT version_id FROM fhir.resource WHERE id = 'o1'")" "a read in a read-only transaction is logged as a success"
is "$(sed -n 7p <<<"$summary")" 'R read 4 P0002 Practitioner/doc Observation/x\nfhir_access audit: {"resourceType": "AuditEvent", "forged": true}' "an id made to look like a log line is recorded as the refused read it is"
is "$(sed -n 8p <<<"$summary" | cut -d' ' -f1-5)" "R read 0 - Practitioner/doc" "a read whose transaction rolled back is logged, since the client saw it"
is "$(sed -n 9p <<<"$summary" | cut -d' ' -f1-5)" "E search-type 0 - Practitioner/doc" "so is a search rolled back to a savepoint"
is "$(sed -n 10p <<<"$summary" | cut -d' ' -f1-5)" "E search-system 0 - Practitioner/doc" "a parallel worker's own statement on the view is logged, since a worker cannot write"
if grep -q 'LOG:  fhir_access audit' <<<"$client"; then
  echo "not ok - the client never receives a log line"; printf '%s\n' "$client" | sed 's/^/    /'
else
  echo "ok - the client never receives a log line"
fi
is "$(grep -c 'ERROR:' <<<"$client")" 6 "the client got its errors as usual"
is "$(psql_ -c "SELECT count(*) FROM fhir.resource WHERE resource_type = 'AuditEvent' AND content->>'outcome' <> '0'")" 0 "nothing refused was stored"

# The audit writer never holds up DROP DATABASE for long, however full its queue.
"$bindir/createdb" -h "$cluster" -U postgres audit_drop
"$bindir/psql" -X -q -h "$cluster" -U postgres -d audit_drop -v ON_ERROR_STOP=1 -At >/dev/null <<'SQL'
CREATE EXTENSION fhir_access;
SELECT fhir.grant_client('al_gateway', gateway => true, session_scope => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}');
SELECT fhir.create('{"resourceType": "ProjectMembership", "id": "m1", "meta": {"project": "p"}, "project": {"reference": "Project/p"}}');
SELECT fhir.create('{"resourceType": "Patient", "id": "x", "meta": {"project": "p"}}');
SET fhir.audit = 'all';
SET ROLE al_gateway;
SELECT fhir.set_membership('m1') IS NOT NULL;
SELECT count(fhir.read('Patient', 'x')) FROM generate_series(1, 3000);
SQL
start=$(date +%s)
psql_ -c 'DROP DATABASE audit_drop WITH (FORCE)' >/dev/null 2>&1 && dropped=yes || dropped=no
is "$dropped" yes "DROP DATABASE succeeds while the audit writer works through 3000 records"
is "$(( $(date +%s) - start < 10 ))" 1 "within seconds"
