#!/usr/bin/env bash
# Real Samba AD DCs for tests and the demo, each in its own directory on its
# own loopback address, with its own CA so clients verify TLS for real.
#
#   samba_dc.sh provision DIR REALM NETBIOS IP HOST  # idempotent (cached in DIR)
#   samba_dc.sh start DIR                            # waits until LDAPS answers
#   samba_dc.sh stop DIR
#   samba_dc.sh restore-invocation-id DIR            # new invocationId, as after
#                                                    # a restore from backup
#   samba_dc.sh ldap DIR ldapmodify|ldapadd|ldapsearch ...  # as Administrator
#
# DIR gets: etc/smb.conf, private/, tls/{ca,cert,key}.pem, admin.password,
# env (REALM, NETBIOS, IP, HOST, BASE_DN, ADMIN_DN) and samba.log.
set -euo pipefail

cmd=${1:?usage: samba_dc.sh provision|start|stop|restore-invocation-id|ldap DIR ...}
dir=$(realpath -m "${2:?DIR is required}")

load_env() {
  [[ -f "$dir/env" ]] || { echo "samba_dc.sh: $dir is not provisioned; run provision first" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$dir/env"
}

ensure_address() {
  ip -4 addr show dev lo | grep -q " $1/" || ip addr add "$1/8" dev lo
}

make_tls() {
  local host=$1 ip=$2 tls=$dir/tls
  mkdir -p "$tls"
  [[ -f "$tls/cert.pem" ]] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=adsync test CA $host" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
    -keyout "$tls/key.pem" -out "$tls/cert.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\n' "$host" "$ip" > "$tls/ext.cnf"
  openssl x509 -req -in "$tls/cert.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
    -CAcreateserial -days 3650 -extfile "$tls/ext.cnf" -out "$tls/cert.pem" 2>/dev/null
  chmod 600 "$tls/key.pem" "$tls/ca.key"
}

provision() {
  local realm=${3:?REALM} netbios=${4:?NETBIOS} ip=${5:?IP} host=${6:?HOST}
  if [[ -f "$dir/.provisioned" ]]; then return; fi
  rm -rf "$dir"
  mkdir -p "$dir/pid"
  ensure_address "$ip"
  local fqdn="$host.${realm,,}"
  make_tls "$fqdn" "$ip"
  local password="Adsync-Test-$(openssl rand -hex 6)!"
  printf '%s' "$password" > "$dir/admin.password"
  chmod 600 "$dir/admin.password"
  samba-tool domain provision --realm="$realm" --domain="$netbios" \
    --server-role=dc --dns-backend=NONE --use-rfc2307 \
    --adminpass="$password" --targetdir="$dir" --host-name="$host" \
    --option="interfaces=$ip" --option="bind interfaces only=yes" \
    --option="pid directory=$dir/pid" \
    --option="tls enabled=yes" --option="tls keyfile=$dir/tls/key.pem" \
    --option="tls certfile=$dir/tls/cert.pem" --option="tls cafile=$dir/tls/ca.pem" \
    --option="log file=$dir/samba.log" \
    --option="server services=-dns -nbt -wrepl -ntp_signd -dnsupdate" \
    > "$dir/provision.log" 2>&1 || { tail -20 "$dir/provision.log" >&2; exit 1; }
  # Tests create users fast and with simple passwords.
  samba-tool domain passwordsettings set --complexity=off --min-pwd-length=1 \
    --min-pwd-age=0 --max-pwd-age=0 -s "$dir/etc/smb.conf" >/dev/null
  local base_dn
  base_dn=$(echo "$realm" | tr 'A-Z' 'a-z' | sed 's/^/DC=/; s/\./,DC=/g')
  cat > "$dir/env" <<ENV
REALM=$realm
NETBIOS=$netbios
IP=$ip
HOST=$fqdn
BASE_DN=$base_dn
ADMIN_DN=Administrator@${realm,,}
ENV
  touch "$dir/.provisioned"
}

pid_of() {
  local f=$dir/pid/samba.pid
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

start() {
  load_env
  ensure_address "$IP"
  if pid_of >/dev/null; then return; fi
  setsid samba -s "$dir/etc/smb.conf" --foreground --no-process-group \
    >> "$dir/samba.log" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    if LDAPTLS_CACERT="$dir/tls/ca.pem" ldapsearch -LLL -o nettimeout=2 \
         -H "ldaps://$IP" -x -b "" -s base highestCommittedUSN >/dev/null 2>&1; then
      return
    fi
    sleep 0.5
  done
  echo "samba_dc.sh: DC in $dir did not answer on ldaps://$IP within 60 s; see $dir/samba.log" >&2
  tail -20 "$dir/samba.log" >&2
  exit 1
}

stop() {
  # samba, smbd and winbindd each lead their own process group.
  local pids=() pid f
  for f in "$dir"/pid/*.pid; do
    [[ -f "$f" ]] || continue
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null && pids+=("$pid")
  done
  ((${#pids[@]})) || return 0
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}

restore_invocation_id() {
  load_env
  stop
  local ntds
  ntds=$(ldbsearch -H "$dir/private/sam.ldb" -b "CN=Configuration,$BASE_DN" \
           '(objectClass=nTDSDSA)' dn 2>/dev/null | sed -n 's/^dn: //p' | head -1)
  local guid
  guid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  printf 'dn: %s\nchangetype: modify\nreplace: invocationId\ninvocationId: %s\n' \
    "$ntds" "$guid" | ldbmodify -H "$dir/private/sam.ldb" --controls=relax:0 >/dev/null
  start
  echo "$guid"
}

ldap() {
  load_env
  local tool=${3:?tool}
  shift 3
  LDAPTLS_CACERT="$dir/tls/ca.pem" "$tool" -H "ldaps://$IP" -x -D "$ADMIN_DN" \
    -y "$dir/admin.password" "$@"
}

case "$cmd" in
  provision) provision "$@" ;;
  start) start ;;
  stop) stop ;;
  restore-invocation-id) restore_invocation_id ;;
  ldap) ldap "$@" ;;
  *) echo "samba_dc.sh: unknown command $cmd" >&2; exit 2 ;;
esac
