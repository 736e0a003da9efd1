#!/usr/bin/env bash
# scripts/bench/users.sh BIN WORK [RUNS] -> JSON on stdout (progress on stderr)
#
# The users row of scripts/bench.sh (issue 18): `provision user add NAME --reload` on a
# 6-node cluster bundle, each of the six nodes a real redis-server on loopback (cluster mode;
# ACL is per node, so the nodes need not be joined), and `user remove NAME --reload` after
# each. Wall time as an operator sees it: a new signed generation on disk, then ACL SETUSER
# verified by ACL GETUSER on every node. RUNS (11) of each; median and worst.
set -euo pipefail
bin=$1 work=$2 runs=${3:-11}
dir=$work/users-bundle
mkdir -p "$work"
command -v redis-server >/dev/null || { echo "users.sh: redis-server is required" >&2; exit 1; }
# Six free ports (and their cluster bus ports, +10000) below the ephemeral range.
base=$(python3 - <<'PY'
import socket, random
for _ in range(200):
    b = random.randrange(20000, 22000)
    socks = []
    try:
        for p in list(range(b, b + 6)) + list(range(b + 10000, b + 10006)):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(b); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
)
"$bin" init --dir "$dir" --topology cluster --nodes 6 --host 127.0.0.1 --port "$base" --quiet
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
for i in 1 2 3 4 5 6; do
  mkdir -p "$work/node-$i"
  (cd "$work/node-$i" && exec redis-server "$dir/redis-$i.conf" --logfile "$work/node-$i/log") &
  pids+=($!)
done
for i in 1 2 3 4 5 6; do
  for _ in $(seq 100); do grep -q "Ready to accept" "$work/node-$i/log" 2>/dev/null && break; sleep 0.1; done
done

now_us() { echo $(($(date +%s%N) / 1000)); }
add=() remove=()
for ((r = 1; r <= runs; r++)); do
  t0=$(now_us)
  "$bin" user add "bench$r" --dir "$dir" --keys "bench$r:*" --reload --quiet
  t1=$(now_us)
  "$bin" user remove "bench$r" --dir "$dir" --reload --quiet
  t2=$(now_us)
  add+=("$((t1 - t0))") remove+=("$((t2 - t1))")
done
echo "  user add --reload, 6 nodes: ${add[*]} us" >&2
echo "  user remove --reload, 6 nodes: ${remove[*]} us" >&2
"$bin" check --dir "$dir" --quiet >/dev/null
row() {
  jq -n --arg command "$1" --argjson us "$(printf '%s\n' "${@:2}" | jq -s .)" \
    '($us | sort | map(. / 1000)) as $t
     | {command: $command, nodes: 6, runs: ($t | length), times_ms: ($us | map(. / 1000)),
        median_ms: $t[($t | length) / 2 | floor], worst_ms: $t[-1]}'
}
{ row "provision user add --reload" "${add[@]}"; row "provision user remove --reload" "${remove[@]}"; } | jq -s .
