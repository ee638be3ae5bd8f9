#!/usr/bin/env bash
# Generates a throwaway test PKI with openssl into DIR (default: build/certs):
#   ca.pem ca.key          test CA
#   server.pem server.key  server certificate, SAN: *.test.google.fr, foo.test.google.fr,
#                          localhost, 127.0.0.1, ::1  (gRPC's interop tests use the override
#                          host name foo.test.google.fr)
#   client.pem client.key  client certificate for mutual TLS
# Existing files are kept, so repeated calls are cheap.
set -euo pipefail
DIR=${1:-build/certs}
mkdir -p "$DIR"
cd "$DIR"
# Tests run in parallel (ctest -j, one process per test): serialise generation, so that no
# process reads a half-written PKI or a CA from one run and a certificate from another.
exec 9>".lock"
flock 9
[ -f server.pem ] && [ -f client.pem ] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=polyrpc test CA" \
  -keyout ca.key -out ca.pem >/dev/null 2>&1
cat > server.ext <<EXT
subjectAltName=DNS:*.test.google.fr,DNS:foo.test.google.fr,DNS:localhost,IP:127.0.0.1,IP:::1
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
EXT
openssl req -newkey rsa:2048 -nodes -subj "/CN=foo.test.google.fr" \
  -keyout server.key -out server.csr >/dev/null 2>&1
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
  -extfile server.ext -out server.pem >/dev/null 2>&1
cat > client.ext <<EXT
basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EXT
openssl req -newkey rsa:2048 -nodes -subj "/CN=polyrpc test client" \
  -keyout client.key -out client.csr >/dev/null 2>&1
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
  -extfile client.ext -out client.pem >/dev/null 2>&1
rm -f server.csr client.csr server.ext client.ext
