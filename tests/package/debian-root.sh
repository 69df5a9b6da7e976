# Sourced by the package tests: a clean Debian 12 root for them, and its teardown.
#   debian_root DIR   extracts the cached minbase root into DIR (made once with debootstrap,
#                     cached as $debian_base) and mounts /proc, /sys, /dev, /dev/pts in it
#   debian_root_umount DIR
#   chroot_run DIR CMD…  runs CMD in DIR as root with a clean environment
# Needs root. The mirror is the one this machine's apt uses.
debian_base=/var/cache/tillid-package-test/bookworm-minbase.tar

debian_root() {
  if [ ! -f "$debian_base" ]; then
    echo "package test: making a minimal Debian 12 root with debootstrap (once; a few minutes)"
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
    tmp=$(mktemp -d)
    debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$tmp.log" 2>&1 \
      || { rm -rf "$tmp"; tail -n 20 "$tmp.log"; echo "package test: debootstrap failed" >&2; return 1; }
    rm -f "$tmp.log"
    cp /etc/apt/sources.list.d/debian.sources "$tmp/etc/apt/sources.list.d/" 2>/dev/null || true
    mkdir -p "$(dirname "$debian_base")"
    tar -C "$tmp" -cf "$debian_base.tmp" . && mv "$debian_base.tmp" "$debian_base"
    rm -rf "$tmp"
  fi
  mkdir -p "$1"
  tar -C "$1" -xf "$debian_base"
  # The tarball's "." is debootstrap's mktemp directory (0700): a root no other user can enter.
  chmod 0755 "$1"
  cp /etc/resolv.conf "$1/etc/" 2>/dev/null || true
  mount --bind /proc "$1/proc"; mount --bind /sys "$1/sys"
  mount --bind /dev "$1/dev"; mount --bind /dev/pts "$1/dev/pts"
}

# Lazy unmounts first, and only then may the caller delete DIR: a still-mounted /dev would
# take the host's device nodes with it.
debian_root_umount() {
  for m in dev/pts dev proc sys; do umount -l "$1/$m" 2>/dev/null || true; done
  for m in dev/pts dev proc sys; do
    if mountpoint -q "$1/$m"; then echo "package test: $1/$m is still mounted; not deleting" >&2; return 1; fi
  done
}

chroot_run() {
  local dir=$1; shift
  chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
