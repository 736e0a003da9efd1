#!/usr/bin/env bash
# Benchmark baseline: cfssl makes a CA (gencert -initca), a server certificate (profile
# "server", SANs redis, localhost, 127.0.0.1, ::1) and one client certificate (profile
# "client", CN app), all ECDSA P-256, from the JSON files in cfssl/; cfssljson writes the
# PEM files. Plus three random passwords.
# Usage: cfssl.sh DIR
set -euo pipefail
cfg="$(cd "$(dirname "$0")" && pwd)/cfssl"
mkdir -p "$1" && cd "$1"
umask 077

cfssl gencert -initca "$cfg/ca-csr.json" | cfssljson -bare ca
cfssl gencert -ca ca.pem -ca-key ca-key.pem -config "$cfg/config.json" \
  -profile server "$cfg/server-csr.json" | cfssljson -bare redis
cfssl gencert -ca ca.pem -ca-key ca-key.pem -config "$cfg/config.json" \
  -profile client "$cfg/client-csr.json" | cfssljson -bare app

for user in admin app monitor; do
  openssl rand -base64 32 >"$user.password"
done
