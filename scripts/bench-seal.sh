#!/usr/bin/env bash
# Peak memory of `provision seal` on a large file (default 1 GiB): shows that sealing streams
# in constant memory. A benchmark, not a test: prints the numbers, asserts nothing.
#   scripts/bench-seal.sh [SIZE_MIB]     (needs /usr/bin/time from the Debian package `time`)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib="${1:-1024}"
command -v /usr/bin/time >/dev/null 2>&1 || { echo "error: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/provision"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" init --dir "$work/secrets" --quiet
# A throwaway recipient: a fresh key from age-keygen when installed, otherwise any valid
# public key (the output is never decrypted here).
if command -v age-keygen >/dev/null 2>&1; then
  recipient="$(age-keygen 2>/dev/null | sed -n 's/^# public key: //p')"
else
  recipient="age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
fi
"$bin" backup --dir "$work/secrets" --recipient "$recipient" --remember --quiet
head -c "$((size_mib * 1024 * 1024))" /dev/zero > "$work/dump.rdb"
/usr/bin/time -v "$bin" seal "$work/dump.rdb" --dir "$work/secrets" -o "$work/dump.rdb.age" --quiet 2> "$work/time.txt"
in_bytes="$(stat -c %s "$work/dump.rdb")"
out_bytes="$(stat -c %s "$work/dump.rdb.age")"
rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time.txt")"
wall="$(sed -n 's/.*Elapsed (wall clock) time.*: //p' "$work/time.txt")"
echo "sealed ${in_bytes} bytes -> ${out_bytes} bytes in ${wall}; peak RSS ${rss} KiB"
