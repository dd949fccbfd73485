#!/usr/bin/env bash
# Runs every test: the pure-Rust crates (cargo test), then on each
# PostgreSQL version (PG_VERSIONS, default "15 17 18") the shell's
# #[pg_test]s (cargo pgrx test), the SQL specification in tests/sql against
# the installed extension (each file in a fresh database) and the operations
# in tests/ops; then the cross-version ones in tests/versions. Prints one
# closing line: "N passed, N failed".
#
#   sudo scripts/test.sh                  # everything
#   PG_VERSIONS=15 SQL_ONLY=1 scripts/test.sh view   # one version, SQL files matching "view"
source "$(dirname "$0")/env.sh"
require_root "$@"
install_packages
install_cargo_pgrx

filter=${1:-}
passed=0
failed=0
failures=()

# Runs a script that prints "ok - ..." / "not ok - ..." lines, and counts them.
run_script() {
  local label=$1 name=$2 out status ok bad
  shift 2
  out=$(bash "$@" 2>&1) && status=0 || status=$?
  ok=$(grep -c '^ok - ' <<<"$out" || true)
  bad=$(grep -c '^not ok - ' <<<"$out" || true)
  if [ "$status" -ne 0 ]; then
    bad=$((bad + 1)); failures+=("$label $name: stopped by an error")
    printf '%s\n' "$out" | grep -v '^ok - ' | tail -n 15 | sed "s/^/  $label ${name//\//\\/}: /"
  elif [ "$bad" -gt 0 ]; then
    failures+=("$label $name")
    printf '%s\n' "$out" | grep -v '^ok - ' | sed "s/^/  $label ${name//\//\\/}: /"
  fi
  printf '  %s %-28s %3d ok %3d not ok\n' "$label" "$name" "$ok" "$bad"
  passed=$((passed + ok)); failed=$((failed + bad))
}

if [ -z "${SQL_ONLY:-}" ]; then
  log "cargo test (pure-Rust crates)"
  cargo_out=$(mktemp)
  (cd "$REPO_ROOT" && cargo test 2>&1) > "$cargo_out" && cargo_status=0 || cargo_status=$?
  grep -E '^(test result|conformance|failures:|---- |error)' "$cargo_out" || true
  read -r cp cf < <(awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' "$cargo_out")
  passed=$((passed + cp)); failed=$((failed + cf))
  if [ "$cargo_status" -ne 0 ]; then
    [ "$cf" -eq 0 ] && failed=$((failed + 1))
    failures+=("cargo test")
    tail -n 30 "$cargo_out"
  fi
  rm -f "$cargo_out"
  log "cargo fmt --check, cargo clippy -D warnings (pure-Rust crates)"
  if (cd "$REPO_ROOT" && cargo fmt --all -- --check && cargo clippy -q -p fhirpath -p fhir_access_core --all-targets -- -D warnings); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("fmt or clippy")
  fi
fi

for major in ${PG_VERSIONS:-15 17 18}; do
  pg_config=$(pg_config_for "$major")
  if [ -z "${SQL_ONLY:-}" ]; then
    # Before install_extension: `cargo pgrx test` installs its own test build.
    log "cargo pgrx test pg$major (the shell's #[pg_test]s)"
    cargo pgrx init "--pg$major" "$pg_config" >/dev/null
    pgdata=$(mktemp -d /tmp/fhir_access_pgrx.XXXXXX) && chown postgres: "$pgdata"
    pgrx_out=$(cd "$REPO_ROOT" && cargo pgrx test -p fhir_access "pg$major" --runas postgres --pgdata "$pgdata/data" 2>&1) \
      && pgrx_status=0 || pgrx_status=$?
    rm -rf "$pgdata"
    read -r tp tf < <(awk '/^test result:/ {p += $4; f += $6} END {print p+0, f+0}' <<<"$pgrx_out")
    grep -E '^test .*(FAILED|ok)$|^test result' <<<"$pgrx_out" | sed "s/^/  pg$major /" || true
    if [ "$pgrx_status" -ne 0 ]; then
      [ "$tf" -eq 0 ] && tf=1
      failures+=("pg$major cargo pgrx test"); tail -n 30 <<<"$pgrx_out"
    fi
    passed=$((passed + tp)); failed=$((failed + tf))
  fi
  install_extension "$major" "$pg_config"
  if [ -z "${SQL_ONLY:-}" ] && [ -z "${linted:-}" ]; then
    log "cargo clippy -D warnings (the extension, PostgreSQL $major)"
    if (cd "$REPO_ROOT" && cargo clippy -q -p fhir_access --no-default-features --features "pg$major" --all-targets -- -D warnings); then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); failures+=("clippy (extension)")
    fi
    linted=1
  fi
  cluster=$(start_cluster "$pg_config")
  trap 'stop_cluster "$pg_config" "$cluster"' EXIT
  bindir=$("$pg_config" --bindir)
  log "SQL specification on PostgreSQL $("$pg_config" --version | awk '{print $2}')"
  shopt -s nullglob
  for file in "$REPO_ROOT"/tests/sql/*"$filter"*.sql; do
    name=$(basename "$file" .sql)
    db="t_$name"
    "$bindir/createdb" -h "$cluster" -U postgres "$db"
    out=$("$bindir/psql" -X -h "$cluster" -U postgres -d "$db" -v ON_ERROR_STOP=1 -v repo="$REPO_ROOT" \
          -f "$REPO_ROOT/tests/harness.sql" -f "$file" 2>&1) && status=0 || status=$?
    ok=$(grep -c '^ok - ' <<<"$out" || true)
    bad=$(grep -c '^not ok - ' <<<"$out" || true)
    if [ "$status" -ne 0 ]; then
      bad=$((bad + 1))
      printf '%s\n' "$out" | grep -v '^ok - ' | tail -n 15 | sed "s/^/  pg$major $name: /"
      failures+=("pg$major $name: stopped by an error")
    fi
    grep '^not ok - ' <<<"$out" | sed "s/^/  pg$major $name: /" || true
    [ "$bad" -gt 0 ] && [ "$status" -eq 0 ] && failures+=("pg$major $name")
    printf '  pg%s %-28s %3d ok %3d not ok\n' "$major" "$name" "$ok" "$bad"
    passed=$((passed + ok)); failed=$((failed + bad))
    "$bindir/dropdb" -h "$cluster" -U postgres "$db"
  done
  stop_cluster "$pg_config" "$cluster"
  trap - EXIT
  # Operations that need clusters of their own (tests/ops).
  if [ -z "$filter" ] || [[ ops == *"$filter"* ]]; then
    for ops in "$REPO_ROOT"/tests/ops/*.sh; do run_script "pg$major" "ops/$(basename "$ops" .sh)" "$ops" "$pg_config"; done
  fi
done

# Operations across versions (tests/versions: pg_upgrade), when all three ran.
if [ "${PG_VERSIONS:-15 17 18}" = "15 17 18" ] && { [ -z "$filter" ] || [[ versions == *"$filter"* ]]; }; then
  for script in "$REPO_ROOT"/tests/versions/*.sh; do
    run_script "pg15-18" "versions/$(basename "$script" .sh)" "$script" \
      "$(pg_config_for 15)" "$(pg_config_for 17)" "$(pg_config_for 18)"
  done
fi

if [ ${#failures[@]} -gt 0 ]; then
  printf '\nfailed: %s\n' "${failures[@]}"
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
