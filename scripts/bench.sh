#!/usr/bin/env bash
# Benchmarks `provision init` against doing the same job with the openssl CLI, mkcert and
# cfssl: a CA, a server certificate (SANs redis, localhost, 127.0.0.1, ::1), a client
# certificate and three random passwords on disk, into a fresh directory each run.
# Then the scale rows: `provision init` with 1, 100 and 1000 client users, `provision check` on
# each of those bundles, and the peak RSS of both. Then the durability rows: `init --force`
# and `renew --force` on an idle disk and under 2 GB of another process's dirty data.
#
# Fresh directory, without timing the filesystem's delete: before each run the previous
# output is *moved* into a trash directory on the same filesystem (scripts/bench/aside.sh, a
# rename, O(1)), and the trash is deleted once, after all timing. `rm -rf` in hyperfine's
# --prepare put a delete's after-cost into every timed run. On ext4 without a journal (this
# VM's root filesystem), the kernel will not reuse an inode freed in the last 60 s (300 s
# while its inode-table block is still dirty) and checks free inodes one by one
# (recently_deleted() in fs/ext4/ialloc.c), so creating thousands of files within minutes
# of deleting thousands costs seconds of kernel time, for any program: 6000 files from
# python3 took 5 s of system time after an `rm -rf` of such a directory, 0.3 s otherwise;
# a 1000-user `provision init` 3.9 s with `rm -rf` before each run, 0.55 s with the move.
# Emptying the trash between hyperfine calls is not enough: the next calls pay for it (six
# runs of a 1000-user init at 4.3-5.0 s right after deleting seven bundles). The same
# preparation applies to every tool. Other deletions on the machine (a parallel build) can
# still slow the file-heavy rows; `perf record -g` shows them as recently_deleted. A run
# that starts within SETTLE seconds of the previous run's deletion waits the rest out.
#
# Installs what is missing with apt-get (hyperfine, openssl, mkcert, golang-cfssl, time, jq);
# a baseline tool that cannot be installed only skips its row. Builds the release binary
# (in $CARGO_TARGET_DIR if set).
# Prints a table and writes bench/results/<date>-<host>.json (and .md, the same table).
#
# Knobs (environment): WARMUP (3), RUNS_FAST (30), ROUNDS (3: passes the fast rows' runs are
# split over), RUNS_SLOW (10, RSA-4096),
# RUNS_SCALE (10, the 1000-user rows; the 1- and 100-user rows use RUNS_FAST), RSS_RUNS (3,
# /usr/bin/time -v runs per command; the largest is kept), RESULTS (bench/results),
# SETTLE (360: seconds to leave between the previous run's deletion and this run's timing),
# DURABILITY_RUNS (3), FOREIGN_MB (2000: the other process's dirty data for those rows),
# USERS_RUNS (11: `user add`/`user remove --reload` on a 6-node cluster, scripts/bench/users.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

WARMUP=${WARMUP:-3}
RUNS_FAST=${RUNS_FAST:-30}
ROUNDS=${ROUNDS:-3}
RUNS_SLOW=${RUNS_SLOW:-10}
RUNS_SCALE=${RUNS_SCALE:-10}
RSS_RUNS=${RSS_RUNS:-3}
RESULTS=${RESULTS:-bench/results} # where the .json and .md go
SETTLE=${SETTLE:-360}

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
# CARGO_TARGET_DIR, .cargo/config.toml's build.target-dir or ./target: cargo knows which.
bin=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/provision
[ -x "$bin" ] || { echo "error: $bin was not built" >&2; exit 1; }

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || commit="$commit+uncommitted-changes"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The previous run deleted ~150,000 inodes at its end; until the kernel may reuse them
# (60 s, 300 s more while their inode-table blocks are dirty), creating files here would
# pay for that deletion. Wait it out.
deleted_stamp=${XDG_CACHE_HOME:-$HOME/.cache}/provision-bench.deleted
if [ -f "$deleted_stamp" ]; then
  wait_s=$((SETTLE - ($(date +%s) - $(stat -c %Y "$deleted_stamp"))))
  if [ "$wait_s" -gt 0 ]; then
    echo "==> waiting ${wait_s} s: the previous run deleted its output recently (SETTLE=0 skips)"
    sleep "$wait_s"
  fi
