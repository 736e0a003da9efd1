#!/usr/bin/env bash
# Prepares the Redis-compatible servers that provision's bundles are tried against, cached by
# version under ${XDG_CACHE_HOME:-$HOME/.cache}/provision/servers/<name>-<version>/bin/
# (<name>-server, <name>-cli, <name>-sentinel):
#   redis-7.0   bookworm's redis-server/redis-tools (apt-get install when missing); the cache dir
#               only holds symlinks to /usr/bin
#   valkey-8.0  bookworm-backports' valkey-server + valkey-tools .debs, unpacked with dpkg-deb -x
#               into the cache (nothing system-wide is installed or replaced)
#   redis-8.0   Debian sid's SOURCE package (deb-src only: no binary ever comes from sid), built
#   valkey-9.1  with the upstream `make BUILD_TLS=yes USE_SYSTEMD=no MALLOC=libc` (no Debian
#               packaging is run; Debian's patches, applied by dpkg-source -x, stay)
# PROVISION_TEST_SERVERS="redis-7.0 valkey-9.1" prepares only some (default: all four).
# A dir is used only once its .complete marker (written last) exists, so a killed build is redone;
# a warm run does no apt or network work. Delete a dir to pick up a newer Debian version.
# Progress goes to stderr, logs to <dir>/build.log (printed on failure); stdout is one line per
# server: NAME VERSION BINDIR. A server that cannot be prepared is an error, never a skip.
set -euo pipefail
set -E

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/provision/servers"
ALL="redis-7.0 valkey-8.0 redis-8.0 valkey-9.1"
WANT="${PROVISION_TEST_SERVERS:-$ALL}"
BACKPORTS_LIST=/etc/apt/sources.list.d/provision-backports.list
SID_SRC_LIST=/etc/apt/sources.list.d/provision-sid-src.list
JOBS="${PROVISION_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

current=""   # the server being prepared, named by every error
log=""       # its log file, printed on failure
say() { echo "servers.sh: $*" >&2; }
die() {
  trap - ERR
  say "error: ${current:+$current: }$*"
  if [ -n "$log" ] && [ -s "$log" ]; then
    say "--- last 60 lines of $log ---"
    tail -n 60 "$log" >&2
  fi
  exit 1
}
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

for s in $WANT; do
  case " $ALL " in *" $s "*) ;; *) die "unknown server '$s' in PROVISION_TEST_SERVERS (known: $ALL)" ;; esac
done

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # two runs at once wait for each other instead of building into the same dir

# The newest complete cache dir for name-major.minor, or nothing.
cached() {
  local d best=""
  for d in "$CACHE/$1".*/; do
    [ -f "$d.complete" ] || continue
    best="$(printf '%s\n%s\n' "$best" "${d%/}" | sed '/^$/d' | sort -V | tail -n 1)"
  done
  [ -z "$best" ] || echo "$best"
}

# "5:8.0.6-3" / "8.0.1+dfsg1-1~bpo12+1" -> "8.0.6" / "8.0.1"
upstream_version() { local v="${1#*:}"; v="${v%-*}"; echo "${v%%+*}"; }

apt_install() {   # packages missing from the system, from the system's usual (bookworm) sources
  local p missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "$current: apt-get install ${missing[*]}"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"${log:-/dev/null}" 2>&1; then
    $SUDO apt-get update -qq >>"${log:-/dev/null}" 2>&1 || true
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"${log:-/dev/null}" 2>&1 ||
      die "apt-get install ${missing[*]} failed"
  fi
}

# Adds a one-line sources file when missing and refreshes that list alone (seconds, not minutes).
apt_list() {
  local file="$1" line="$2"
  if ! grep -qxF "$line" "$file" 2>/dev/null; then
    say "$current: adding '$line' to $file"
    echo "$line" | $SUDO tee "$file" >/dev/null
  fi
  $SUDO apt-get update -qq -o Dir::Etc::sourcelist="$file" -o Dir::Etc::sourceparts=- \
    -o APT::Get::List-Cleanup=0 >>"$log" 2>&1 || die "apt-get update of $file failed"
}

