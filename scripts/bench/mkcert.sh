#!/usr/bin/env bash
# Benchmark baseline: mkcert creates its CA in DIR/ca on first use, then a server
# certificate (SANs redis, localhost, 127.0.0.1, ::1) and one client certificate (app);
# -ecdsa makes every key ECDSA P-256 (without it: RSA-3072 CA, RSA-2048 leaves). Plus three
# random passwords. Nothing is installed in any trust store (no -install).
# Usage: mkcert.sh DIR
set -euo pipefail
mkdir -p "$1" && cd "$1"
umask 077
export CAROOT="$PWD/ca"

mkcert -ecdsa -cert-file redis.crt -key-file redis.key redis localhost 127.0.0.1 ::1
mkcert -ecdsa -client -cert-file app.crt -key-file app.key app

for user in admin app monitor; do
  openssl rand -base64 32 >"$user.password"
done