fi

work=$(mktemp -d)
# The trash (every run's output) is deleted here, after all timing: see the top of the file.
cleanup() {
  echo "==> removing the benchmark output ($(du -sh "$work" 2>/dev/null | cut -f1))"
  rm -rf "$work"
  mkdir -p "$(dirname "$deleted_stamp")" && touch "$deleted_stamp"
}
trap cleanup EXIT
out=$work/out     # every command writes here; before each run it is moved into $trash
trash=$work/trash # same filesystem as $out, so the move is a rename
aside=$root/scripts/bench/aside.sh
move_aside() { "$aside" "$out" "$trash"; }

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
  move_aside
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
row fast "provision init --ephemeral (ECDSA P-256, no flush)" ca.crt redis.crt app.crt \
  "$bin" init --dir "$out" --quiet --ephemeral
# Not the job, only its floor: process start-up and exit of the same binary, in the same run.
printf -v floor '%q ' "$bin" --version
fast+=("provision --version (start-up floor)" "$floor")
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
  hyperfine -N --warmup "$WARMUP" --runs "$runs" --prepare "$aside $out $trash" \
    --export-json "$json" "${args[@]}"
}

# The fast rows take milliseconds, and this shared VM's speed drifts over minutes (after the
# SETTLE sleep, or while a neighbour is busy): hyperfine times one command's runs back to back,
# so whichever row comes first would carry the drift alone. ROUNDS passes over all of them,
# RUNS_FAST/ROUNDS runs each, pooled per command, spread it over every row alike.
echo "==> timing (warm-up $WARMUP; $RUNS_FAST runs in $ROUNDS rounds, $RUNS_SLOW for RSA-4096)"
per_round=$(((RUNS_FAST + ROUNDS - 1) / ROUNDS))
for ((r = 1; r <= ROUNDS; r++)); do
  echo "--> round $r of $ROUNDS"
  bench "$work/fast-$r.json" "$per_round" "${fast[@]}"
done
jq -s '
  def stats: (.times | sort) as $t | ($t | length) as $n | ($t | add / $n) as $mean
    | . + {median: (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end),
           mean: $mean, min: $t[0], max: $t[-1],
           stddev: (if $n > 1 then ($t | map(. - $mean | . * .) | add / ($n - 1) | sqrt) else null end)};
  {results: (map(.results) | transpose
             | map({command: .[0].command, times: (map(.times) | add)} | stats))}' \
  "$work"/fast-*.json >"$work/fast.json"
