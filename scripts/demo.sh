#!/usr/bin/env bash
# One command on a fresh Debian bookworm machine, as root: installs what is
# needed, builds and installs fhir_access into PostgreSQL 15, starts a demo
# cluster, loads sample data (demo/data.sql) and runs demo/queries.sql.
# About 20 minutes on a fresh 2-core machine (measured: 1219 s with the
# Debian packages and Rust present), under a minute once cached.
#
#   scripts/demo.sh
#   psql -h /var/lib/fhir_access/demo -U postgres fhir_demo    # afterwards
source "$(dirname "$0")/env.sh"
require_root "$@"
started=$SECONDS
step() { log "[$1/5] $2 (elapsed $((SECONDS - started)) s)"; }

step 1 "Debian packages: PostgreSQL 15, clang, build tools, pgbouncer (about 1 minute when missing)"
install_packages
step 2 "Rust 1.95 and cargo-pgrx 0.18 (about 15 minutes the first time, then cached)"
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0 >/dev/null
fi
install_cargo_pgrx

step 3 "building fhir_access (release) into PostgreSQL 15 (about 6 minutes cold, seconds warm)"
pg_config=$(pg_config_for 15)
install_extension 15 "$pg_config" release
bindir=$("$pg_config" --bindir)

step 4 "a demo cluster with sample data"
demo=${FHIR_ACCESS_DEMO_DIR:-/var/lib/fhir_access/demo}
# A demo left running by an earlier run is stopped; a stale pid file (the
# machine rebooted since) is not an error.
if [ -d "$demo/data" ] && runuser -u postgres -- "$bindir/pg_ctl" -D "$demo/data" status >/dev/null 2>&1; then
  runuser -u postgres -- "$bindir/pg_ctl" -D "$demo/data" -m fast -w stop >/dev/null
fi
rm -rf "$demo" && mkdir -p "$demo"
init_cluster "$demo" "$bindir"
runuser -u postgres -- "$bindir/pg_ctl" -D "$demo/data" -l "$demo/log" -w start >/dev/null
"$bindir/createdb" -h "$demo" -U postgres fhir_demo
"$bindir/psql" -X -q -h "$demo" -U postgres -d fhir_demo -v ON_ERROR_STOP=1 -f "$REPO_ROOT/demo/data.sql"

step 5 "the demo"
"$bindir/psql" -X -h "$demo" -U postgres -d fhir_demo -v ON_ERROR_STOP=1 -f "$REPO_ROOT/demo/queries.sql"

log "done in $((SECONDS - started)) s. The demo database keeps running. Try next:"
cat >&2 <<TRY
  psql -h $demo -U postgres fhir_demo
      SET ROLE demo_app; BEGIN; SELECT fhir.set_membership('ca-nurse', local => true);
      SELECT id, content FROM fhir.resources; COMMIT;
  examples/python/README.md and examples/node/README.md: a gateway through a connection pool
  examples/bi-psql/README.md: an analyst's plain-SQL session
  scripts/test.sh: every test
TRY
