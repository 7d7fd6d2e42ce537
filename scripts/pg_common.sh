# shellcheck shell=bash disable=SC2154  # $prog, $user, $dir: the caller's
# (take_dir and find_bindir set $dir and $bindir for it)
# Shared by scripts/postgres.sh and scripts/patroni.sh (sourced, never run):
# checks on the directory DIR they are given and the files root touches in
# it, and the user adsync-pg that runs the servers. Expects $prog (the
# script's name, for messages), $user and, once known, $dir from the caller.

# Refuses directory $1 (when it exists) unless only root can change what is
# in it: root's, not writable by group or others, not a symbolic link.
check_dir() {
  local d=$1 owner mode
  if [[ -L "$d" ]]; then
    echo "$prog: $d is a symbolic link; pass the directory it points to, or a new path" \
         "(the script creates it)" >&2
    exit 2
  fi
  [[ -e "$d" ]] || return 0
  [[ -d "$d" ]] || { echo "$prog: $d is not a directory; remove it or use another DIR" >&2; exit 2; }
  read -r owner mode < <(stat -c '%u %a' -- "$d")
  if [[ "$owner" != 0 ]] || ((8#$mode & 8#022)); then
    echo "$prog: $d is owned by $(stat -c %U -- "$d") with mode $mode, but must be root's and" \
         "writable by root only (another user could plant links in it that root would follow);" \
         "use a new DIR (the script creates it), or a directory made by root (chmod go-w)" >&2
    exit 2
  fi
}

ensure_user() {
  id -u "$user" >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
}

# Creates DIR (0755, root's) when missing; makes it 0755 when it is not.
make_dir() {
  mkdir -p -- "${dir%/*}/"
  mkdir -m 0755 -- "$dir" 2>/dev/null || true
  check_dir "$dir"  # again: someone may have made it meanwhile
  [[ -d "$dir" ]] || { echo "$prog: cannot create $dir" >&2; exit 1; }
  chmod 0755 -- "$dir"
}

# Refuses $1 (a path directly in DIR, which root writes, reads or chowns)
# when it is a symbolic link or not a regular file (left over from when DIR
# was writable by others, say).
no_link() {
  if [[ -L "$1" ]] || [[ -e "$1" && ! -f "$1" ]]; then
    echo "$prog: $1 is a symbolic link or not a regular file; remove it" \
         "(or use a new DIR)" >&2
    exit 1
  fi
}

# Absolute path $1 with its parent directories resolved but not its last
# component, so a DIR that is a symbolic link is seen as one (and refused).
resolve_dir() {
  local p=$1 base parent
  while [[ "$p" == */ && "$p" != / ]]; do p=${p%/}; done
  base=${p##*/}
  case $base in
    ""|.|..) realpath -m -- "$p" ;;
    *)
      if [[ "$p" == */* ]]; then parent=${p%/*}/; else parent=.; fi
      parent=$(realpath -m -- "$parent")
      printf '%s/%s\n' "${parent%/}" "$base"
      ;;
  esac
}

# Makes $1 (a path directly in DIR) a regular file owned by adsync-pg.
user_file() {
  no_link "$1"
  [[ -e "$1" ]] || : > "$1"
  [[ $(stat -c %U -- "$1") == "$user" ]] && return 0
  [[ $(stat -c %h -- "$1") == 1 ]] || {
    echo "$prog: $1 has other hard links; remove it (or use a new DIR)" >&2
    exit 1
  }
  chown -h -- "$user:" "$1"
}

# Refuses path $1 unless it is plain: absolute, letters, digits, . _ / -.
check_plain() {
  [[ "$1" =~ ^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$ ]] || {
    echo "$prog: $2 may hold only letters, digits and . _ / - (got '$1'); use a plainer path" >&2
    exit 2
  }
}

# Sets $dir from the DIR argument $1: refused unless plain (it goes unquoted
# into postgresql.conf, YAML, libpq strings and pgrep patterns) and safe.
take_dir() {
  [[ -n "$1" ]] || { echo "$prog: DIR is required" >&2; exit 2; }
  dir=$(resolve_dir "$1")
  [[ "$dir" != / ]] || { echo "$prog: DIR cannot be /" >&2; exit 2; }
  check_plain "$dir" DIR
  check_dir "$dir"
}

# Sets $bindir: PostgreSQL's server programs (PG_BINDIR overrides).
find_bindir() {
  bindir=${PG_BINDIR:-}
  if [[ -z "$bindir" ]]; then
    bindir=$(pg_config --bindir 2>/dev/null ||
             ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  fi
  if [[ ! -x "$bindir/initdb" ]]; then
    echo "$prog: PostgreSQL server programs not found (looked in '${bindir}');" \
         "run scripts/install_deps.sh, or set PG_BINDIR to the directory holding initdb" >&2
    exit 1
  fi
}
