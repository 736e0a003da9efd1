#!/usr/bin/env bash
# Benchmark baseline: the security review's sequence (genrsa 4096, req, x509 -req -days)
# for CA + server certificate (SANs redis, localhost, 127.0.0.1, ::1) + one client
# certificate (app), plus three random passwords.
# Usage: openssl-rsa4096.sh DIR
set -euo pipefail
ext="$(cd "$(dirname "$0")" && pwd)/openssl-ext.cnf"
mkdir -p "$1" && cd "$1"
umask 077

openssl genrsa -out ca.key 4096
openssl req -new -key ca.key -subj "/CN=redis-ca" -out ca.csr
openssl x509 -req -in ca.csr -signkey ca.key -days 3650 -sha256 \
  -extfile "$ext" -extensions ca -out ca.crt

for name in redis app; do
  profile=client
  [ "$name" = redis ] && profile=server
  openssl genrsa -out "$name.key" 4096
  openssl req -new -key "$name.key" -subj "/CN=$name" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -days 365 -sha256 \
    -extfile "$ext" -extensions "$profile" -out "$name.crt"
done

for user in admin app monitor; do
  openssl rand -base64 32 >"$user.password"
done
