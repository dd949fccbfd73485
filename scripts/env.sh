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
die() { printf '\nerror: %s\n' "$*" >&2; exit 1; }

# Runs the calling script as root: directly when root already (a fresh Debian
# machine has no sudo), through sudo otherwise.
require_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  command -v sudo >/dev/null 2>&1 || die "run as root (PostgreSQL packages, builds and the postgres user are managed here)"
  exec sudo --preserve-env=FHIR_ACCESS_CACHE,PG_VERSIONS,SQL_ONLY,BENCH_SCALE,CI bash "$0" "$@"
}

# Debian packages: PostgreSQL 15 from bookworm, the toolchain pgrx's bindgen
# needs, and what building PostgreSQL from source needs.
install_packages() {
  local pkgs=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config
              sudo bison flex libreadline-dev zlib1g-dev dpkg-dev build-essential
              curl ca-certificates git pgbouncer)
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

# PostgreSQL sources built here, pinned to versions whose files the Debian
# pool serves (an index can list a newer version whose files are gone) and
# verified by the SHA-256 that Debian's .dsc records for the orig tarball.
#   major  Debian source package  upstream  sha256 of the orig tarball
PG_PINS=(
  "17 postgresql-17 17.11 dd27f2b3c59e73ed14aa3324901242bf69a032a6347805f274e6260322d42979"
  "18 postgresql-18 18.6 555610c24d53e4316da5b7d3fc25c279d96856d5e0e23ee308c328c5fa881d9f"
)

# The Debian archive URI of the machine's own apt sources (never a hard-coded host).
debian_archive_uri() {
  local uri
  uri=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || uri=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)
  [ -n "$uri" ] || die "no Debian apt source found in /etc/apt/sources.list{,.d} to fetch PostgreSQL sources from"
  echo "${uri%/}"
}

# Fetches and verifies the pinned orig tarball of MAJOR into the cache; prints its path.
fetch_postgres_source() {
  local major=$1 pin package upstream sha file url
  for pin in "${PG_PINS[@]}"; do
    read -r m package upstream sha <<<"$pin"
    [ "$m" = "$major" ] && break
    package=
  done
  [ -n "$package" ] || die "no pinned source for PostgreSQL $major"
  mkdir -p "$FHIR_ACCESS_CACHE/src"
  file="$FHIR_ACCESS_CACHE/src/${package}_$upstream.orig.tar.bz2"
  if ! echo "$sha  $file" | sha256sum -c --status 2>/dev/null; then
    url="$(debian_archive_uri)/pool/main/p/$package/${package}_$upstream.orig.tar.bz2"
    log "downloading PostgreSQL $upstream source ($url)"
    curl -sSfL --retry 3 -o "$file.part" "$url" || { rm -f "$file.part"; die "could not download $url"; }
    echo "$sha  $file.part" | sha256sum -c --status \
      || { rm -f "$file.part"; die "$url does not have the pinned SHA-256 $sha"; }
    mv "$file.part" "$file"
  fi
  echo "$upstream $file"
}

# Builds pinned PostgreSQL MAJOR into $FHIR_ACCESS_CACHE/pg/MAJOR-<upstream>,
# keyed by that version; a build that stops half-way leaves no cache entry.
build_postgres() {
  local major=$1 upstream file prefix work
  read -r upstream file < <(fetch_postgres_source "$major") || exit 1
  [ -n "$file" ] || exit 1
  prefix="$FHIR_ACCESS_CACHE/pg/$major-$upstream"
  if [ ! -f "$prefix/.complete" ]; then
    log "building PostgreSQL $upstream from source (about 5 minutes, once)"
    rm -rf "$prefix"
    work=$(mktemp -d)
    if ! (cd "$work" && tar xf "$file" && cd "postgresql-$upstream" \
          && ./configure -q --prefix="$prefix" --without-icu >"$work/build.log" 2>&1 \
          && make -s -j"$(nproc)" >>"$work/build.log" 2>&1 \
          && make -s install >>"$work/build.log" 2>&1); then
      tail -n 30 "$work/build.log" >&2 || true
      rm -rf "$work" "$prefix"
      die "building PostgreSQL $upstream failed (log above)"
    fi
    rm -rf "$work"
    [ -x "$prefix/bin/pg_config" ] || die "PostgreSQL $upstream built without $prefix/bin/pg_config"
    touch "$prefix/.complete"
  fi
  echo "$prefix/bin/pg_config"
}

# pg_config for each supported major: 15 from Debian, 17 and 18 built.
pg_config_for() {
  case $1 in
    15) echo /usr/lib/postgresql/15/bin/pg_config ;;
    17) build_postgres 17 ;;
    18) build_postgres 18 ;;
    *) echo "unsupported PostgreSQL major $1 (15, 17 or 18)" >&2; exit 1 ;;
  esac
}

# Cargo's build cache lives outside the clone; cargo's own fingerprints keep it honest.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$FHIR_ACCESS_CACHE/target}
export PGRX_HOME=${PGRX_HOME:-$FHIR_ACCESS_CACHE/pgrx-home}

# Registers the pg_config with cargo-pgrx and installs the extension into it.
install_extension() {
  local major=$1 pg_config=$2 profile=${3:-debug}
  [ -x "$pg_config" ] || die "no pg_config at $pg_config for PostgreSQL $major"
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
# Data checksums are on for every version, as 18 has them by default, so that
# pg_upgrade can pair any two.
init_cluster() {
  local dir=$1 bindir=$2
  shift 2
  chown postgres: "$dir"
  runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres -A trust --data-checksums --no-sync >/dev/null
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

# The commit of recorded release VERSION (releases.txt).
release_commit() {
  awk -v v="$1" '!/^#/ && $1 == v { print $2 }' "$REPO_ROOT/releases.txt"
}

# Builds recorded release VERSION for PostgreSQL MAJOR from its commit, once:
# the packaged files (lib and share trees) are cached under a key made of the
# commit, the major, the PostgreSQL build, rustc and pgrx. Prints the
# package directory.
build_release() {
  local version=$1 major=$2 pg_config=$3 commit rustc_v key dir work
  commit=$(release_commit "$version")
  [ -n "$commit" ] || die "release $version is not recorded in releases.txt"
  rustc_v=$(rustc --version | awk '{print $2}')
  key="$version-${commit:0:12}-pg$major-$("$pg_config" --version | awk '{print $2}')-rustc$rustc_v-pgrx$PGRX_VERSION"
  dir="$FHIR_ACCESS_CACHE/releases/$key"
  if [ ! -f "$dir/.complete" ]; then
    log "building release $version ($commit) for PostgreSQL $major (once)"
    rm -rf "$dir"
    work="$FHIR_ACCESS_CACHE/releases/build-$key"
    rm -rf "$work" && mkdir -p "$work/src"
    git -C "$REPO_ROOT" archive "$commit" | tar -x -C "$work/src"
    # Its own target directory: cargo's fingerprints are not shared across source trees.
    if ! (cd "$work/src" && CARGO_TARGET_DIR="$work/target" cargo pgrx package --debug --package fhir_access \
          --pg-config "$pg_config" --no-default-features --features "pg$major" --out-dir "$dir.tmp" >"$work/build.log" 2>&1); then
      tail -n 30 "$work/build.log" >&2
      die "building release $version failed (log above)"
    fi
    rm -rf "$work"
    mv "$dir.tmp" "$dir" && touch "$dir/.complete"
  fi
  echo "$dir"
}
