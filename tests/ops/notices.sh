#!/usr/bin/env bash
# Writing an AccessPolicy with findings succeeds and reports each error and
# warning of fhir.lint_policy as a NOTICE (psql shows them on stderr, which
# the SQL specification cannot assert on). Prints "ok - ..." lines.
#
#   tests/ops/notices.sh PG_CONFIG
source "$(dirname "$0")/../../scripts/env.sh"
pg_config=$1
bindir=$("$pg_config" --bindir)
cluster=$(start_cluster "$pg_config")
trap 'stop_cluster "$pg_config" "$cluster"' EXIT
"$bindir/createdb" -h "$cluster" -U postgres notices
out=$("$bindir/psql" -X -q -h "$cluster" -U postgres -d notices -v ON_ERROR_STOP=1 -At 2>&1 <<'SQL'
CREATE EXTENSION fhir_access;
SELECT fhir.create('{"resourceType": "Project", "id": "lp", "name": "LP"}') IS NOT NULL AS project;
SELECT fhir.create('{"resourceType": "AccessPolicy", "meta": {"project": "lp"}, "resource": [
  {"resourceType": "Patient", "criteria": "Patient?nope=1"},
  {"resourceType": "Observation", "criteria": "Observation?subject=%patient", "hiddenFields": ["value[x]"]}]}')->>'resourceType';
SQL
) || true
check() { if grep -qF -- "$2" <<<"$out"; then echo "ok - $1"; else echo "not ok - $1"; printf '%s\n' "$out" | sed 's/^/    /'; fi; }
check "the AccessPolicy is written despite its findings" "AccessPolicy"
check "a warning of the write is a NOTICE naming the entry and the code" "NOTICE:  AccessPolicy resource[0]: criteria \`Patient?nope=1\`"
check "the NOTICE ends with the stable code" "[unknown-search-parameter]"
if grep -q "resource\[1\]" <<<"$out"; then echo "not ok - a clean entry raises no NOTICE"; else echo "ok - a clean entry raises no NOTICE"; fi

# fhir.import reports its progress every 10,000 lines.
progress=$("$bindir/psql" -X -q -h "$cluster" -U postgres -d notices -v ON_ERROR_STOP=1 -At 2>&1 <<'SQL'
SELECT fhir.import(string_agg(format('{"resourceType": "Basic", "meta": {"project": "lp"}, "code": {"text": "b%s"}}', n), E'\n'))
FROM generate_series(1, 20001) n;
SQL
) || true
out=$progress
check "fhir.import returns the count of created resources" "20001"
check "a progress NOTICE after 10,000 lines" "NOTICE:  fhir.import: 10000 resources created (line 10000)"
check "and after 20,000" "NOTICE:  fhir.import: 20000 resources created (line 20000)"
if [ "$(grep -c 'NOTICE:  fhir.import' <<<"$progress")" = 2 ]; then echo "ok - no other progress NOTICE"; else echo "not ok - no other progress NOTICE"; printf '%s\n' "$progress" | sed 's/^/    /'; fi
