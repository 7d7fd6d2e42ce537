#!/bin/bash
# Generates a private CA and certificates for the agent gateway's TLS:
#   make_certs.sh DIR [IP_OR_DNS ...]
# DIR/ca.pem            the CA agents trust (coordinator_ca_file)
# DIR/server.pem, .key  the coordinator's certificate (agent_tls), with the
#                       given names (default: 127.0.0.1, ::1, localhost)
# DIR/client.pem, .key  an agent certificate signed by the same CA (mutual TLS)
# DIR/other-ca.pem      an unrelated CA (tests: a certificate it did not sign)
# Idempotent: existing files are kept. Keys are mode 600.
#
#   make_certs.sh DIR agent NAME SYNC_ID
# issues DIR/NAME.pem and .key: an agent certificate for mutual TLS whose
# subject CN is its AD Sync's ID (with client_ca_file set, the coordinator
# accepts an agent only with a certificate that names its AD Sync).
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR [IP_OR_DNS ...] | make_certs.sh DIR agent NAME SYNC_ID}
shift
if [[ ${1:-} == agent ]]; then
  name=${2:?usage: make_certs.sh DIR agent NAME SYNC_ID}
  sync_id=${3:?usage: make_certs.sh DIR agent NAME SYNC_ID}
  [[ $sync_id =~ ^[0-9a-fA-F-]{36}$ ]] || { echo "SYNC_ID must be an AD Sync ID (a GUID; see adsyncctl sync list)" >&2; exit 2; }
  [[ -f $dir/ca.key ]] || { echo "$dir has no CA yet: run make_certs.sh $dir first" >&2; exit 2; }
  cd "$dir"
  umask 077
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name.key" -out "$name.csr" -subj "/CN=$sync_id" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$name.pem" -days 3650 -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
  chmod 644 "$name.pem"
  echo "agent certificate $dir/$name.pem for AD Sync $sync_id"
  exit 0
fi
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
