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
# Replicating DCs (a domain with several DCs) need each other's host names
# and <dsa-guid>._msdcs names to resolve. They run inside a private mount
# namespace whose /etc/hosts is NSDIR/hosts (the machine's is never touched):
#   samba_dc.sh ns-start NSDIR          # holder process + hosts + krb5.conf
#   SAMBA_NS=NSDIR samba_dc.sh provision|start|stop ...
#   SAMBA_NS=NSDIR samba_dc.sh join DIR REALM NETBIOS IP HOST SOURCE_DIR
#   SAMBA_NS=NSDIR samba_dc.sh replicate DEST_DIR SOURCE_DIR  # pull now
#   samba_dc.sh ns-stop NSDIR           # stops its DCs and the holder
#
# DIR gets: etc/smb.conf, private/, tls/{ca,cert,key}.pem, admin.password,
# env (REALM, NETBIOS, IP, HOST, BASE_DN, ADMIN_DN) and samba.log.
set -euo pipefail

cmd=${1:?usage: samba_dc.sh provision|start|stop|join|replicate|inbound-replication|restore-invocation-id|ldap|ns-start|ns-stop DIR ...}
dir=$(realpath -m "${2:?DIR is required}")
ns=${SAMBA_NS:+$(realpath -m "$SAMBA_NS")}

# Runs a Samba command inside the namespace (when there is one).
inns() {
  if [[ -n "$ns" ]]; then
    nsenter -t "$(cat "$ns/holder.pid")" -m -- env KRB5_CONFIG="$ns/krb5.conf" "$@"
  else
    "$@"
  fi
}

ns_start() {
  mkdir -p "$dir/realms"
  if [[ -f "$dir/holder.pid" ]] && kill -0 "$(cat "$dir/holder.pid")" 2>/dev/null; then return; fi
  # Registered DC names persist in hosts.adsync; the holder does not.
  cat /etc/hosts "$dir/hosts.adsync" > "$dir/hosts" 2>/dev/null || cp /etc/hosts "$dir/hosts"
  write_krb5 "$dir"
  setsid unshare --mount --propagation private \
    sh -c "mount --bind '$dir/hosts' /etc/hosts && exec sleep infinity" < /dev/null > /dev/null 2>&1 &
  echo $! > "$dir/holder.pid"
  for _ in $(seq 1 50); do
    nsenter -t "$(cat "$dir/holder.pid")" -m -- grep -q . /etc/hosts 2>/dev/null &&
      cmp -s <(nsenter -t "$(cat "$dir/holder.pid")" -m -- cat /etc/hosts) "$dir/hosts" && return
    sleep 0.1
  done
  echo "samba_dc.sh: the namespace holder did not start" >&2
  exit 1
}

ns_stop() {
  local d
  for d in "$dir"/*/; do
    [[ -f "$d/env" ]] && SAMBA_NS= "$0" stop "$d" || true
  done
  [[ -f "$dir/holder.pid" ]] && kill "$(cat "$dir/holder.pid")" 2>/dev/null || true
  rm -f "$dir/holder.pid"
}

# krb5.conf in multi-line form (the one-line `{ kdc = ... }` form is
# silently ignored, and replication then fails with NO_LOGON_SERVERS).
write_krb5() {
  local nsdir=$1 f
  {
    printf '[libdefaults]\n\tdns_lookup_realm = false\n\tdns_lookup_kdc = false\n\n[realms]\n'
    for f in "$nsdir"/realms/*.realm; do [[ -f "$f" ]] && cat "$f"; done
    printf '\n[domain_realm]\n'
    for f in "$nsdir"/realms/*.map; do [[ -f "$f" ]] && cat "$f"; done
  } > "$nsdir/krb5.conf.new"
  mv "$nsdir/krb5.conf.new" "$nsdir/krb5.conf"
}

# Registers a DC in the namespace: its names in the hosts file and its
# KDC in krb5.conf.
ns_register() {
  [[ -n "$ns" ]] || return 0
  load_env
  local realm_lc=${REALM,,} short=${HOST%%.*} guid
  guid=$(ldbsearch -H "$dir/private/sam.ldb" -b "CN=Configuration,$BASE_DN" \
           "(&(objectClass=nTDSDSA)(name=NTDS Settings))" objectGUID dn 2>/dev/null |
         awk -v host="CN=${short^^}," '/^dn: /{d=$0} /^objectGUID: /{ if (index(toupper(d), host)) print $2 }')
  # Append in place: the namespace sees this very file through its bind mount.
  printf '%s %s %s\n%s %s._msdcs.%s\n' "$IP" "$HOST" "$short" "$IP" "$guid" "$realm_lc" |
    tee -a "$ns/hosts.adsync" >> "$ns/hosts"
  local kdcs
  kdcs=$(cat "$ns/realms/$REALM.kdcs" 2>/dev/null || true)
  echo "$kdcs $IP" > "$ns/realms/$REALM.kdcs"
  {
    printf '\t%s = {\n' "$REALM"
    for k in $(cat "$ns/realms/$REALM.kdcs"); do printf '\t\tkdc = %s\n' "$k"; done
    printf '\t}\n'
  } > "$ns/realms/$REALM.realm"
  printf '\t.%s = %s\n\t%s = %s\n' "$realm_lc" "$REALM" "$realm_lc" "$REALM" > "$ns/realms/$REALM.map"
  write_krb5 "$ns"
}

load_env() {
  [[ -f "$dir/env" ]] || { echo "samba_dc.sh: $dir is not provisioned; run provision first" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$dir/env"
}

ensure_address() {
  # (Not `ip ... | grep -q`: with pipefail, grep's early exit fails the pipe.)
  local addrs
  addrs=$(ip -4 addr show dev lo)
  [[ "$addrs" == *" $1/"* ]] || ip addr add "$1/8" dev lo
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

# A fresh DC directory with its address and TLS certificate.
prepare_dir() {  # ip fqdn
  rm -rf "$dir"
  mkdir -p "$dir/pid"
  ensure_address "$1"
  make_tls "$2" "$1"
}

provision() {
  local realm=${3:?REALM} netbios=${4:?NETBIOS} ip=${5:?IP} host=${6:?HOST}
  if [[ -f "$dir/.provisioned" ]]; then return; fi
  local fqdn="$host.${realm,,}"
  prepare_dir "$ip" "$fqdn"
  local password="Adsync-Test-$(openssl rand -hex 6)!"
  printf '%s' "$password" > "$dir/admin.password"
  chmod 600 "$dir/admin.password"
  inns samba-tool domain provision --realm="$realm" --domain="$netbios" \
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
  inns samba-tool domain passwordsettings set --complexity=off --min-pwd-length=1 \
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
  ns_register
  touch "$dir/.provisioned"
}

join() {
  local realm=${3:?REALM} netbios=${4:?NETBIOS} ip=${5:?IP} host=${6:?HOST}
  local source; source=$(realpath -m "${7:?SOURCE_DIR}")
  [[ -n "$ns" ]] || { echo "samba_dc.sh: join needs SAMBA_NS" >&2; exit 2; }
  if [[ -f "$dir/.provisioned" ]]; then return; fi
  local fqdn="$host.${realm,,}"
  prepare_dir "$ip" "$fqdn"
  cp "$source/admin.password" "$dir/admin.password"
  local source_ip; source_ip=$(. "$source/env"; echo "$IP")
  inns samba-tool domain join "${realm,,}" DC --server="$source_ip" \
    -U "Administrator%$(cat "$dir/admin.password")" --targetdir="$dir" \
    --dns-backend=NONE --option="interfaces=$ip" --option="bind interfaces only=yes" \
    --option="netbios name=${host^^}" --option="pid directory=$dir/pid" \
    --option="tls enabled=yes" --option="tls keyfile=$dir/tls/key.pem" \
    --option="tls certfile=$dir/tls/cert.pem" --option="tls cafile=$dir/tls/ca.pem" \
    --option="log file=$dir/samba.log" \
    --option="server services=-dns -nbt -wrepl -ntp_signd -dnsupdate" \
    > "$dir/provision.log" 2>&1 || { tail -20 "$dir/provision.log" >&2; exit 1; }
  sed "s/^IP=.*/IP=$ip/; s/^HOST=.*/HOST=$fqdn/" "$source/env" > "$dir/env"
  ns_register
  touch "$dir/.provisioned"
}

