#!/usr/bin/env bash
# Concurrency and crashes: 16 clients race if_match updates on the same
# resources; 16 sessions create the same ids at once; a backend is killed
# with SIGKILL in the middle of writes. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/concurrency.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$REPO_ROOT/tests/lib.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
cluster=$(start_cluster "$pg_config")
trap 'stop_cluster "$pg_config" "$cluster"' EXIT
# Two-phase commit, for the revocation through PREPARE TRANSACTION below.
echo "max_prepared_transactions = 4" >> "$cluster/data/postgresql.conf"
runuser -u postgres -- "$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/log" -m fast -w restart >/dev/null
sql() { "$bindir/psql" -X -q -At -h "$cluster" -U postgres -d race -v ON_ERROR_STOP=1 "$@"; }

"$bindir/createdb" -h "$cluster" -U postgres race
sql >/dev/null <<'SQL'
CREATE EXTENSION fhir_access;
CREATE ROLE race_gateway LOGIN;
SELECT fhir.grant_client('race_gateway', gateway => true);
SELECT fhir.create('{"resourceType": "Project", "id": "p", "name": "P"}') IS NOT NULL;
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'r' || i, 'meta', jsonb_build_object('project', 'p'))) IS NOT NULL
FROM generate_series(1, 4) i;
CREATE TABLE outcome (client int, ok boolean, state text, version text);
GRANT INSERT ON outcome TO race_gateway;
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "race@example.org"}')->>'id' AS m \gset
CREATE TABLE member AS SELECT :'m'::text AS id;
GRANT SELECT ON member TO race_gateway;
SQL

# 16 clients x 200 if_match updates on 4 resources.
updater() {
  "$bindir/psql" -X -q -h "$cluster" -U race_gateway -d race -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE
  current jsonb;
  stored jsonb;
  me int := current_setting('race.client')::int;
BEGIN
  FOR n IN 1 .. 200 LOOP
    -- One transaction per update, as an app server behind a pooler does.
    PERFORM fhir.set_membership((SELECT id FROM member), local => true);
    BEGIN
      current := fhir.read('Patient', 'r' || (1 + n % 4));
      stored := fhir.update(current || jsonb_build_object('birthDate', (date '2000-01-01' + me * 1000 + n)::text),
                            'W/"' || (current->'meta'->>'versionId') || '"');
      INSERT INTO outcome VALUES (me, true, NULL, stored->'meta'->>'versionId');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO outcome VALUES (me, false, SQLSTATE, NULL);
    END;
    COMMIT;
  END LOOP;
END
$$;
SQL
}
for c in $(seq 1 16); do PGOPTIONS="-c race.client=$c" updater "$c" & done
wait
read -r successes losers others < <(sql -c "SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE state = '40001'), count(*) FILTER (WHERE NOT ok AND state <> '40001') FROM outcome" | tr '|' ' ')
is "$((successes + losers + others))" 3200 "16 clients made 3200 if_match updates"
is "$others" 0 "the losers got 40001 and nothing else failed ($successes won, $losers lost)"
is "$(sql -c "SELECT count(*) FROM fhir.resource_history WHERE resource_type = 'Patient' AND id LIKE 'r_'")" "$((successes + 4))" \
   "history holds exactly the first versions and the successes"
is "$(sql -c "SELECT count(*) FROM outcome o WHERE ok AND NOT EXISTS (SELECT 1 FROM fhir.resource_history h WHERE h.version_id = o.version)")" 0 \
   "every success has its own version in history"
is "$(sql -c "SELECT count(DISTINCT version) = count(*) FROM outcome WHERE ok")" t "no two successes share a version"

# 16 sessions create the same 20 ids at once (only the system chooses ids).
creator() {
  sql -v me="$1" <<'SQL'
CREATE TEMP TABLE mine (ok boolean, state text, detail text);
DO $$
DECLARE detail text;
BEGIN
  FOR k IN 1 .. 20 LOOP
    BEGIN
      PERFORM fhir.create(jsonb_build_object('resourceType', 'Patient', 'id', 'same-' || k, 'meta', jsonb_build_object('project', 'p')));
      INSERT INTO mine VALUES (true, NULL, NULL);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
      INSERT INTO mine VALUES (false, SQLSTATE, detail);
    END;
  END LOOP;
END $$;
INSERT INTO outcome SELECT -1, ok, state || ' ' || coalesce(detail::jsonb->>'resourceType', 'no OperationOutcome'), NULL FROM mine;
SQL
}
sql -c "TRUNCATE outcome"
for c in $(seq 1 16); do creator "$c" & done
wait
is "$(sql -c "SELECT count(*) FROM outcome WHERE ok")" 20 "concurrent creates of one id: exactly one wins per id"
is "$(sql -c "SELECT string_agg(DISTINCT state, ',') FROM outcome WHERE NOT ok")" "22023 OperationOutcome" \
   "the others get 22023 with an OperationOutcome"
is "$(sql -c "SELECT count(*) FROM fhir.resource_history WHERE id LIKE 'same-%'")" 20 "and nothing half-written remains"

