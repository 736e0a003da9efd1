#!/usr/bin/env bash
# scripts/bench/durability.sh BIN WORK [RUNS] -> JSON on stdout (progress on stderr)
#
# The "under foreign dirty data" rows of scripts/bench.sh (issue 16): `init --force` and
# `renew --force` on a bundle in WORK, each RUNS (3) times on an idle disk and RUNS times
# right after another process (dd, no fsync) left FOREIGN_MB (2000) MiB of dirty pages on the
# same filesystem. A commit that flushed the whole filesystem (syncfs) waited for all of
# them (2.4-5.0 s measured before the change); one that flushes only its own files does not.
# Each run starts from a `sync`, so the dirty data at its start is the foreign file's alone;
# the row records how much was dirty (/proc/meminfo) when the timed command started, which
# proves the condition held. Wall time includes process start-up, as an operator sees it.
set -euo pipefail
bin=$1 work=$2 runs=${3:-3}
mb=${FOREIGN_MB:-2000}
dir=$work/durability-bundle
big=$work/foreign-dirty.bin
mkdir -p "$work"
"$bin" init --dir "$dir" --quiet

now_us() { echo $(($(date +%s%N) / 1000)); }
dirty_mib() { awk '/^Dirty:/ {printf "%d", $2 / 1024}' /proc/meminfo; }

rows=()
for cmd in init renew; do
  for cond in idle dirty; do
    times=() dirty=()
    for ((r = 1; r <= runs; r++)); do
      rm -f "$big"
      sync
      if [ "$cond" = dirty ]; then
        dd if=/dev/zero of="$big" bs=1M count="$mb" status=none
      fi
      dirty+=("$(dirty_mib)")
      t0=$(now_us)
      case $cmd in
      init) "$bin" init --dir "$dir" --force --quiet >/dev/null ;;
      renew) "$bin" renew --dir "$dir" --force --quiet >/dev/null ;;
      esac
      t1=$(now_us)
      times+=("$((t1 - t0))")
      # Unlinking a file discards its dirty pages: nothing of it is written after the run.
      rm -f "$big"
    done
    echo "  $cmd --force, $cond: ${times[*]} us (dirty MiB at start: ${dirty[*]})" >&2
    rows+=("$(jq -n --arg command "provision $cmd --force" --arg condition "$cond" \
      --argjson mb "$([ "$cond" = dirty ] && echo "$mb" || echo 0)" \
      --argjson us "$(printf '%s\n' "${times[@]}" | jq -s .)" \
      --argjson dirty "$(printf '%s\n' "${dirty[@]}" | jq -s .)" \
      '($us | sort | map(. / 1000)) as $t
       | {command: $command, condition: $condition, foreign_dirty_mib: $mb,
          runs: ($t | length), times_ms: ($us | map(. / 1000)),
          median_ms: $t[($t | length) / 2 | floor], worst_ms: $t[-1],
          dirty_mib_at_start: $dirty}')")
  done
done
"$bin" check --dir "$dir" --quiet >/dev/null
printf '%s\n' "${rows[@]}" | jq -s .
