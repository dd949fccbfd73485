#!/usr/bin/env bash
# Install without Rust: `cargo pgrx package` makes a tarball that installs into
# a PostgreSQL that never had fhir_access (a clean copy of this one) with tar
# alone, and CREATE EXTENSION works there; nothing of the toolchain is on the
# PATH of the install or of the server. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/ops/package.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$REPO_ROOT/tests/lib.sh"
pg_config=$1
install_cargo_pgrx
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
work=$(mktemp -d /tmp/fhir_access_package.XXXXXX)
chmod 755 "$work"
cluster=
cleanup() { [ -n "$cluster" ] && stop_cluster "$copy" "$cluster"; rm -rf "$work"; }
trap cleanup EXIT

# The tests package the debug build they already have; a release is the same
# command with --release in place of --debug (see the README).
(cd "$REPO_ROOT" && cargo pgrx package --debug -p fhir_access --pg-config "$pg_config" \
   --no-default-features --features "pg$major" --out-dir "$work/package" >"$work/package.log" 2>&1) \
  || { tail -n 20 "$work/package.log"; exit 1; }
tar -C "$work/package" -czf "$work/fhir_access-pg$major.tar.gz" .
echo "ok - cargo pgrx package makes a tarball of $(tar -tzf "$work/fhir_access-pg$major.tar.gz" | grep -c '[^/]$') files"

copy=$(clean_copy_of_postgres "$pg_config" "$work/root")
bindir=$("$copy" --bindir)
is "$(ls "$("$copy" --sharedir)/extension" | grep -c '^fhir_access')" 0 "the clean PostgreSQL has no file of fhir_access"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin tar -xzf "$work/fhir_access-pg$major.tar.gz" -C "$work/root"
is "$(ls "$("$copy" --sharedir)/extension" | grep -c '^fhir_access\.control$')" 1 "tar alone installs it"

cluster=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin start_cluster "$copy")
psql_in() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$bindir/psql" -X -q -At -h "$cluster" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
is "$(psql_in -c "CREATE EXTENSION fhir_access" -c "SELECT extversion FROM pg_extension WHERE extname = 'fhir_access'")" \
   "$(awk -F'"' '/^version = / { print $2; exit }' "$REPO_ROOT/Cargo.toml")" "CREATE EXTENSION installs the packaged version"
is "$(psql_in -c "SELECT fhir.create('{\"resourceType\": \"Project\", \"id\": \"pkg\", \"name\": \"P\"}')->>'id'")" pkg \
   "the packaged extension stores and answers"
