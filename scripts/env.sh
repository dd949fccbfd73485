# Shared set-up for scripts/demo.sh, scripts/test.sh and scripts/bench.sh.
# Source it (as root on Debian bookworm). Every step is idempotent and cached
# under $FHIR_ACCESS_CACHE, keyed by the exact versions it depends on, so a
# second run is fast and a stale cache is never reused.
set -euo pipefail

FHIR_ACCESS_CACHE=${FHIR_ACCESS_CACHE:-/var/cache/fhir_access}
PGRX_VERSION=0.18.0
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export FHIR_ACCESS_CACHE REPO_ROOT
mkdir -p "$FHIR_ACCESS_CACHE"

log() { printf '\n== %s\n' "$*" >&2; }

require_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (PostgreSQL packages, builds and the postgres user are managed here)" >&2
    exit 1
  fi
}

# Debian packages: PostgreSQL 15 from bookworm, the toolchain pgrx's bindgen
# needs, and what building PostgreSQL from source needs.
install_packages() {
  local pkgs=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config
              sudo bison flex libreadline-dev zlib1g-dev dpkg-dev build-essential
              curl ca-certificates git)
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # The Debian package starts a cluster on 5432; tests and the demo run their
  # own clusters, so leave it alone.
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
  fi
  command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust 1.95 with rustup" >&2; exit 1; }
}

# cargo-pgrx, installed once per (pgrx version, rustc version).
install_cargo_pgrx() {
  ensure_rust
  local rustc_v root
  rustc_v=$(rustc --version | awk '{print $2}')
  root="$FHIR_ACCESS_CACHE/cargo-pgrx-$PGRX_VERSION-rustc$rustc_v"
  if [ ! -x "$root/bin/cargo-pgrx" ]; then
    log "cargo install cargo-pgrx $PGRX_VERSION (about 6 minutes, once)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked --root "$root.tmp" >/dev/null
    rm -rf "$root" && mv "$root.tmp" "$root"
  fi
  export PATH="$root/bin:$PATH"
}

# Adds deb-src entries for a newer Debian suite, reusing the URI the machine's
# own apt sources use (never a hard-coded archive host).
add_source_suite() {
  local suite=$1 file=/etc/apt/sources.list.d/fhir-access-src-$1.sources uri
  [ -f "$file" ] && return 0
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1)
  [ -n "$uri" ] || { echo "no Debian apt source found to copy" >&2; exit 1; }
  printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$suite" > "$file"
  apt-get update -qq
}

# Builds PostgreSQL MAJOR from the Debian source package of SUITE into
# $FHIR_ACCESS_CACHE/pg/MAJOR-<upstream version>, keyed by that version.
build_postgres() {
  local major=$1 suite=$2 version upstream prefix work
  add_source_suite "$suite"
  version=$(apt-cache showsrc "postgresql-$major" | awk '/^Version:/{print $2}' | sort -V | tail -n1)
  [ -n "$version" ] || { echo "no source package postgresql-$major in $suite" >&2; exit 1; }
  upstream=${version%%-*}
  prefix="$FHIR_ACCESS_CACHE/pg/$major-$upstream"
  if [ ! -f "$prefix/.complete" ]; then
    log "building PostgreSQL $upstream from source (a few minutes, once)"
    work=$(mktemp -d) && chmod 755 "$work"
    (cd "$work" && apt-get source -qq --download-only "postgresql-$major=$version" >/dev/null \
      && tar xf postgresql-"$major"_"$upstream".orig.tar.* \
      && cd postgresql-"$upstream" \
      && ./configure -q --prefix="$prefix" --without-icu >/dev/null \
      && make -s -j"$(nproc)" >/dev/null 2>&1 \
      && make -s install >/dev/null)
    rm -rf "$work"
    touch "$prefix/.complete"
  fi
  echo "$prefix/bin/pg_config"
}

# pg_config for each supported major: 15 from Debian, 17 and 18 built.
pg_config_for() {
  case $1 in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    17) build_postgres 17 trixie ;;
    18) build_postgres 18 sid ;;
    *) echo "unsupported PostgreSQL major $1 (15, 17 or 18)" >&2; exit 1 ;;
  esac
}

# Cargo's build cache lives outside the clone; cargo's own fingerprints keep it honest.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FHIR_ACCESS_CACHE/target}
export PGRX_HOME=${PGRX_HOME:-$FHIR_ACCESS_CACHE/pgrx-home}

# Registers the pg_config with cargo-pgrx and installs the extension into it.
install_extension() {
  local major=$1 pg_config=$2 profile=${3:-debug}
  mkdir -p "$PGRX_HOME"
  cargo pgrx init "--pg$major" "$pg_config" >/dev/null
  log "building and installing fhir_access into PostgreSQL $major ($profile)"
  local flags=(--package fhir_access --pg-config "$pg_config" --no-default-features --features "pg$major")
  [ "$profile" = release ] && flags+=(--release)
  local build_log
  build_log=$(mktemp)
  (cd "$REPO_ROOT" && cargo pgrx install "${flags[@]}" >"$build_log" 2>&1) || { cat "$build_log" >&2; rm -f "$build_log"; return 1; }
  rm -f "$build_log"
}

# Initialises a cluster owned by the postgres user in DIR/data, listening only
# on a unix socket in DIR, with fhir_access preloaded (so its settings exist
# before any client connects); further arguments are postgresql.conf lines.
init_cluster() {
  local dir=$1 bindir=$2
  shift 2
  chown postgres: "$dir"
  runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
  { printf "listen_addresses = ''\nunix_socket_directories = '%s'\nshared_preload_libraries = 'fhir_access'\n" "$dir"
    printf '%s\n' "$@"; } >> "$dir/data/postgresql.conf"
}

# Starts a throw-away cluster for the tests. Prints its directory.
start_cluster() {
  local pg_config=$1 bindir dir
  bindir=$("$pg_config" --bindir)
  dir=$(mktemp -d /tmp/fhir_access_pg.XXXXXX)
  init_cluster "$dir" "$bindir" "fsync = off" "max_worker_processes = 8"
  runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
  echo "$dir"
}

stop_cluster() {
  local pg_config=$1 dir=$2
  runuser -u postgres -- "$("$pg_config" --bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
}