echo '{"results":[]}' >"$work/slow.json"
[ ${#slow[@]} -eq 0 ] || bench "$work/slow.json" "$RUNS_SLOW" "${slow[@]}"

# --- scale: bundles of many users (and, once topology lands, many nodes) --------------
users_toml() { # N -> TOML with admin (role admin) and u1..u(N-1) (role app)
  printf '[[users]]\nname = "admin"\nrole = "admin"\n'
  local i
  for ((i = 1; i < $1; i++)); do printf '\n[[users]]\nname = "u%d"\nrole = "app"\n' "$i"; done
}

peak_rss_kib() { # COMMAND... -> the largest "Maximum resident set size" of RSS_RUNS runs
  local i max=0 kib
  [ -x /usr/bin/time ] || { echo null; return; }
  for ((i = 0; i < RSS_RUNS; i++)); do
    move_aside
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null
    kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    if [ "$kib" -gt "$max" ]; then max=$kib; fi
  done
  echo "$max"
}

# scale_case LABEL USERS NODES RUNS INIT-ARGS...
# One row of the scale table: times `provision init INIT-ARGS` (fresh output directory each
# run, like the rows above) and `provision check` on a bundle made once with the same
# arguments, and takes the peak RSS of both. Results go to $work/scale-<i>.json.
# Node-count rows (issue 8, topology) are one more call each, e.g.
#   scale_case "1000 nodes" 3 1000 "$RUNS_SCALE" --nodes 1000
# with whatever flag or config file that feature defines; the table and JSON need no change.
scale_n=0
scale_case() {
  local label=$1 users=$2 nodes=$3 runs=$4
  shift 4
  local i=$scale_n bundle=$work/bundle-$scale_n
  scale_n=$((scale_n + 1))
  echo "--> $label"
  if ! "$bin" init --dir "$bundle" --quiet "$@" >"$work/check.log" 2>&1 ||
    ! "$bin" check --dir "$bundle" --quiet >>"$work/check.log" 2>&1; then
    sed 's/^/    /' "$work/check.log"
    skip "scale: $label" "init or check failed"
    return
  fi
  local init check
  printf -v init '%q ' "$bin" init --dir "$out" --quiet "$@"
  printf -v check '%q ' "$bin" check --dir "$bundle" --quiet
  bench "$work/scale-$i-init.json" "$runs" "provision init, $label" "$init"
  # Read-only: no preparation needed (the bench helper's move of $out is harmless).
  bench "$work/scale-$i-check.json" "$runs" "provision check, $label" "$check"
  local rss_init rss_check
  rss_init=$(peak_rss_kib "$bin" init --dir "$out" --quiet "$@")
  rss_check=$(peak_rss_kib "$bin" check --dir "$bundle" --quiet)
  jq -n --arg bundle "$label" --argjson users "$users" --argjson nodes "$nodes" \
    --argjson files "$(find "$bundle/..data/" -type f | wc -l)" \
    --argjson rss_init "$rss_init" --argjson rss_check "$rss_check" \
    --slurpfile init "$work/scale-$i-init.json" --slurpfile check "$work/scale-$i-check.json" \
    '{bundle: $bundle, users: $users, nodes: $nodes, files: $files,
      init: $init[0].results[0], check: $check[0].results[0],
      init_peak_rss_kib: $rss_init, check_peak_rss_kib: $rss_check}' >"$work/scale-$i-row.json"
}

echo "==> scale: init and check on bundles of 1, 100 and 1000 users"
[ -x /usr/bin/time ] || skip "peak RSS" "/usr/bin/time not installed"
for n in 1 100 1000; do
  users_toml "$n" >"$work/users$n.toml"
  runs=$RUNS_FAST
  [ "$n" -lt 1000 ] || runs=$RUNS_SCALE
  scale_case "$n user$([ "$n" = 1 ] || echo s)" "$n" 1 "$runs" --config "$work/users$n.toml"
done
# Topology (issue 8): Redis Cluster bundles of 3, 100 and 1000 nodes (one certificate, key and
# config per node; 5 users: admin, app, monitor, replication and no sentinel).
for n in 3 100 1000; do
  runs=$RUNS_SCALE
  [ "$n" -lt 1000 ] || runs=$(( RUNS_SCALE < 5 ? RUNS_SCALE : 5 ))
  scale_case "$n-node cluster" 4 "$n" "$runs" --topology cluster --nodes "$n" --port 7000 --host 127.0.0.1
done
for ((i = 0; i < scale_n; i++)); do
  [ ! -f "$work/scale-$i-row.json" ] || cat "$work/scale-$i-row.json"
done | jq -s . >"$work/scale.json"

# --- durability: a commit waits for its own data only (issue 16) ---------------------
# `init --force` and `renew --force`, worst of DURABILITY_RUNS (3), on an idle disk and right
# after another process left FOREIGN_MB (2000) MiB of dirty data on the same filesystem,
# side by side (scripts/bench/durability.sh says how).
echo "==> durability: init --force and renew --force, idle and under ${FOREIGN_MB:-2000} MiB of foreign dirty data"
"$root/scripts/bench/durability.sh" "$bin" "$work/durability" "${DURABILITY_RUNS:-3}" >"$work/durability.json"

# --- users: a change pushed to a 6-node cluster (issue 18) ------------------------------
echo "==> users: user add / remove --reload on a 6-node cluster bundle (real redis-server nodes)"
"$root/scripts/bench/users.sh" "$bin" "$work/users" "${USERS_RUNS:-11}" >"$work/users.json"

# --- results: JSON with the machine, a table ------------------------------------------
version() { "$@" 2>/dev/null | head -n1 || true; }
host=$(hostname -s 2>/dev/null | tr -cd 'A-Za-z0-9-' || true)
[ -n "$host" ] || host=machine
date=$(date -u +%Y-%m-%d)
mkdir -p "$RESULTS"
result=$RESULTS/$date-$host.json
# A second run on the same day keeps the first: history is the point of these files.
[ ! -e "$result" ] || result=$RESULTS/$date-$host-$(date -u +%H%M%S).json

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
  --argjson warmup "$WARMUP" --argjson rounds "$ROUNDS" \
  --slurpfile fast "$work/fast.json" --slurpfile slow "$work/slow.json" \
  --slurpfile scale "$work/scale.json" \
  --slurpfile durability "$work/durability.json" \
  --slurpfile users "$work/users.json" \
  --slurpfile skipped "$work/skipped.json" '
  def ms: if . == null then null else . * 1000000 | round / 1000 end; # s -> ms, 3 decimals (null: one run has no σ)
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
      method: ("hyperfine -N, warm-up \($warmup); the fast rows in \($rounds) rounds of "
               + "their runs, pooled; before each run the previous output "
               + "directory is moved aside (rename), deleted only after all timing; "
               + "each command writes CA + server cert (SANs redis, localhost, 127.0.0.1, ::1) "
               + "+ client cert(s) + 3 passwords; scale rows: init with N client users "
               + "(--config), check on such a bundle, peak RSS from /usr/bin/time -v"),
      baseline: $rows[0].name,
      results: ($rows | map(. + {ratio_to_baseline: (.median_ms / $base * 100 | round / 100)})),
      scale: ($scale[0] | map({bundle, users, nodes, files,
                               init: (.init | row), check: (.check | row),
                               init_peak_rss_kib, check_peak_rss_kib})),
      durability: $durability[0],
      users: $users[0],
      skipped: $skipped[0]
    }' >"$work/result.json"