# A transaction that wrote a policy and stays open makes no other tenant wait:
# the access version moves at commit.
sql >/dev/null -c "SELECT fhir.create('{\"resourceType\": \"Project\", \"id\": \"q\", \"name\": \"Q\"}')"
"$bindir/psql" -X -q -h "$cluster" -U postgres -d race >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "p"}, "resource": [{"resourceType": "Patient"}]}');
SELECT pg_sleep(6);
COMMIT;
SQL
sleep 1
start=$(date +%s%N)
sql >/dev/null -c "SELECT fhir.invite('q', '{\"resourceType\": \"Practitioner\", \"email\": \"unblocked@example.org\"}')"
waited=$(( ($(date +%s%N) - start) / 1000000 ))
wait
if [ "$waited" -lt 3000 ]; then echo "ok - an open transaction that wrote a policy does not block another project's invite (${waited} ms)";
else echo "not ok - another project's invite waited ${waited} ms for an open transaction"; fi
is "$(sql -c "SELECT count(*) FROM fhir.resource WHERE resource_type = 'AccessPolicy'")" 1 "and the policy committed"

# A revocation takes effect at the next statement, even among statements
# sent in one message, and when it commits through two-phase commit.
sql >/dev/null <<'SQL'
CREATE ROLE race_nurse LOGIN;
SELECT fhir.grant_client('race_nurse');
SELECT fhir.invite('p', '{"resourceType": "Practitioner", "email": "nurse@example.org"}')->>'id' AS nurse \gset
SELECT fhir.bind_role('race_nurse', :'nurse');
CREATE TABLE nurse AS SELECT :'nurse'::text AS id;
SQL
nurse=$(sql -c "SELECT id FROM nurse")
revoke() { sql -c "SELECT fhir.patch('ProjectMembership', '$nurse', '[{\"op\": \"add\", \"path\": \"/active\", \"value\": $1}]') IS NOT NULL" >/dev/null; }
messages=$( { "$bindir/psql" -X -q -At -h "$cluster" -U race_nurse -d race \
       -c "SELECT count(*) > 0 FROM fhir.resources WHERE resource_type = 'Patient'; SELECT 'slept' FROM pg_sleep(3); SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient'" 2>&1 | tr '\n' ' ' > "$cluster/one_message.txt"; } &
  sleep 1; revoke false; wait; cat "$cluster/one_message.txt")
is "$messages" "t slept 0 " "a membership deactivated while a message's statements run is refused from its next statement"
revoke true
{ "$bindir/psql" -X -q -At -h "$cluster" -U race_nurse -d race \
       -c "SELECT count(*) > 0 FROM fhir.resources WHERE resource_type = 'Patient'; SELECT 'slept' FROM pg_sleep(4); SELECT count(*) FROM fhir.resources WHERE resource_type = 'Patient'" 2>&1 | tr '\n' ' ' > "$cluster/prepared.txt"; } &
sleep 1
sql -c "BEGIN; SELECT fhir.patch('ProjectMembership', '$nurse', '[{\"op\": \"add\", \"path\": \"/active\", \"value\": false}]') IS NOT NULL; PREPARE TRANSACTION 'revoke';" >/dev/null
sql -c "COMMIT PREPARED 'revoke'" >/dev/null
wait
is "$(cat "$cluster/prepared.txt")" "t slept 0 " "a revocation committed through PREPARE TRANSACTION applies to the next statement"

# SIGKILL during writes: every committed write survives crash recovery, and
# every current row is the newest of its history.
sql -c "CREATE TABLE committed (id text PRIMARY KEY)"
"$bindir/psql" -X -q -h "$cluster" -U postgres -d race <<'SQL' >/dev/null 2>&1 &
SET application_name = 'doomed';
DO $$
BEGIN
  FOR n IN 1 .. 100000 LOOP
    PERFORM fhir.create(jsonb_build_object('resourceType', 'Observation', 'id', 'k' || n, 'status', 'final', 'meta', jsonb_build_object('project', 'p')));
    PERFORM fhir.update(jsonb_build_object('resourceType', 'Patient', 'id', 'r1', 'gender', CASE WHEN n % 2 = 0 THEN 'male' ELSE 'female' END,
                                           'meta', jsonb_build_object('project', 'p')));
    INSERT INTO committed VALUES ('k' || n);
    COMMIT;
  END LOOP;
END $$;
SQL
sleep 3
pid=$(sql -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'doomed'")
kill -9 "$pid"
wait
for _ in $(seq 1 60); do sql -c "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
is "$(sql -c "SELECT count(*) > 10 FROM committed")" t "the writer committed writes before it was killed"
is "$(sql -c "SELECT count(*) FROM committed c WHERE NOT EXISTS (SELECT 1 FROM fhir.resource r WHERE r.resource_type = 'Observation' AND r.id = c.id)")" 0 \
   "no committed write was lost"
is "$(sql -c "SELECT count(*) FROM fhir.resource r WHERE NOT EXISTS (SELECT 1 FROM fhir.resource_history h
        WHERE (h.resource_type, h.id, h.version_id, h.content, h.deleted) = (r.resource_type, r.id, r.version_id, r.content, r.deleted))")" 0 \
   "every current row is a version in history"
is "$(sql -c "SELECT count(*) FROM fhir.resource r WHERE EXISTS (SELECT 1 FROM fhir.resource_history h
        WHERE (h.resource_type, h.id) = (r.resource_type, r.id) AND h.last_updated > r.last_updated)")" 0 \
   "no history row is newer than its current row"
is "$(sql -c "SELECT count(*) FROM fhir.verify()")" 0 "fhir.verify() is clean after crash recovery"
