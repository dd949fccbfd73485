#!/usr/bin/env bash
# ALTER EXTENSION fhir_access UPDATE from the previous release. The release is
# built from its recorded commit (releases.txt, cached by commit) and installed
# into a copy of this PostgreSQL; a clinic is loaded through its API; then the
# working tree's library replaces it, PostgreSQL restarts and the extension is
# updated. Every stored row must survive, the catalog must be the one a fresh
# install has, and every client's answers must equal those of a fresh install
# restored from the same data. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/extension_update.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$REPO_ROOT/tests/lib.sh"
pg_config=$1
here="$REPO_ROOT/tests/ops"
install_cargo_pgrx
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
previous=$(awk '!/^#/ && NF { v = $1 } END { print v }' "$REPO_ROOT/releases.txt")
current=$(awk -F'"' '/^version = / { print $2; exit }' "$REPO_ROOT/Cargo.toml")
release=$(build_release "$previous" "$major" "$pg_config")

work=$(mktemp -d /tmp/fhir_access_update.XXXXXX)
chmod 755 "$work"
cluster=
cleanup() { [ -n "$cluster" ] && stop_cluster "$pg_config" "$cluster"; rm -rf "$work"; }
trap cleanup EXIT

# A copy of this PostgreSQL holding the previous release's files and nothing of the current.
root="$work/root"
bindir=$("$pg_config" --bindir) pkglibdir=$("$pg_config" --pkglibdir) sharedir=$("$pg_config" --sharedir)
copy_pg_config=$(clean_copy_of_postgres "$pg_config" "$root")
cp -a "$release$pkglibdir"/fhir_access.so "$root$pkglibdir/"
cp -a "$release$sharedir"/extension/fhir_access* "$root$sharedir/extension/"
psql_in() { "$root$bindir/psql" -X -q -h "$cluster" -U postgres -v ON_ERROR_STOP=1 "$@"; }
restart() {
  runuser -u postgres -- "$root$bindir/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null
  runuser -u postgres -- "$root$bindir/pg_ctl" -D "$cluster/data" -l "$cluster/log" -w start >/dev/null
}
report() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }
# Every stored row, as the system sees it (columns both releases have).
stored() {
  psql_in -d clinic -At -c "SELECT r::text FROM fhir.resource r ORDER BY resource_type, id" \
    -c "SELECT h::text FROM fhir.resource_history h ORDER BY h::text" \
    -c "SELECT 'client ' || role::regrole || ' ' || gateway FROM fhir.client ORDER BY 1" \
    -c "SELECT 'binding ' || role::regrole || ' ' || membership FROM fhir.role_binding ORDER BY 1" \
    -c "SELECT 'access version ' || max(version) FROM fhir.access_version"
}

cluster=$(start_cluster "$copy_pg_config")
psql_in -d postgres -f "$here/roles.sql" >/dev/null
"$root$bindir/createdb" -h "$cluster" -U postgres clinic
psql_in -d clinic -f "$here/data.sql" >/dev/null
installed=$(psql_in -d clinic -Atc "SELECT extversion FROM pg_extension WHERE extname = 'fhir_access'")
report "$([ "$installed" = "$previous" ]; echo $?)" "release $previous is installed from its commit ($installed)"
stored > "$work/stored_before.txt"

# The working tree's library and scripts replace the release's; PostgreSQL restarts.
cp -a "$pkglibdir/fhir_access.so" "$root$pkglibdir/"
cp -a "$sharedir/extension/fhir_access.control" "$sharedir/extension/fhir_access--$current.sql" \
      "$sharedir"/extension/fhir_access--*--*.sql "$root$sharedir/extension/"
restart
refused=$(psql_in -d clinic -Atc "SET ROLE ops_nurse; SELECT count(*) FROM fhir.resources" 2>&1 || true)
report "$(grep -q "fhir_access $previous is installed in this database, but the library is $current" <<<"$refused"; echo $?)" \
  "before the update, a client's statement is refused (the catalog still declares $previous's functions)"

psql_in -d clinic -c "ALTER EXTENSION fhir_access UPDATE" 2>"$work/update.err"
report $? "ALTER EXTENSION fhir_access UPDATE from $previous to $current"
report "$(grep -q 'WARNING:  fhir_access 0.2.0: stored search tokens must be derived again' "$work/update.err"; echo $?)" \
  "the update says that a reindex is needed"
installed=$(psql_in -d clinic -Atc "SELECT extversion FROM pg_extension WHERE extname = 'fhir_access'")
report "$([ "$installed" = "$current" ]; echo $?)" "the database has $current after the update ($installed)"
stored > "$work/stored_after.txt"
same "every resource, version, client and binding is kept byte for byte ($(wc -l < "$work/stored_before.txt") rows)" \
  "$work/stored_before.txt" "$work/stored_after.txt"

stale=$(psql_in -d clinic -Atc "SELECT count(*) FROM fhir.verify()")
psql_in -d clinic -c "SELECT fhir.reindex()" >/dev/null 2>&1
clean=$(psql_in -d clinic -Atc "SELECT count(*) FROM fhir.verify()")
report "$([ "$clean" = 0 ]; echo $?)" "fhir.verify() is clean after fhir.reindex() ($stale rows stale before)"

# A fresh install restored from the updated database's backup: the same catalog, the same answers.
"$root$bindir/pg_dump" -h "$cluster" -U postgres -Fc -f "$work/clinic.dump" clinic
"$root$bindir/createdb" -h "$cluster" -U postgres fresh
"$root$bindir/pg_restore" -h "$cluster" -U postgres -d fresh --exit-on-error "$work/clinic.dump"
psql_in -d clinic -f "$here/catalog.sql" > "$work/catalog_updated.txt"
psql_in -d fresh -f "$here/catalog.sql" > "$work/catalog_fresh.txt"
same "the updated catalog is a fresh install's ($(wc -l < "$work/catalog_fresh.txt") lines of definitions)" \
  "$work/catalog_updated.txt" "$work/catalog_fresh.txt"
psql_in -d clinic -f "$here/answers.sql" > "$work/answers_updated.txt"
psql_in -d fresh -f "$here/answers.sql" > "$work/answers_fresh.txt"
same "every client's answers after the update are a fresh install's ($(wc -l < "$work/answers_fresh.txt") lines)" \
  "$work/answers_updated.txt" "$work/answers_fresh.txt"