# A fresh (incomplete) cache dir for name-version; sets $dir and $log.
start_dir() {
  dir="$CACHE/$1-$2"
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  log="$dir/build.log"
  : >"$log"
}

finish() {   # name version dir: checks the binaries run, then writes the marker last
  local n="$1" v="$2" d="$3" b
  for b in server cli sentinel; do
    [ -x "$d/bin/$n-$b" ] || die "$d/bin/$n-$b is missing"
  done
  "$d/bin/$n-server" --version >>"$log" 2>&1 || die "$d/bin/$n-server --version fails (shared libraries? see: ldd $d/bin/$n-server)"
  "$d/bin/$n-server" --version | grep -q "v=$v " || die "$d/bin/$n-server is not version $v: $("$d/bin/$n-server" --version)"
  "$d/bin/$n-cli" --version >>"$log" 2>&1 || die "$d/bin/$n-cli --version fails"
  echo "$v" >"$d/.complete"
}

prepare_redis_7_0() {
  apt_install redis-server redis-tools
  local v
  v="$(/usr/bin/redis-server --version | sed -n 's/.* v=\([0-9.]*\) .*/\1/p')"
  case "$v" in 7.0.*) ;; *) die "/usr/bin/redis-server is version '${v:-unknown}', not 7.0" ;; esac
  [ -x /usr/bin/redis-cli ] || die "/usr/bin/redis-cli is missing (package redis-tools)"
  if [ ! -f "$CACHE/redis-$v/.complete" ]; then
    start_dir redis "$v"
    ln -s /usr/bin/redis-server "$dir/bin/redis-server"
    ln -s /usr/bin/redis-cli "$dir/bin/redis-cli"
    # redis-server enters sentinel mode when argv[0] ends in redis-sentinel
    if [ -x /usr/bin/redis-sentinel ]; then ln -s /usr/bin/redis-sentinel "$dir/bin/redis-sentinel"
    else ln -s /usr/bin/redis-server "$dir/bin/redis-sentinel"; fi
    finish redis "$v" "$dir"
  fi
  result+=("redis $v $CACHE/redis-$v/bin")
}

