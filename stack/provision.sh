#!/usr/bin/env bash
# Provision this machine for the hotline stack. Idempotent; safe to run before every
# `make run` / `make test`.
#   1. Debian packages the host needs (stack/host_packages.txt), installed when missing.
#   2. Asterisk 22 in a Debian sid chroot under $HOTLINE_CACHE (outside the work tree), reused
#      when its marker file says it is complete; a half-built tree is removed and rebuilt.
#   3. The chroot's asterisk user gets the uid/gid of a host system user of its own
#      (hotline-asterisk), so no other host user owns what Asterisk writes.
# The Debian mirror is read from this machine's own apt configuration, never from the repo.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${HOTLINE_CACHE:-/var/cache/hotline}
CHROOT=${HOTLINE_CHROOT:-$CACHE/asterisk-sid}
CHROOT_PACKAGES="asterisk asterisk-core-sounds-en-wav asterisk-moh-opsound-wav sip-tester"
# Bump when CHROOT_PACKAGES changes so old chroots are rebuilt.
MARKER_VERSION=1
MARKER=$CHROOT/.hotline-provisioned-v$MARKER_VERSION

log() { printf '[provision] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    log "must run as root to install Debian packages and build the Asterisk chroot"; exit 1
  fi
}

apt_updated=0
apt_update_once() {
  if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
}

host_packages() {
  local missing=()
  while read -r pkg; do
    pkg=${pkg%%#*}; pkg=$(echo "$pkg" | tr -d '[:space:]')
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$HERE/host_packages.txt"
  if [ ${#missing[@]} -gt 0 ]; then
    need_root
    log "installing Debian packages: ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # The distribution's own services are not ours: the stack starts its own instances.
    for svc in redis-server postgresql; do
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
      fi
    done
  fi
}

# First Debian mirror URI of the host's apt sources (deb822 or one-line format).
host_mirror() {
  local uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {for (i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then log "no Debian mirror found in /etc/apt sources"; exit 1; fi
  echo "$uri"
}

chroot_ok() {
  [ -f "$MARKER" ] && chroot "$CHROOT" /usr/sbin/asterisk -V >/dev/null 2>&1 \
    && [ -x "$CHROOT/usr/bin/sipp" ]
}

build_chroot() {
  need_root
  local mirror tmp
  mirror=$(host_mirror)
  tmp="$CHROOT.building"
  rm -rf "$tmp"
  mkdir -p "$CACHE"
  log "building Asterisk chroot from $mirror (sid) in $CHROOT"
  debootstrap --variant=minbase sid "$tmp" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
    || { log "debootstrap failed, see $CACHE/debootstrap.log"; tail -20 "$CACHE/debootstrap.log" >&2; exit 1; }
  # The mirror's sid index may be a frozen snapshot whose Valid-Until lies in the past.
  echo 'Acquire::Check-Valid-Until "false";' > "$tmp/etc/apt/apt.conf.d/99hotline-snapshot"
  chroot "$tmp" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive chroot "$tmp" apt-get install -y -qq --no-install-recommends \
    $CHROOT_PACKAGES >"$CACHE/chroot-apt.log" 2>&1 \
    || { log "apt-get in chroot failed, see $CACHE/chroot-apt.log"; tail -20 "$CACHE/chroot-apt.log" >&2; exit 1; }
  chroot "$tmp" apt-get clean
  rm -rf "$CHROOT"
  mv "$tmp" "$CHROOT"
  date -u +%FT%TZ > "$MARKER"
}

# Asterisk runs as the chroot's `asterisk` user. Debian's package gives it whatever system uid
# was free *in the chroot* (101), which on a host may belong to someone else (postgres, _ssh):
# that host user would then own the recordings and could signal Asterisk. So a host system user
# HOST_ASTERISK_USER is created and the chroot's asterisk user is given exactly its uid and gid.
HOST_ASTERISK_USER=hotline-asterisk

align_asterisk_user() {
  need_root
  local huid hgid cuid cgid
  getent group "$HOST_ASTERISK_USER" >/dev/null || groupadd --system "$HOST_ASTERISK_USER"
  getent passwd "$HOST_ASTERISK_USER" >/dev/null || useradd --system --gid "$HOST_ASTERISK_USER" \
    --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$HOST_ASTERISK_USER"
  huid=$(id -u "$HOST_ASTERISK_USER"); hgid=$(getent group "$HOST_ASTERISK_USER" | cut -d: -f3)
  cuid=$(chroot "$CHROOT" id -u asterisk); cgid=$(chroot "$CHROOT" id -g asterisk)
  if [ "$cuid" = "$huid" ] && [ "$cgid" = "$hgid" ]; then return; fi
  log "giving the chroot's asterisk user uid $huid / gid $hgid (host user $HOST_ASTERISK_USER; was $cuid/$cgid)"
  if [ "$cgid" != "$hgid" ]; then
    chroot "$CHROOT" groupmod -g "$hgid" asterisk \
      || { log "gid $hgid is taken inside the chroot: cannot align"; exit 1; }
    find "$CHROOT" -xdev -gid "$cgid" -exec chgrp -h "$hgid" {} +
  fi
  if [ "$cuid" != "$huid" ]; then
    chroot "$CHROOT" usermod -u "$huid" -g "$hgid" asterisk \
      || { log "uid $huid is taken inside the chroot: cannot align"; exit 1; }
    find "$CHROOT" -xdev -uid "$cuid" -exec chown -h "$huid" {} +
  fi
}

main() {
  local t0=$SECONDS
  mkdir -p "$(dirname "$CACHE")"
  exec 9>"${CACHE}.lock"
  flock 9
  host_packages
  if chroot_ok; then
    log "Asterisk chroot ready at $CHROOT (reused)"
  else
    [ -e "$CHROOT" ] && log "Asterisk chroot at $CHROOT is incomplete or broken: rebuilding"
    build_chroot
    log "Asterisk chroot built in $((SECONDS - t0)) s"
  fi
  align_asterisk_user
}

main "$@"
