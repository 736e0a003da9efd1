#!/usr/bin/env bash
# Long fuzzing run (not part of every CI run): the proptest fuzz targets of tests/it/props.rs
# with many cases, each bounded in time, plus more live ACL loads into redis-server.
#   scripts/fuzz.sh            # 200,000 cases per target, at most 10 minutes each
#   CASES=1000000 SECONDS_PER_TARGET=1800 scripts/fuzz.sh
# proptest on stable Rust stands in for cargo-fuzz, which needs a nightly toolchain.
#
# Each target prints `FUZZ <name> cases=<ran> reached=<m> requested=<n>` (tests/it/props.rs):
# how many cases ran and how many got past the input check. The counts go to
# bench/results/fuzz-<date>-<host>.json. A target stopped by the time limit is recorded as
# `timed-out`, with no counts (proptest prints them only at the end), never as a pass, and the
# script exits 1 after the other targets ran; a failing target stops it at once (exit 2).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-200000}
LIMIT=${SECONDS_PER_TARGET:-600}
LIVE=${LIVE_CASES:-200}
command -v jq >/dev/null || apt-get install -y jq >/dev/null
out=bench/results/fuzz-$(date -u +%Y-%m-%d)-$(hostname -s).json
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo build --release --tests --quiet
rows=()
timed_out=0
run_target() { # name cases limit test-args...
  local name=$1 cases=$2 limit=$3
  shift 3
  local start rc=0 status line
  start=$(date +%s)
  echo "==> $name: $cases cases (limit ${limit}s)"
  PROPTEST_CASES=$cases timeout "$limit" cargo test --release --quiet --test it "$@" \
    -- --exact --nocapture >"$log" 2>&1 || rc=$?
  local secs=$(( $(date +%s) - start ))
  line=$(grep -E "^FUZZ $name |redis-server loads:" "$log" | tail -1 || true)
  case $rc in
    0) status=passed ;;
    124) status=timed-out; timed_out=$((timed_out + 1)) ;;
    *) status=failed ;;
  esac
  echo "    $status in ${secs}s: ${line:-no counts}"
  local ran reached
  ran=$(sed -nE 's/.* cases=([0-9]+).*/\1/p' <<<"$line")
  reached=$(sed -nE 's/.* reached=([0-9]+).*/\1/p' <<<"$line")
  rows+=("$(jq -n --arg t "$name" --arg s "$status" --argjson req "$cases" --argjson secs "$secs" \
    --argjson limit "$limit" --arg ran "$ran" --arg reached "$reached" --arg line "$line" \
    '{target: $t, status: $s, cases_requested: $req, seconds: $secs, limit_seconds: $limit,
      cases_run: ($ran | if . == "" then null else tonumber end),
      cases_reaching_body: ($reached | if . == "" then null else tonumber end),
      output: $line}')")
  if [ "$status" = failed ]; then
    cat "$log"
    write
    echo "fuzz: $name FAILED (see above); results in $out" >&2
    exit 2
  fi
}
write() {
  printf '%s\n' "${rows[@]}" | jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg commit "$(git rev-parse --short HEAD)" --arg host "$(hostname -s)" \
    --arg nproc "$(nproc)" \
    '{date: $date, commit: $commit, host: $host, nproc: ($nproc | tonumber), targets: .}' >"$out"
}
for target in fuzz_config_parser_never_panics fuzz_config_parser_structured \
              fuzz_pem_inspection_never_panics fuzz_mutated_certificates_never_panic fuzz_acl_renderer; do
  run_target "$target" "$CASES" "$LIMIT" "props::$target"
done
# The live property: generated ACL files loaded by a real redis-server (capped at 200 by the test).
run_target accepted_users_load_into_redis_with_exactly_the_declared_rights "$LIVE" "$LIMIT" \
  props::accepted_users_load_into_redis_with_exactly_the_declared_rights
write
echo "results: $out"
if [ "$timed_out" -gt 0 ]; then
  echo "fuzz: $timed_out target(s) hit the time limit: their cases did not all run (raise SECONDS_PER_TARGET)" >&2
  exit 1
fi