mv "$work/result.json" "$result" # complete or not at all

# The table, as Markdown (also saved next to the JSON for the README).
{
  echo "| command | median (ms) | mean ± σ (ms) | runs | ratio to provision (ECDSA) |"
  echo "|---|--:|--:|--:|--:|"
  jq -r '.results[] | [.name, .median_ms, .mean_ms, .stddev_ms, .runs, .ratio_to_baseline] | @tsv' "$result" |
    awk -F'\t' '{printf "| %s | %.1f | %.1f ± %.1f | %d | %.2f× |\n", $1, $2, $3, $4, $5, $6}'
  echo
  echo "| bundle | files | \`init\` median (ms) | \`init\` peak RSS (MiB) | \`check\` median (ms) | \`check\` peak RSS (MiB) |"
  echo "|---|--:|--:|--:|--:|--:|"
  jq -r '.scale[] | [.bundle, .files, .init.median_ms, (.init_peak_rss_kib // ""),
                     .check.median_ms, (.check_peak_rss_kib // "")] | @tsv' "$result" |
    awk -F'\t' 'function mib(k) { return k == "" ? "n/a" : sprintf("%.1f", k / 1024) }
      {printf "| %s | %d | %.1f | %s | %.1f | %s |\n", $1, $2, $3, mib($4), $5, mib($6)}'
  echo
  echo "| command | disk | foreign dirty data at start (MiB) | worst (ms) | median (ms) | runs |"
  echo "|---|---|--:|--:|--:|--:|"
  jq -r '.durability[] | [.command, .condition, (.dirty_mib_at_start | min), .worst_ms, .median_ms, .runs] | @tsv' "$result" |
    awk -F'\t' '{printf "| %s | %s | %s | %.1f | %.1f | %d |\n", $1, ($2 == "idle" ? "idle" : "under foreign dirty data"), $3, $4, $5, $6}'
  echo
  echo "| command | nodes | median (ms) | worst (ms) | runs |"
  echo "|---|--:|--:|--:|--:|"
  jq -r '.users[] | [.command, .nodes, .median_ms, .worst_ms, .runs] | @tsv' "$result" |
    awk -F'\t' '{printf "| %s | %d | %.1f | %.1f | %d |\n", $1, $2, $3, $4, $5}'
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
