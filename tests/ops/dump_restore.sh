#!/usr/bin/env bash
# Backup and restore: pg_dump in the custom, directory and plain formats, and
# pg_dumpall, each restored into a new cluster whose roles were created first
# in another order (so their OIDs differ). Every client's answers must be
# byte-identical before and after. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/dump_restore.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
here="$REPO_ROOT/tests/ops"
work=$(mktemp -d /tmp/fhir_access_dump.XXXXXX)
chmod 755 "$work"
clusters=()
cleanup() { for c in "${clusters[@]}"; do stop_cluster "$pg_config" "$c"; done; rm -rf "$work"; }
trap cleanup EXIT

psql_in() { local c=$1; shift; "$bindir/psql" -X -q -h "$c" -U postgres -v ON_ERROR_STOP=1 "$@"; }
new_cluster() { local c; c=$(start_cluster "$pg_config"); clusters+=("$c"); echo "$c"; }

source_cluster=$(new_cluster)
psql_in "$source_cluster" -d postgres -f "$here/roles.sql" >/dev/null
"$bindir/createdb" -h "$source_cluster" -U postgres clinic
psql_in "$source_cluster" -d clinic -f "$here/data.sql" >/dev/null
psql_in "$source_cluster" -d clinic -f "$here/answers.sql" > "$work/before.txt"
lines=$(wc -l < "$work/before.txt")
if [ "$lines" -gt 40 ]; then echo "ok - the clients' answers before the backup ($lines lines)"; else echo "not ok - the clients' answers before the backup are too short ($lines lines)"; fi

check() {
  local what=$1 target=$2
  if psql_in "$target" -d clinic -f "$here/answers.sql" > "$work/after.txt" 2>"$work/after.err" \
     && cmp -s "$work/before.txt" "$work/after.txt"; then
    echo "ok - $what: every client's answers are byte-identical after the restore"
  else
    echo "not ok - $what: answers differ after the restore"
    diff "$work/before.txt" "$work/after.txt" | head -n 10 | sed 's/^/    /'
    head -n 5 "$work/after.err" | sed 's/^/    /'
  fi
}

# Each pg_dump format into a fresh cluster whose roles exist already, with other OIDs.
for format in custom directory plain; do
  target=$(new_cluster)
  psql_in "$target" -d postgres -f "$here/roles_reversed.sql" >/dev/null
  case $format in
    custom)
      "$bindir/pg_dump" -h "$source_cluster" -U postgres -Fc -f "$work/clinic.dump" clinic
      "$bindir/createdb" -h "$target" -U postgres clinic
      "$bindir/pg_restore" -h "$target" -U postgres -d clinic --exit-on-error "$work/clinic.dump" ;;
    directory)
      "$bindir/pg_dump" -h "$source_cluster" -U postgres -Fd -j 2 -f "$work/clinic.dir" clinic
      "$bindir/createdb" -h "$target" -U postgres clinic
      "$bindir/pg_restore" -h "$target" -U postgres -d clinic -j 2 --exit-on-error "$work/clinic.dir" ;;
    plain)
      "$bindir/pg_dump" -h "$source_cluster" -U postgres -Fp -f "$work/clinic.sql" clinic
      "$bindir/createdb" -h "$target" -U postgres clinic
      psql_in "$target" -d clinic -f "$work/clinic.sql" >/dev/null ;;
  esac
  check "pg_dump --format=$format" "$target"
  stop_cluster "$pg_config" "$target"
done

# pg_dumpall brings the roles along; unrelated roles made first shift their OIDs.
target=$(new_cluster)
psql_in "$target" -d postgres -c "CREATE ROLE ops_unrelated_a; CREATE ROLE ops_unrelated_b" >/dev/null
"$bindir/pg_dumpall" -h "$source_cluster" -U postgres -f "$work/all.sql"
# Without ON_ERROR_STOP: the dump also recreates the existing postgres role.
"$bindir/psql" -X -q -h "$target" -U postgres -d postgres -f "$work/all.sql" >/dev/null 2>"$work/all.err" || true
if grep ERROR "$work/all.err" | grep -qv 'role "postgres" already exists'; then
  echo "not ok - pg_dumpall restores without errors"; grep ERROR "$work/all.err" | head -n 5 | sed 's/^/    /'
else
  echo "ok - pg_dumpall restores without errors"
fi
check "pg_dumpall" "$target"
oid_before=$(psql_in "$source_cluster" -d postgres -Atc "SELECT oid FROM pg_roles WHERE rolname = 'ops_nurse'")
oid_after=$(psql_in "$target" -d postgres -Atc "SELECT oid FROM pg_roles WHERE rolname = 'ops_nurse'")
if [ "$oid_before" != "$oid_after" ]; then echo "ok - the restored roles have other OIDs ($oid_before, $oid_after)"; else echo "not ok - the restored roles kept their OIDs"; fi
