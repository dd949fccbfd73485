# Helpers shared by the scripts in tests/ops and tests/versions; sourced
# after scripts/env.sh. Every check prints one "ok - ..." or "not ok - ..."
# line, which scripts/test.sh counts.

# is GOT WANT WHAT
is() { if [ "$1" = "$2" ]; then echo "ok - $3"; else echo "not ok - $3: got $1, want $2"; fi; }

# same WHAT FILE_A FILE_B: byte-identical, or the start of the difference.
same() {
  if cmp -s "$2" "$3"; then
    echo "ok - $1"
  else
    echo "not ok - $1"
    diff "$2" "$3" | head -n 20 | sed 's/^/    /'
  fi
}

# start_pgbouncer DIR USER DATABASES_LINE [SETTING...]: Debian's pgbouncer in
# transaction mode, for USER (trust), listening only on the unix socket
# DIR/.s.PGSQL.6543; stop it with stop_pgbouncer DIR.
start_pgbouncer() {
  local dir=$1 user=$2 databases=$3
  shift 3
  { printf '[databases]\n%s\n[pgbouncer]\npool_mode = transaction\nlisten_addr =\nlisten_port = 6543\n' "$databases"
    printf 'unix_socket_dir = %s\nauth_type = trust\nauth_file = %s/users.txt\n' "$dir" "$dir"
    printf 'pidfile = %s/pgbouncer.pid\nlogfile = %s/pgbouncer.log\n' "$dir" "$dir"
    printf '%s\n' "$@"; } > "$dir/pgbouncer.ini"
  echo "\"$user\" \"\"" > "$dir/users.txt"
  chown -R postgres: "$dir"
  runuser -u postgres -- pgbouncer -d "$dir/pgbouncer.ini"
  for _ in $(seq 1 50); do [ -S "$dir/.s.PGSQL.6543" ] && return 0; sleep 0.1; done
  die "pgbouncer did not start (see $dir/pgbouncer.log)"
}

stop_pgbouncer() { [ -f "$1/pgbouncer.pid" ] && kill "$(cat "$1/pgbouncer.pid")" 2>/dev/null; true; }

# clean_copy_of_postgres PG_CONFIG ROOT: a copy of that PostgreSQL under ROOT
# (its binaries find lib and share relative to themselves) without any file
# of fhir_access, as a machine that never had it. Prints the copy's pg_config.
clean_copy_of_postgres() {
  local pg_config=$1 root=$2 bindir pkglibdir sharedir
  bindir=$("$pg_config" --bindir) pkglibdir=$("$pg_config" --pkglibdir) sharedir=$("$pg_config" --sharedir)
  mkdir -p "$root"
  (cd / && cp -a --parents "${bindir#/}" "${pkglibdir#/}" "${sharedir#/}" "$root")
  rm -f "$root$pkglibdir"/fhir_access.so "$root$sharedir"/extension/fhir_access*
  echo "$root$bindir/pg_config"
}
