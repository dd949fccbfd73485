#!/usr/bin/env bash
# pg_upgrade carries a clinic from PostgreSQL 15 to 17, then from 17 to 18,
# with the extension installed in each. After each upgrade every client's
# answers must be byte-identical to those before the first, and fhir.verify()
# clean. Prints "ok - ..." / "not ok - ..." lines.
#
#   tests/versions/pg_upgrade.sh PG_CONFIG_15 PG_CONFIG_17 PG_CONFIG_18
source "$(dirname "$0")/../../scripts/env.sh"
here="$REPO_ROOT/tests/ops"
work=$(mktemp -d /tmp/fhir_access_pg_upgrade.XXXXXX)
chown postgres: "$work"
running=
cleanup() {
  [ -n "$running" ] && runuser -u postgres -- "$running/pg_ctl" -D "$work/$major/data" -m fast -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

start() { runuser -u postgres -- "$1/pg_ctl" -D "$2/data" -l "$2/log" -w start >/dev/null; running=$1; }
stop() { runuser -u postgres -- "$1/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null; running=; }
psql_in() { "$1/psql" -X -q -h "$2" -U postgres -v ON_ERROR_STOP=1 "${@:3}"; }
answers() {
  psql_in "$1" "$2" -d clinic -f "$here/answers.sql"
  psql_in "$1" "$2" -d clinic -Atc "SELECT 'verify ' || count(*) FROM fhir.verify()"
}

previous_bin= previous_dir=
for pg_config in "$@"; do
  bin=$("$pg_config" --bindir)
  major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
  dir="$work/$major"
  mkdir -p "$dir"
  init_cluster "$dir" "$bin"
  if [ -z "$previous_bin" ]; then
    start "$bin" "$dir"
    psql_in "$bin" "$dir" -d postgres -f "$here/roles.sql" >/dev/null
    "$bin/createdb" -h "$dir" -U postgres clinic
    psql_in "$bin" "$dir" -d clinic -f "$here/data.sql" >/dev/null
    answers "$bin" "$dir" > "$work/before.txt"
    echo "ok - a clinic on PostgreSQL $major ($(wc -l < "$work/before.txt") lines of answers)"
    # Debian's PostgreSQL 15.20 gives every column a server-managed attribute
    # option, pg_attver, that 17.11's pg_dump copies into the dump and 17.11's
    # server rejects ("unrecognized parameter"): pg_upgrade from it fails for
    # any table, with or without fhir_access. It is removed before upgrading.
    for db in postgres clinic; do
      psql_in "$bin" "$dir" -d "$db" -c "UPDATE pg_catalog.pg_attribute
        SET attoptions = nullif(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg\\_attver=%'), '{}')
        WHERE attrelid >= 16384 AND attoptions::text LIKE '%pg\\_attver=%'" >/dev/null
    done
    stop "$bin" "$dir"
  else
    from=$(basename "$previous_dir")
    if (cd "$work" && runuser -u postgres -- "$bin/pg_upgrade" -b "$previous_bin" -B "$bin" \
          -d "$previous_dir/data" -D "$dir/data" -U postgres -s "$work" >"$work/upgrade.log" 2>&1); then
      echo "ok - pg_upgrade from PostgreSQL $from to $major"
    else
      echo "not ok - pg_upgrade from PostgreSQL $from to $major"
      tail -n 5 "$work/upgrade.log" | sed 's/^/    /'
      grep -h -B2 -A8 "error" "$dir"/data/pg_upgrade_output.d/*/log/pg_upgrade_dump_*.log 2>/dev/null | sed 's/^/    /'
      exit 1
    fi
    start "$bin" "$dir"
    answers "$bin" "$dir" > "$work/after.txt" 2>&1 || true
    if cmp -s "$work/before.txt" "$work/after.txt"; then
      echo "ok - on PostgreSQL $major every client's answers are byte-identical and fhir.verify() is clean"
    else
      echo "not ok - on PostgreSQL $major the clients' answers differ"
      diff "$work/before.txt" "$work/after.txt" | head -n 10 | sed 's/^/    /'
    fi
    stop "$bin" "$dir"
  fi
  previous_bin=$bin previous_dir=$dir
done
