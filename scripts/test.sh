#!/usr/bin/env bash
# Runs every check of the project on a fresh Debian machine: installs what the tests need
# (Debian: redis-server, redis-tools, openssl, prometheus for promtool, systemd, age,
# docker-compose, python3, python3-venv, strace, nodejs, npm; cached by version: venvs with
# kubernetes-validate, pkilint and the Python clients, node_modules with the Node clients), then
# formatting, clippy, and all test suites. README.md's "Tests" section lists the same.
# A missing dependency is an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# scripts/test.sh --server valkey-9.1: only the live suites, on that one server (see below).
only=""
if [ "${1:-}" = "--server" ]; then
  only="${2:?--server needs a name: redis-7.0, valkey-8.0, redis-8.0 or valkey-9.1}"
fi

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # promtool validates `check --format prometheus`
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)   # `systemd-analyze verify` validates `schedule`
command -v age >/dev/null 2>&1 || need+=(age)   # reference age/age-keygen: backup and seal interop (tests/it/backups.rs)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)   # `docker-compose config` validates `compose` (no engine needed)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v strace >/dev/null 2>&1 || need+=(strace)   # tests/it/crash.rs: the flushes around each commit, as the kernel sees them
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for p in redis-server redis-cli openssl promtool systemd-analyze age age-keygen docker-compose python3 strace; do
  command -v "$p" >/dev/null 2>&1 || { echo "error: $p is required and could not be installed" >&2; exit 1; }
done
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/provision"
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "==> installing python3-venv"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
# venv NAME: a virtual environment with exactly the packages pinned in
# scripts/requirements/NAME.txt (every transitive dependency too, so a new release on PyPI
# cannot change a run), cached under a directory keyed by that file's hash. Prints its path.
venv() {
  local req="scripts/requirements/$1.txt" dir
  dir="$CACHE/venv-$1-$(sha256sum "$req" | cut -c1-12)"
  if [ ! -f "$dir/.complete" ]; then
    echo "==> installing $req into $dir" >&2
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
    "$dir/bin/pip" check >/dev/null || { "$dir/bin/pip" check >&2; echo "error: $req is not a complete, consistent set" >&2; exit 1; }
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# kubernetes-validate validates `export --format k8s` and the README's StatefulSet
# (tests/it/integrations.rs).
K8S_VENV="$(venv k8s)"
"$K8S_VENV/bin/kubernetes-validate" --version >/dev/null 2>&1 || { echo "error: kubernetes-validate is required and could not be installed" >&2; exit 1; }
export PATH="$K8S_VENV/bin:$PATH"

# The client matrix (tests/it/clients.rs): the Python clients (pinned in
# scripts/requirements/clients.txt) and the Node clients, cached keyed by their versions.
CLIENTS_VENV="$(venv clients)"
"$CLIENTS_VENV/bin/python" -c 'import redis, glide_sync' || { echo "error: the Python clients could not be installed" >&2; exit 1; }
export PROVISION_CLIENTS_PYTHON="$CLIENTS_VENV/bin/python"

# pkilint (RFC 5280 linter) and its dependency cryptography (X.509 path validation) check
# every certificate of every bundle (tests/it/pkilint.rs).
PKILINT_VENV="$(venv pkilint)"
"$PKILINT_VENV/bin/lint_pkix_cert" --help >/dev/null 2>&1 || { echo "error: pkilint could not be installed" >&2; exit 1; }
export PROVISION_PKILINT_PYTHON="$PKILINT_VENV/bin/python"
NPM_IOREDIS=6.0.0 NPM_REDIS=6.3.1
if ! command -v npm >/dev/null 2>&1; then
  echo "==> installing nodejs and npm"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is required and could not be installed" >&2; exit 1; }
CLIENTS_NODE="$CACHE/clients-node-ioredis$NPM_IOREDIS-redis$NPM_REDIS"
if [ ! -d "$CLIENTS_NODE/node_modules/ioredis" ] || [ ! -d "$CLIENTS_NODE/node_modules/redis" ]; then
  echo "==> installing ioredis@$NPM_IOREDIS redis@$NPM_REDIS into $CLIENTS_NODE"
  mkdir -p "$CLIENTS_NODE"
  (cd "$CLIENTS_NODE" && npm install --silent --no-audit --no-fund "ioredis@$NPM_IOREDIS" "redis@$NPM_REDIS")
fi
export PROVISION_CLIENTS_NODE_MODULES="$CLIENTS_NODE/node_modules"

# A running redis-server service is left alone: tests start their own servers on free
# loopback ports, and the README's examples (tests/it/readme.rs) use ports it does not hold.
redis-server --version

# The server matrix: scripts/servers.sh prepares redis 7.0 (bookworm), valkey 8.0
# (bookworm-backports) and redis 8.0 / valkey 9.1 (built from Debian sid's source packages),
# cached by version; a server it cannot prepare fails the run. It prints NAME VERSION BINDIR.
servers=$(PROVISION_TEST_SERVERS="${only:-${PROVISION_TEST_SERVERS:-}}" bash scripts/servers.sh)
echo "$servers"
command -v cargo-nextest >/dev/null 2>&1 || cargo nextest --version >/dev/null 2>&1 ||
  { echo "error: cargo-nextest is required (cargo install cargo-nextest --locked)" >&2; exit 1; }

if [ -z "$only" ]; then
  echo "==> cargo fmt --check"
  cargo fmt --all -- --check
  echo "==> cargo clippy -D warnings"
  cargo clippy --all-targets --locked -- -D warnings
  echo "==> tests (redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/'))"
  cargo nextest run --locked --no-fail-fast
fi

# The live suites again on every other server: each is put first on PATH as redis-server and
# redis-cli (target/server-shims/NAME-VERSION), and tests/it/live.rs checks that it is the one
# answering. Everything that starts a server: standalone, replication, Sentinel and Cluster.
LIVE='test(/^(live|servers|lifecycle|rotate|topology|clients|users|reload)::/) | test(accepted_users_load_into_redis)'
failed=()
while read -r name version bindir; do
  label="$name-$(echo "$version" | cut -d. -f1,2)"
  # The full run above was on Debian's redis-server, which is redis 7.0.
  [ -z "$only" ] && [ "$label" = redis-7.0 ] && continue
  shim="target/server-shims/$name-$version"
  mkdir -p "$shim"
  ln -sfn "$bindir/$name-server" "$shim/redis-server"
  ln -sfn "$bindir/$name-cli" "$shim/redis-cli"
  echo "==> live tests on $name $version"
  PROVISION_TEST_SERVER="$name $version" PATH="$PWD/$shim:$PATH" \
    cargo nextest run --locked --no-fail-fast -E "$LIVE" || failed+=("$name $version")
done <<<"$servers"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: live tests failed on: ${failed[*]}" >&2
  exit 1
fi