replicate() {
  load_env
  local source; source=$(realpath -m "${3:?SOURCE_DIR}")
  local source_host; source_host=$(. "$source/env"; echo "$HOST")
  # A DC that just (re)started may refuse the first DRS bind
  # (WERR_NETNAME_DELETED); try a few times.
  local attempt out
  for attempt in 1 2 3 4 5 6; do
    if out=$(inns samba-tool drs replicate "$HOST" "$source_host" "$BASE_DN" \
               -s "$dir/etc/smb.conf" -U "Administrator%$(cat "$dir/admin.password")" 2>&1); then
      return 0
    fi
    sleep 1
  done
  echo "$out" >&2
  return 1
}

# inbound-replication DIR on|off: whether this DC pulls changes from its
# partners (tests hold a standby's DC behind to observe replication lag).
inbound_replication() {
  load_env
  local option
  case "${3:?on|off}" in
    on) option=-DISABLE_INBOUND_REPL ;;
    off) option=+DISABLE_INBOUND_REPL ;;
    *) echo "samba_dc.sh: inbound-replication takes on or off" >&2; exit 2 ;;
  esac
  inns samba-tool drs options "$HOST" --dsa-option="$option" \
    -s "$dir/etc/smb.conf" -U "Administrator%$(cat "$dir/admin.password")" > /dev/null
}

pid_of() {
  local f=$dir/pid/samba.pid
  [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

start() {
  load_env
  ensure_address "$IP"
  if pid_of >/dev/null; then return; fi
  # SAMBA_PROCESS_MODEL=single (benchmarks): one process serves every LDAP
  # connection, so a change wakes every notification search at once (with
  # the default prefork, searches on another worker wait for a 5 s timer).
  inns setsid samba -s "$dir/etc/smb.conf" --foreground --no-process-group \
    ${SAMBA_PROCESS_MODEL:+"--model=$SAMBA_PROCESS_MODEL"} \
    >> "$dir/samba.log" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    if LDAPTLS_CACERT="$dir/tls/ca.pem" ldapsearch -LLL -o nettimeout=2 \
         -H "ldaps://$IP" -x -b "" -s base highestCommittedUSN >/dev/null 2>&1; then
      # Replication needs the DC's DRS service principal, which the
      # (disabled) dnsupdate service would register.
      if [[ -n "$ns" && ! -f "$dir/.spn" ]]; then
        inns samba_spnupdate -s "$dir/etc/smb.conf" > /dev/null 2>&1 && touch "$dir/.spn"
      fi
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
    "$ntds" "$guid" | inns ldbmodify -H "$dir/private/sam.ldb" --controls=relax:0 >/dev/null
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
  ns-start) ns_start ;;
  ns-stop) ns_stop ;;
  join) join "$@" ;;
  replicate) replicate "$@" ;;
  inbound-replication) inbound_replication "$@" ;;
  provision) provision "$@" ;;
  start) start ;;
  stop) stop ;;
  restore-invocation-id) restore_invocation_id ;;
  ldap) ldap "$@" ;;
  *) echo "samba_dc.sh: unknown command $cmd" >&2; exit 2 ;;
esac
