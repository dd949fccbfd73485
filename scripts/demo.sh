#!/usr/bin/env bash
# One command on a fresh Debian bookworm machine, as root: installs what is
# needed, builds and installs fhir_access into PostgreSQL 15, starts a demo
# cluster, loads sample data (demo/data.sql) and runs demo/queries.sql.
#
#   sudo scripts/demo.sh
#   psql -h /var/lib/fhir_access/demo -U postgres fhir_demo    # afterwards
source "$(dirname "$0")/env.sh"
require_root "$@"
install_packages
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  log "installing Rust with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain 1.95.0 >/dev/null
fi
install_cargo_pgrx

pg_config=$(pg_config_for 15)
install_extension 15 "$pg_config" release
bindir=$("$pg_config" --bindir)

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

log "loading sample data"
"$bindir/psql" -X -q -h "$demo" -U postgres -d fhir_demo -v ON_ERROR_STOP=1 -f "$REPO_ROOT/demo/data.sql"
log "the demo"
"$bindir/psql" -X -h "$demo" -U postgres -d fhir_demo -v ON_ERROR_STOP=1 -f "$REPO_ROOT/demo/queries.sql"
log "the demo database keeps running: psql -h $demo -U postgres fhir_demo"
