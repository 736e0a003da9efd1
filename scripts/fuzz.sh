#!/usr/bin/env bash
# Long fuzzing run (not part of every CI run): the proptest fuzz targets of tests/props.rs
# with many cases, each bounded in time, plus more live ACL loads into redis-server.
#   scripts/fuzz.sh            # 200,000 cases per target, at most 10 minutes each
#   CASES=1000000 SECONDS_PER_TARGET=1800 scripts/fuzz.sh
# proptest on stable Rust stands in for cargo-fuzz, which needs a nightly toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-200000}
LIMIT=${SECONDS_PER_TARGET:-600}
cargo build --release --tests --quiet
for target in fuzz_config_parser_never_panics fuzz_config_parser_structured \
              fuzz_pem_inspection_never_panics fuzz_mutated_certificates_never_panic fuzz_acl_renderer; do
  start=$(date +%s)
  echo "==> $target: $CASES cases (limit ${LIMIT}s)"
  PROPTEST_CASES=$CASES timeout "$LIMIT" cargo test --release --quiet --test props "$target" -- --exact \
    || { rc=$?; [ "$rc" -eq 124 ] && echo "    stopped at the time limit (no failure)" || exit "$rc"; }
  echo "    $(( $(date +%s) - start ))s"
done
echo "==> live: 200 redis-server loads of generated ACL files"
PROPTEST_CASES=200 cargo test --release --quiet --test props accepted_users_load_into_redis -- --nocapture 2>&1 | grep -E "loads|test result"
