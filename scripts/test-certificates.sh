#!/usr/bin/env bash
# test-certificates.sh DIR: the certificates the security tests (tests/security.rs) need, made with the
# openssl command line into DIR (EC P-256 keys, PEM, unencrypted PKCS#8; valid 30 days unless said otherwise):
#
#   ca.pem, ca.key                 the test CA, which signs everything below
#   broker.pem, broker.key         the broker: subjectAltName localhost and 127.0.0.1
#   broker-keystore.pem            its key, certificate and the CA in one file (Kafka's PEM keystore)
#   wrong-name-keystore.pem        a broker certificate for kafka.invalid only (host-name mismatch)
#   expired-keystore.pem           a broker certificate for 127.0.0.1 that expired in 2020
#   client.pem, client.key         a client certificate, CN=lab-client (mutual TLS)
#   other-ca.pem                   another CA, which signed none of these (the wrong CA)
#
# Needs openssl (Debian: apt-get install -y openssl). Fails loudly on any error.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: test-certificates.sh DIR" >&2; exit 2; }
command -v openssl >/dev/null \
  || { echo "test-certificates: openssl is missing (Debian: apt-get install -y openssl)" >&2; exit 1; }
mkdir -p "$1"
cd "$1"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# A self-signed CA: name, common name.
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

# A certificate request and its extensions: name, common name, subjectAltName (or none).
request() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  {
    [ -z "$3" ] || echo "subjectAltName=$3"
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=serverAuth,clientAuth"
  } >"$1.ext"
}

# A certificate signed by the test CA, valid from now on: name, common name, subjectAltName.
signed() {
  request "$@"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile "$1.ext" \
    -out "$1.pem" 2>/dev/null
}

# A certificate signed by the test CA that expired long ago: `openssl x509` cannot date one in the past
# (OpenSSL 3.0 has no -not_before), `openssl ca` can.
expired() {
  request "$@"
  mkdir -p ca-db
  : >ca-db/index.txt
  echo 1000 >ca-db/serial
  cat >ca-db/ca.cnf <<EOF
[ca]
default_ca = test
[test]
dir = ca-db
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = any
unique_subject = no
[any]
commonName = supplied
EOF
  openssl ca -batch -notext -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile "$1.ext" 2>/dev/null
}

# Kafka's PEM keystore: the private key, then the certificate chain.
keystore() { cat "$1.key" "$1.pem" ca.pem >"$2"; }

ca ca "kafka-lab test CA"
ca other-ca "kafka-lab other CA"
signed broker localhost "DNS:localhost,IP:127.0.0.1"
keystore broker broker-keystore.pem
signed wrong-name kafka.invalid "DNS:kafka.invalid"
keystore wrong-name wrong-name-keystore.pem
expired expired 127.0.0.1 "DNS:localhost,IP:127.0.0.1"
keystore expired expired-keystore.pem
signed client lab-client ""
