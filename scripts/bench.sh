#!/usr/bin/env bash
# Benchmarks `provision init` against doing the same job with the openssl CLI, mkcert and
# cfssl: a CA, a server certificate (SANs redis, localhost, 127.0.0.1, ::1), a client
# certificate and three random passwords on disk, into a fresh directory each run.
# Then times `provision init` with 100 and 1000 users and measures its peak RSS.
#
# Installs what is missing with apt-get (hyperfine, openssl, mkcert, golang-cfssl, time, jq);
# a baseline tool that cannot be installed only skips its row. Builds target/release/provision.
# Prints a table and writes bench/results/<date>-<host>.json (and .md, the same table).
#
# Knobs (environment): WARMUP (3), RUNS_FAST (30), RUNS_SLOW (10, RSA-4096),
# RUNS_SCALE (10, 100/1000 users), RSS_RUNS (3, /usr/bin/time -v runs per size; max kept).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

WARMUP=${WARMUP:-3}
RUNS_FAST=${RUNS_FAST:-30}
RUNS_SLOW=${RUNS_SLOW:-10}
RUNS_SCALE=${RUNS_SCALE:-10}
RSS_RUNS=${RSS_RUNS:-3}

have() { command -v "$1" >/dev/null 2>&1; }

# --- tools ---------------------------------------------------------------------------
# package:command it provides
tools=(hyperfine:hyperfine openssl:openssl mkcert:mkcert golang-cfssl:cfssl time:/usr/bin/time jq:jq)
missing=()
for t in "${tools[@]}"; do
  have "${t#*:}" || missing+=("${t%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "==> installing ${missing[*]}"
  $SUDO apt-get update -qq || echo "warning: apt-get update failed"
  for pkg in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$pkg" >/dev/null ||
      echo "warning: package $pkg is not available; its comparison is skipped"
  done
fi
for t in hyperfine jq; do
  have "$t" || { echo "error: $t is required to run the benchmark" >&2; exit 1; }
done

# --- build ---------------------------------------------------------------------------
echo "==> cargo build --release"
cargo build --release --locked
bin=$root/target/release/provision

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+uncommitted-changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=$work/out # every command writes here; hyperfine --prepare removes it before each run

# --- the commands, each checked once before it is timed --------------------------------
fast=() slow=() # name, command, name, command, ... for hyperfine
skipped=() # "name<TAB>reason"

skip() {
  echo "SKIPPED: $1: $2"
  skipped+=("$1"$'\t'"$2")
}

# row GROUP NAME CA-CERT SERVER-CERT CLIENT-CERT COMMAND...
# Runs COMMAND once into $out and checks that the certificates chain to the CA with the
# right purpose and that the three passwords exist; then queues it for timing.
row() {
  local group=$1 name=$2 ca=$out/$3 server=$out/$4 client=$out/$5
  shift 5
  rm -rf "$out"
  local ok=1 f
  "$@" >"$work/check.log" 2>&1 || ok=0
  for f in admin app monitor; do [ -s "$out/$f.password" ] || ok=0; done
  if [ $ok = 1 ] && have openssl; then
    openssl verify -CAfile "$ca" -purpose sslserver "$server" >>"$work/check.log" 2>&1 || ok=0
    openssl verify -CAfile "$ca" -purpose sslclient "$client" >>"$work/check.log" 2>&1 || ok=0
  fi
  if [ $ok = 0 ]; then
    sed 's/^/    /' "$work/check.log"
    skip "$name" "check failed (no complete, verifiable output)"
    return
  fi
  echo "ok: $name"
  local cmd
  printf -v cmd '%q ' "$@"
  if [ "$group" = fast ]; then fast+=("$name" "$cmd"); else slow+=("$name" "$cmd"); fi
}

echo "==> checking every command once"
b=$root/scripts/bench
row fast "provision init (ECDSA P-256)" ca.crt redis.crt app.crt "$bin" init --dir "$out" --quiet
row slow "provision init (RSA-4096)" ca.crt redis.crt app.crt \
  "$bin" init --dir "$out" --quiet --key-type rsa-4096
[ ${#fast[@]} -gt 0 ] || { echo "error: provision init itself failed" >&2; exit 1; }
if have openssl; then
  row fast "openssl (ECDSA P-256)" ca.crt redis.crt app.crt "$b/openssl-ecdsa.sh" "$out"
  row slow "openssl (RSA-4096)" ca.crt redis.crt app.crt "$b/openssl-rsa4096.sh" "$out"
else
  skip "openssl (ECDSA P-256)" "openssl not installed"
  skip "openssl (RSA-4096)" "openssl not installed"
fi
if have mkcert && have openssl; then
  row fast "mkcert -ecdsa (P-256)" ca/rootCA.pem redis.crt app.crt "$b/mkcert.sh" "$out"
else
  skip "mkcert -ecdsa (P-256)" "mkcert or openssl not installed"
fi
if have cfssl && have cfssljson && have openssl; then
  row fast "cfssl + cfssljson (ECDSA P-256)" ca.pem redis.pem app.pem "$b/cfssl.sh" "$out"
else
  skip "cfssl + cfssljson (ECDSA P-256)" "cfssl, cfssljson or openssl not installed"
fi

# bench JSON-FILE RUNS NAME CMD [NAME CMD]...
bench() {
  local json=$1 runs=$2 args=()
  shift 2
  while [ $# -gt 0 ]; do
    args+=(-n "$1" "$2")
    shift 2
  done
  hyperfine -N --warmup "$WARMUP" --runs "$runs" --prepare "rm -rf $out" \
    --export-json "$json" "${args[@]}"
}

echo "==> timing (warm-up $WARMUP; $RUNS_FAST runs, $RUNS_SLOW for RSA-4096)"
bench "$work/fast.json" "$RUNS_FAST" "${fast[@]}"
echo '{"results":[]}' >"$work/slow.json"
[ ${#slow[@]} -eq 0 ] || bench "$work/slow.json" "$RUNS_SLOW" "${slow[@]}"

# --- scale: 100 and 1000 users from a config file ------------------------------------
users_toml() { # N -> TOML with admin (role admin) and u1..u(N-1) (role app)
  printf '[[users]]\nname = "admin"\nrole = "admin"\n'
  local i
  for ((i = 1; i < $1; i++)); do printf '\n[[users]]\nname = "u%d"\nrole = "app"\n' "$i"; done
}

peak_rss_kib() { # COMMAND... -> the largest "Maximum resident set size" of RSS_RUNS runs
  local i max=0 kib
  for ((i = 0; i < RSS_RUNS; i++)); do
    rm -rf "$out"
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    if [ "$kib" -gt "$max" ]; then max=$kib; fi
  done
  echo "$max"
}

echo "==> scale: provision init with 100 and 1000 users ($RUNS_SCALE runs each)"
users_toml 100 >"$work/users100.toml"
users_toml 1000 >"$work/users1000.toml"
printf -v init '%q ' "$bin" init --dir "$out" --quiet --config
bench "$work/scale.json" "$RUNS_SCALE" \
  "provision init, 100 users" "$init$(printf %q "$work/users100.toml")" \
  "provision init, 1000 users" "$init$(printf %q "$work/users1000.toml")"

echo '{}' >"$work/rss.json"
if [ -x /usr/bin/time ]; then
  echo "==> peak RSS (/usr/bin/time -v, largest of $RSS_RUNS runs)"
  jq -n --arg d "$(peak_rss_kib "$bin" init --dir "$out" --quiet)" \
    --arg h "$(peak_rss_kib "$bin" init --dir "$out" --quiet --config "$work/users100.toml")" \
    --arg k "$(peak_rss_kib "$bin" init --dir "$out" --quiet --config "$work/users1000.toml")" \
    '{"3": ($d|tonumber), "100": ($h|tonumber), "1000": ($k|tonumber)}' >"$work/rss.json"
else
  skip "peak RSS" "/usr/bin/time not installed"
fi

# --- results: JSON with the machine, a table ------------------------------------------
version() { "$@" 2>/dev/null | head -n1 || true; }
host=$(hostname -s 2>/dev/null | tr -cd 'A-Za-z0-9-' || true)
[ -n "$host" ] || host=machine
date=$(date -u +%Y-%m-%d)
mkdir -p bench/results
result=bench/results/$date-$host.json

printf '%s\n' "${skipped[@]}" | jq -R 'select(length > 0) | split("\t") | {name: .[0], reason: .[1]}' |
  jq -s . >"$work/skipped.json"

jq -n \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg host "$host" \
  --arg nproc "$(nproc)" \
  --arg cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
  --arg mem "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -sr)" \
  --arg os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}")" \
  --arg provision "$(version "$bin" --version) ($commit)" \
  --arg load "$load_before -> $(cut -d' ' -f1-3 /proc/loadavg)" \
  --arg rustc "$(version rustc --version)" \
  --arg openssl "$(version openssl version)" \
  --arg hyperfine "$(version hyperfine --version)" \
  --arg mkcert "$(version mkcert -version)" \
  --arg cfssl "$(version cfssl version)" \
  --argjson warmup "$WARMUP" \
  --slurpfile fast "$work/fast.json" --slurpfile slow "$work/slow.json" \
  --slurpfile scale "$work/scale.json" --slurpfile rss "$work/rss.json" \
  --slurpfile skipped "$work/skipped.json" '
  def ms: . * 1000000 | round / 1000; # seconds -> milliseconds, 3 decimals
  def row: {name: .command, runs: (.times | length), median_ms: (.median | ms),
            mean_ms: (.mean | ms), stddev_ms: (.stddev | ms), min_ms: (.min | ms),
            max_ms: (.max | ms)};
  ($fast[0].results + $slow[0].results | map(row)) as $rows
  | ($rows[0].median_ms) as $base
  | {
      date: $date,
      machine: {host: $host, nproc: ($nproc | tonumber), cpu_model: $cpu, memory: $mem,
                kernel: $kernel, os: $os, loadavg_before_after: $load},
      tools: {provision: $provision, rustc: $rustc, openssl: $openssl,
              hyperfine: $hyperfine, mkcert: $mkcert, cfssl: $cfssl},
      method: ("hyperfine -N, warm-up \($warmup), --prepare rm -rf of the output directory; "
               + "each command writes CA + server cert (SANs redis, localhost, 127.0.0.1, ::1) "
               + "+ client cert(s) + 3 passwords"),
      baseline: $rows[0].name,
      results: ($rows | map(. + {ratio_to_baseline: (.median_ms / $base * 100 | round / 100)})),
      scale: ([{users: 3, median_ms: $rows[0].median_ms}]
              + ($scale[0].results | map(row | {users: (.name | capture("(?<n>[0-9]+) users").n
                                                       | tonumber)} + .)))
             | map(. + {peak_rss_kib: $rss[0][.users | tostring]}),
      skipped: $skipped[0]
    }' >"$result"

# The table, as Markdown (also saved next to the JSON for the README).
{
  echo "| command | median (ms) | mean ± σ (ms) | runs | ratio to provision (ECDSA) |"
  echo "|---|--:|--:|--:|--:|"
  jq -r '.results[] | [.name, .median_ms, .mean_ms, .stddev_ms, .runs, .ratio_to_baseline] | @tsv' "$result" |
    awk -F'\t' '{printf "| %s | %.1f | %.1f ± %.1f | %d | %.2f× |\n", $1, $2, $3, $4, $5, $6}'
  echo
  echo "| \`provision init\` users | median (ms) | peak RSS (MiB) |"
  echo "|--:|--:|--:|"
  jq -r '.scale[] | [.users, .median_ms, (.peak_rss_kib // "")] | @tsv' "$result" |
    awk -F'\t' '{printf "| %d | %.1f | %s |\n", $1, $2, ($3 == "" ? "n/a" : sprintf("%.1f", $3 / 1024))}'
} >"${result%.json}.md"

echo
echo "==> results ($date, $host: $(nproc) cores, $(jq -r .machine.cpu_model "$result"))"
cat "${result%.json}.md"
if [ ${#skipped[@]} -gt 0 ]; then
  echo
  echo "skipped:"
  jq -r '.skipped[] | "  \(.name): \(.reason)"' "$result"
fi
echo
echo "wrote $result and ${result%.json}.md"
