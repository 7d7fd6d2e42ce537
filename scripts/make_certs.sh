#!/bin/bash
# Generates a private CA and certificates for the agent gateway's TLS:
#   make_certs.sh DIR [IP_OR_DNS ...]
# DIR/ca.pem            the CA agents trust (coordinator_ca_file)
# DIR/server.pem, .key  the coordinator's certificate (agent_tls), with the
#                       given names (default: 127.0.0.1, ::1, localhost)
# DIR/client.pem, .key  an agent certificate signed by the same CA (mutual TLS)
# DIR/other-ca.pem      an unrelated CA (tests: a certificate it did not sign)
# Idempotent: existing files are kept. Keys are mode 600.
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR [IP_OR_DNS ...]}
shift
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(127.0.0.1 ::1 localhost)
mkdir -p "$dir"
cd "$dir"
[ -f server.pem ] && exit 0
umask 077
san=""
for n in "${names[@]}"; do
  if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san=${san%,}
days=3650
new_ca() {  # name subject
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.pem" -days $days -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
new_leaf() {  # name subject usage [san]
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$3"
    [ -n "${4:-}" ] && echo "subjectAltName=$4"
  } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$1.pem" -days $days -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
new_ca ca "adsync test CA"
new_ca other-ca "an unrelated CA"
new_leaf client "adsync agent" clientAuth
new_leaf server "adsync coordinator" serverAuth "$san"
chmod 644 ./*.pem
echo "certificates in $dir (server names: ${names[*]})"
