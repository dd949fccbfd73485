#!/usr/bin/env bash
# The client examples (examples/): the Python and Node gateways, each through
# pgbouncer in transaction mode and directly, each in a fresh copy of the
# clinic, must print examples/expected.jsonl; the analyst's psql session must
# show what its policy lets it see. The examples' dependencies are installed
# once per lock file under $FHIR_ACCESS_CACHE/examples/. Prints "ok - ..." /
# "not ok - ..." lines.
#
#   tests/ops/examples.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
source "$REPO_ROOT/tests/lib.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
examples=$REPO_ROOT/examples
for tool in python3 node npm; do command -v "$tool" >/dev/null || die "the examples need $tool"; done

# Installs dependencies once into $FHIR_ACCESS_CACHE/examples/NAME-KEY, KEY
# the sha256 of the lock file and the runtime's version, by running INSTALL
# DIR; a changed lock file gets a new directory, and an install that stopped
# half-way (no .complete) is redone. Prints the directory.
cached_install() {
  local name=$1 lock=$2 runtime=$3 install=$4 dir
  dir=$FHIR_ACCESS_CACHE/examples/$name-$({ cat "$lock"; echo "$runtime"; } | sha256sum | cut -c1-16)
  if [ ! -f "$dir/.complete" ]; then
    log "installing the $name example's dependencies into $dir (once)"
    rm -rf "$dir" && mkdir -p "$dir"
    "$install" "$dir" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; die "installing the $name example's dependencies failed"; }
    rm -f "$dir.log"
    touch "$dir/.complete"
  fi
  echo "$dir"
}
install_python() { python3 -m venv "$1" && "$1/bin/pip" install -q -r "$examples/python/requirements.txt"; }
install_node() { cp "$examples/node/package.json" "$examples/node/package-lock.json" "$1" && (cd "$1" && npm ci --no-audit --no-fund); }
venv=$(cached_install python "$examples/python/requirements.txt" "$(python3 --version)" install_python)
node_deps=$(cached_install node "$examples/node/package-lock.json" "node $(node --version)" install_node)

cluster=$(start_cluster "$pg_config")
pool=$(mktemp -d /tmp/fhir_access_pool.XXXXXX)
out=$(mktemp -d /tmp/fhir_access_examples.XXXXXX)
chown postgres: "$pool"
cleanup() {
  stop_pgbouncer "$pool"
  rm -rf "$pool" "$out"
  stop_cluster "$pg_config" "$cluster"
}
trap cleanup EXIT
sql() { "$bindir/psql" -X -q -At -h "$cluster" -U postgres "$@"; }
check() { local what=$1; shift; if "$@"; then echo "ok - $what"; else echo "not ok - $what"; fi; }

"$bindir/createdb" -h "$cluster" -U postgres clinic
sql -d clinic -f "$examples/clinic.sql"

# Every database name goes to the cluster ("*"), so that each run gets its own
# copy; one server connection per database serves all of a gateway's pooled
# connections, so that each transaction follows another login's.
start_pgbouncer "$pool" gateway "* = host=$cluster" "default_pool_size = 1"

# Runs LANGUAGE's gateway as the gateway role in database DB through
# HOST:PORT, its output into FILE and its errors into FILE.err.
gateway() {
  local language=$1 db=$2 host=$3 port=$4 file=$5
  local -a program=("$venv/bin/python" "$examples/python/gateway.py")
  [ "$language" = node ] && program=(node "$examples/node/gateway.js")
  PGHOST=$host PGPORT=$port PGDATABASE=$db PGUSER=gateway NODE_PATH="$node_deps/node_modules" \
    "${program[@]}" >"$file" 2>"$file.err"
}
fails() { ! "$@"; }
# Fails as the gateway's assertions make it fail: on a line unlike expected.jsonl.
mismatches() { fails gateway "$@" && grep -q '^line [0-9]*: got ' "$5.err"; }

for language in python node; do
  for via in pgbouncer direct; do
    db=${language}_$via
    "$bindir/createdb" -h "$cluster" -U postgres -T clinic "$db"
    if [ "$via" = pgbouncer ]; then host=$pool port=6543; else host=$cluster port=5432; fi
    check "the $language gateway ($via) answers every request as examples/expected.jsonl says" \
      gateway "$language" "$db" "$host" "$port" "$out/$db"
    sed "s/^/  $db: /" "$out/$db.err"
  done
done
identical() { for run in python_direct node_pgbouncer node_direct; do cmp "$out/python_pgbouncer" "$out/$run" || return 1; done; }
check "Python and Node print the same $(wc -l <"$out/python_pgbouncer") lines, byte for byte, through pgbouncer and directly" identical
pooled=$(sql -d clinic -c "SELECT string_agg(DISTINCT datname, ' ' ORDER BY datname) FROM pg_stat_activity
                            WHERE usename = 'gateway' AND datname LIKE '%pgbouncer'")
check "the pooled runs went through pgbouncer, which keeps their server connections open" [ "$pooled" = "node_pgbouncer python_pgbouncer" ]
# A second run in the same database sees the first one's writes: the
# gateways' own assertions must catch the difference.
for language in python node; do
  check "the $language gateway exits non-zero when its answers differ from examples/expected.jsonl" \
    mismatches "$language" "${language}_direct" "$cluster" 5432 "$out/again"
done

# The analyst's session, run as its README says.
"$bindir/createdb" -h "$cluster" -U postgres -T clinic bi
session=$("$bindir/psql" -X -h "$cluster" -U analyst -d bi -f "$examples/bi-psql/session.sql" 2>&1)
has() { check "bi-psql: $2" grep -qE -- "$1" <<<"$session"; }
# The value under the one-column header NAME.
value_of() { awk -v name="$1" '$1 == name { getline; getline; print $1; exit }' <<<"$session"; }
has '^ Observation +\| +4$' "counts only the clinic's 4 current Observations"
has '^ Patient +\| +3$' "and its 3 Patients"
has '^ p1 +\| female +\| 1984-02-03 +\| f$' "a Patient comes without its hidden name"
has '^ o1 +\| p1 +\| female +\| 72$' "Observations join their Patients"
check "bi-psql: a filter on the hidden name finds nothing" [ "$(value_of named_ortiz)" = 0 ]
check "bi-psql: nor does a search" [ "$(value_of searched_ortiz)" = 0 ]
has 'ERROR:  42501: Forbidden: update on Patient' "the write is refused with 42501"
has '^DETAIL:  \{.*"resourceType":"OperationOutcome"' "with an OperationOutcome as DETAIL"
has "Index Cond: \(\(resource_type = 'Observation'::text\) AND \(id = 'o1'::text\)\)" "a filter on resource_type and id is an index condition"
has "Index Cond: \(\(project_id = 'clinic'::text\) AND \(resource_type = 'Observation'::text\)\)" "so is one on project_id and resource_type"
has 'Bitmap Index Scan on resource_content_idx' "content @> can use the content index, in the branch of sessions that hide nothing"
has "_redact\\(.*\\) @> '" "in this analyst's branch it filters the redacted content, after the policy"
