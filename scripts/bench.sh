#!/usr/bin/env bash
# The benchmark of DESIGN-NOTES' performance targets: builds fhir_access in
# release mode into PostgreSQL 15, starts a cluster tuned for this machine,
# loads a deterministic synthetic population (bench/populate.sql,
# bench/policies.sql), measures (bench/harness.sql, bench/run.sql) and prints a
# markdown table of ratios with the plan lines that matter (bench/report.sql).
#
#   sudo scripts/bench.sh                     # 1,003,000 resources
#   sudo BENCH_SCALE=0.05 scripts/bench.sh    # a quick run
#   sudo BENCH_KEEP=1 scripts/bench.sh        # keep the cluster running; later runs reuse the data
#   BENCH_BUILD=0                             # use the fhir_access already installed
#
# The loaded cluster is cached as $FHIR_ACCESS_CACHE/bench-data-<scale>-<hash>,
# the hash covering the population SQL and the installed extension (library
# and install script), so a stale cache is never reused. Measurements run in a
# copy of the loaded database, so the cache stays as loaded.
source "$(dirname "$0")/env.sh"
require_root "$@"
install_packages
pg_config=$(pg_config_for 15)
if [ "${BENCH_BUILD:-1}" != 0 ]; then
  install_cargo_pgrx
  install_extension 15 "$pg_config" release
fi
bindir=$("$pg_config" --bindir)
scale=${BENCH_SCALE:-1.0}
npat=$(awk -v s="$scale" 'BEGIN { n = int(100000 * s + 0.5); print (n < 100 ? 100 : n) }')

so="$("$pg_config" --pkglibdir)/fhir_access.so"
# Other scripts install debug builds into the same PostgreSQL: say what is measured.
if cmp -s "$so" "$CARGO_TARGET_DIR/release/libfhir_access.so"; then build=release; else build="NOT the release build"; fi
hash=$(cat "$REPO_ROOT"/bench/{populate,policies}.sql "$so" \
           "$("$pg_config" --sharedir)"/extension/fhir_access--*.sql | sha256sum | cut -c1-12)
cache="$FHIR_ACCESS_CACHE/bench-data-$scale-$hash"
stop() { runuser -u postgres -- "$bindir/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true; }
for old in "$FHIR_ACCESS_CACHE/bench-data-$scale-"*; do    # other hashes of this scale are stale
  [ -d "$old" ] && [ "$old" != "$cache" ] || continue
  stop "$old"; rm -rf "$old"
done
if [ -f "$cache/.loaded" ] || [ -n "${BENCH_KEEP:-}" ]; then dir=$cache; else dir=$(mktemp -d /tmp/fhir_access_bench.XXXXXX); fi
[ -f "$dir/.loaded" ] || { stop "$dir"; rm -rf "$dir"; mkdir -p "$dir"; }   # a load that did not finish

if [ ! -d "$dir/data" ]; then
  init_cluster "$dir" "$bindir" "fsync = off" "synchronous_commit = off" "full_page_writes = off" \
    "shared_buffers = 4GB" "effective_cache_size = 16GB" "work_mem = 64MB" "maintenance_work_mem = 1GB" \
    "max_wal_size = 8GB" "checkpoint_timeout = 30min" "jit = off" "max_parallel_workers_per_gather = 0" \
    "random_page_cost = 1.1"
fi
if ! runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
fi
finish() {
  if [ -n "${BENCH_KEEP:-}" ]; then
    log "cluster kept: psql -h $dir -U postgres bench_run   (loaded data: database bench)"
  else
    stop "$dir"
    [ "$dir" = "$cache" ] || rm -rf "$dir"
  fi
}
trap finish EXIT
sql() { "$bindir/psql" -X -h "$dir" -U postgres -v ON_ERROR_STOP=1 "$@"; }

if [ ! -f "$dir/.loaded" ]; then
  log "loading the population at scale $scale ($npat patients)"
  sql -q -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'
  sql -d bench -v npat="$npat" -f "$REPO_ROOT/bench/populate.sql" -f "$REPO_ROOT/bench/policies.sql"
  touch "$dir/.loaded"
else
  log "reusing the population loaded in $dir"
fi

log "measuring (median of 7 runs after 2 warm-ups; a few minutes)"
sql -q -c 'DROP DATABASE IF EXISTS bench_run' -c 'CREATE DATABASE bench_run TEMPLATE bench STRATEGY FILE_COPY'
sql -d bench_run -f "$REPO_ROOT/bench/harness.sql" -f "$REPO_ROOT/bench/run.sql"
# Rows measured while another session writes (bench/under_load.sql).
first=$(sql -d bench_run -Atc 'SELECT npat * obs_per_patient + 100000 FROM bench.config')
sql -d bench_run -q -c 'TRUNCATE bench.load_stop' -c "CALL bench.write_load($first)" &
writer=$!
sql -d bench_run -f "$REPO_ROOT/bench/under_load.sql"
sql -d bench_run -q -c 'INSERT INTO bench.load_stop VALUES (true)'
wait "$writer"
echo
echo "fhir_access benchmark, scale $scale: $(sql -d bench_run -Atc "SELECT count(*) FROM fhir.resource") resources, PostgreSQL $("$pg_config" --version | awk '{print $2}'), fhir_access $build"
echo
sql -d bench_run -f "$REPO_ROOT/bench/report.sql"
[ -n "${BENCH_KEEP:-}" ] || sql -q -c 'DROP DATABASE bench_run'