prepare_valkey_8_0() {
  local d
  d="$(cached valkey-8.0)"
  if [ -z "$d" ]; then
    log="$CACHE/valkey-8.0.log"; : >"$log"
    local t=$SECONDS
    apt_list "$BACKPORTS_LIST" "deb http://deb.debian.org/debian bookworm-backports main"
    local deb_v v tmp
    deb_v="$(apt-cache madison valkey-server | awk -F' *[|] *' '$3 ~ /bookworm-backports\/main/ {print $2; exit}')"
    [ -n "$deb_v" ] || die "bookworm-backports has no valkey-server"
    v="$(upstream_version "$deb_v")"
    case "$v" in 8.0.*) ;; *) die "bookworm-backports' valkey-server is $deb_v, not 8.0" ;; esac
    start_dir valkey "$v"; mv "$CACHE/valkey-8.0.log" "$log"
    tmp="$dir/debs"; mkdir -p "$tmp"; chmod 755 "$tmp"
    local pkgs=("valkey-server=$deb_v")   # valkey-server is a symlink into valkey-tools
    apt-cache show "valkey-tools=$deb_v" >/dev/null 2>&1 && pkgs+=("valkey-tools=$deb_v")
    (cd "$tmp" && apt-get download "${pkgs[@]}") >>"$log" 2>&1 || die "apt-get download ${pkgs[*]} failed"
    local f p deps=()
    for f in "$tmp"/*.deb; do
      dpkg-deb -x "$f" "$dir/root"
      # the libraries it links (libjemalloc2, liblzf1, ...) are bookworm packages; install missing ones
      for p in $(dpkg-deb -f "$f" Depends | tr ',' '\n' | sed 's/[(|].*//; s/ //g'); do
        case "$p" in adduser | valkey-*) ;; *) deps+=("$p") ;; esac
      done
    done
    [ ${#deps[@]} -eq 0 ] || apt_install "${deps[@]}"
    local bin
    for bin in valkey-server valkey-cli; do
      [ -e "$dir/root/usr/bin/$bin" ] || die "the .debs hold no usr/bin/$bin"
      ln -s "../root/usr/bin/$bin" "$dir/bin/$bin"
    done
    ln -s valkey-server "$dir/bin/valkey-sentinel"
    say "valkey $v: downloaded and unpacked $deb_v in $((SECONDS - t))s"
    echo "debian $deb_v from bookworm-backports" >"$dir/SOURCE"
    finish valkey "$v" "$dir"
    d="$dir"
  fi
  result+=("valkey $(cat "$d/.complete") $d/bin")
}

# name major.minor: Debian sid's source package, upstream make
prepare_from_sid() {
  local n="$1" mm="$2" d
  d="$(cached "$n-$mm")"
  if [ -z "$d" ]; then
    log="$CACHE/$n-$mm.log"; : >"$log"
    local t=$SECONDS
    apt_install build-essential libssl-dev pkg-config dpkg-dev
    apt_list "$SID_SRC_LIST" "deb-src http://deb.debian.org/debian sid main"
    local deb_v v
    deb_v="$(apt-cache madison "$n" | awk -F' *[|] *' '$3 ~ /sid\/main Sources/ {print $2; exit}')"
    [ -n "$deb_v" ] || die "no '$n' source package in sid (deb-src list $SID_SRC_LIST)"
    v="$(upstream_version "$deb_v")"
    case "$v" in "$mm".*) ;; *) die "sid's $n source is $deb_v, not $mm (asked for $n-$mm)" ;; esac
    start_dir "$n" "$v"; mv "$CACHE/$n-$mm.log" "$log"
    mkdir -p "$dir/source"; chmod 755 "$dir/source"
    (cd "$dir/source" && apt-get source --download-only "$n=$deb_v") >>"$log" 2>&1 ||
      die "apt-get source --download-only $n=$deb_v failed"
    local t_dl=$((SECONDS - t)); t=$SECONDS
    # dpkg-source -x applies debian/patches (apt already checked the files against the signed index)
    dpkg-source -x "$dir/source/${n}_${deb_v#*:}.dsc" "$dir/build" >>"$log" 2>&1 || die "dpkg-source -x failed"
    rm -f "$dir"/*.orig.tar.*   # dpkg-source leaves a copy of the tarball next to the build dir
    echo "== make BUILD_TLS=yes USE_SYSTEMD=no MALLOC=libc -j$JOBS" >>"$log"
    make -C "$dir/build" BUILD_TLS=yes USE_SYSTEMD=no MALLOC=libc -j"$JOBS" >>"$log" 2>&1 || die "make failed"
    local b
    for b in server cli benchmark; do
      install -m 755 "$dir/build/src/$n-$b" "$dir/bin/$n-$b"
    done
    ln -s "$n-server" "$dir/bin/$n-sentinel"
    rm -rf "$dir/build"   # the downloaded source stays in $dir/source
    say "$n $v: downloaded $deb_v in ${t_dl}s, built in $((SECONDS - t))s"
    echo "debian $deb_v source from sid, built with make BUILD_TLS=yes USE_SYSTEMD=no MALLOC=libc" >"$dir/SOURCE"
    finish "$n" "$v" "$dir"
    d="$dir"
  fi
  result+=("$n $(cat "$d/.complete") $d/bin")
}

result=()
for s in $WANT; do
  current="$s"; log=""
  case "$s" in
    redis-7.0) prepare_redis_7_0 ;;
    valkey-8.0) prepare_valkey_8_0 ;;
    redis-8.0) prepare_from_sid redis 8.0 ;;
    valkey-9.1) prepare_from_sid valkey 9.1 ;;
  esac
done
printf '%s\n' "${result[@]}"
