#!/usr/bin/env bash
# Replicas: a streaming hot standby of a primary holding the operations data
# set answers every client exactly as the primary does (set_membership,
# the view, search, history, read, explain_access): nothing on the read path
# allocates a transaction id, which a standby could not do. Prints
# "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/standby.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
here="$REPO_ROOT/tests/ops"
work=$(mktemp -d /tmp/fhir_access_standby.XXXXXX)
chmod 755 "$work"
primary=$(start_cluster "$pg_config")
standby=$(mktemp -d /tmp/fhir_access_pg.XXXXXX)
chown postgres: "$standby"
cleanup() {
  runuser -u postgres -- "$bindir/pg_ctl" -D "$standby/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$standby" "$work"
  stop_cluster "$pg_config" "$primary"
}
trap cleanup EXIT
psql_in() { local c=$1; shift; "$bindir/psql" -X -q -h "$c" -U postgres -v ON_ERROR_STOP=1 "$@"; }

psql_in "$primary" -d postgres -f "$here/roles.sql" >/dev/null
"$bindir/createdb" -h "$primary" -U postgres clinic
psql_in "$primary" -d clinic -f "$here/data.sql" >/dev/null

runuser -u postgres -- "$bindir/pg_basebackup" -h "$primary" -U postgres -D "$standby/data" -X stream -R >/dev/null
printf "unix_socket_directories = '%s'\nhot_standby = on\n" "$standby" >> "$standby/data/postgresql.conf"
runuser -u postgres -- "$bindir/pg_ctl" -D "$standby/data" -l "$standby/log" -w start >/dev/null

# A change made after the base backup must stream over before comparing.
psql_in "$primary" -d clinic -c "SELECT fhir.update(fhir.read('Patient', 'p3') || '{\"active\": true}')" >/dev/null
target=$(psql_in "$primary" -d clinic -Atc "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 60); do
  caught_up=$(psql_in "$standby" -d clinic -Atc "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")
  [ "$caught_up" = t ] && break
  sleep 0.5
done
if [ "$(psql_in "$standby" -d clinic -Atc "SELECT pg_is_in_recovery()")" = t ]; then echo "ok - the standby is in recovery"; else echo "not ok - the standby is not in recovery"; fi
if [ "$caught_up" = t ]; then echo "ok - the standby replayed the primary's latest write"; else echo "not ok - the standby did not catch up"; fi

psql_in "$primary" -d clinic -f "$here/answers.sql" > "$work/primary.txt"
if psql_in "$standby" -d clinic -f "$here/answers.sql" > "$work/standby.txt" 2>"$work/standby.err" && cmp -s "$work/primary.txt" "$work/standby.txt"; then
  echo "ok - every client's answers on the standby are byte-identical to the primary's ($(wc -l < "$work/primary.txt") lines)"
else
  echo "not ok - the standby answers differently"
  diff "$work/primary.txt" "$work/standby.txt" | head -n 10 | sed 's/^/    /'
  head -n 5 "$work/standby.err" | sed 's/^/    /'
fi
if grep -q '"active": true' "$work/standby.txt"; then echo "ok - including the write made after the base backup"; else echo "not ok - the standby's answers miss the streamed write"; fi

# A write on the standby is refused by PostgreSQL, cleanly.
state=$("$bindir/psql" -X -q -h "$standby" -U postgres -d clinic -Atc "DO \$\$ BEGIN PERFORM fhir.create('{\"resourceType\": \"Patient\", \"meta\": {\"project\": \"clinic\"}}'); EXCEPTION WHEN OTHERS THEN RAISE NOTICE '% %', SQLSTATE, SQLERRM; END \$\$" 2>&1)
if [[ "$state" == *25006* ]]; then echo "ok - a write on the standby is refused as read-only (25006)"; else echo "not ok - a write on the standby: $state"; fi
