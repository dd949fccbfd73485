#!/usr/bin/env bash
# Poolers: 32 clients share 4 server connections through pgbouncer in
# transaction mode, switching among memberships of two projects; some are
# careless (they ask for a session-long membership, or none). No client may
# ever read another project's rows. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/pooler.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$REPO_ROOT/tests/lib.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
cluster=$(start_cluster "$pg_config")
pool=$(mktemp -d /tmp/fhir_access_pool.XXXXXX)
chown postgres: "$pool"
cleanup() {
  stop_pgbouncer "$pool"
  rm -rf "$pool"
  stop_cluster "$pg_config" "$cluster"
}
trap cleanup EXIT
sql() { "$bindir/psql" -X -q -At -h "$cluster" -U postgres -d pool -v ON_ERROR_STOP=1 "$@"; }

"$bindir/createdb" -h "$cluster" -U postgres pool
sql >/dev/null <<'SQL'
CREATE EXTENSION fhir_access;
CREATE ROLE pool_gateway LOGIN;
SELECT fhir.grant_client('pool_gateway', gateway => true);
SELECT fhir.create(jsonb_build_object('resourceType', 'Project', 'id', p, 'name', p)) FROM unnest(ARRAY['pa', 'pb']) p;
SELECT fhir.create(jsonb_build_object('resourceType', 'Patient', 'meta', jsonb_build_object('project', p))) FROM unnest(ARRAY['pa', 'pb']) p, generate_series(1, 5);
CREATE TABLE member AS
  SELECT 'pa' AS project, fhir.invite('pa', '{"resourceType": "Practitioner", "email": "a@example.org"}')->>'id' AS id
  UNION ALL SELECT 'pb', fhir.invite('pb', '{"resourceType": "Practitioner", "email": "b@example.org"}')->>'id';
CREATE TABLE seen (client int, kind text, projects text, state text);
GRANT SELECT ON member TO pool_gateway;
GRANT INSERT ON seen TO pool_gateway;
SQL

start_pgbouncer "$pool" pool_gateway "pool = host=$cluster dbname=pool" "default_pool_size = 4" "max_client_conn = 100"

# Client k: careful ones set a transaction-local membership in each of their
# 50 transactions; every fourth first asks for a session-long one (refused:
# the gateway has no session scope); every eighth sets none at all.
client() {
  local k=$1 project membership kind
  project=$([ $((k % 2)) -eq 0 ] && echo pa || echo pb)
  membership=$(sql -c "SELECT id FROM member WHERE project = '$project'")
  kind=$([ $((k % 8)) -eq 1 ] && echo none || echo "$project")
  {
    [ $((k % 4)) -eq 0 ] && echo "SELECT fhir.set_membership('$membership');"
    for _ in $(seq 1 50); do
      echo "BEGIN;"
      [ "$kind" = none ] || echo "SELECT fhir.set_membership('$membership', local => true) IS NOT NULL;"
      echo "INSERT INTO seen SELECT $k, '$kind', string_agg(DISTINCT project_id, ',' ORDER BY project_id), NULL FROM fhir.resources;"
      echo "COMMIT;"
    done
  } | "$bindir/psql" -X -q -At -h "$pool" -p 6543 -U pool_gateway -d pool >/dev/null 2>"$pool/client$k.err"
}
for k in $(seq 1 32); do client "$k" & done
wait

is "$(sql -c "SELECT count(*) FROM seen")" 1600 "32 clients ran 50 transactions each through pgbouncer"
is "$(sql -c "SELECT count(*) FROM seen WHERE kind <> 'none' AND projects IS DISTINCT FROM kind")" 0 \
   "every transaction saw its own project's rows and no other's"
is "$(sql -c "SELECT count(*) FROM seen WHERE kind = 'none' AND projects IS NOT NULL")" 0 \
   "a client that set no membership saw nothing, whatever connection it got"
is "$(cat "$pool"/client*.err | grep 'ERROR:' | grep -c 'is a gateway: set memberships with local => true')" 8 \
   "every careless session-long membership was refused"
is "$(cat "$pool"/client*.err | grep -v 'is a gateway' | grep -c ERROR)" 0 "and nothing else failed"
servers=$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'pool_gateway'")
if [ "$servers" -le 4 ]; then echo "ok - the clients shared at most 4 server connections ($servers)"; else echo "not ok - $servers server connections"; fi
