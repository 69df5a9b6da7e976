#!/bin/sh
# Installs the tillid .deb into a clean Debian 12 root, as a site would install it, and checks
# that it works there: apt-get pulls the runtime libraries dpkg-shlibdeps named, postinst made
# the system user and the state directory, `tillidd --version` and `tillid --help` run, every
# file the package promises is in place, and removing the package keeps the vault directory.
#
#   tests/package/install-deb-test.sh [BUILD_DIR]      (default build; tillidd, tillid built)
#
# Needs root (debootstrap, chroot, mounts) and the Debian mirror; takes a few minutes the first
# time (debootstrap, cached as /var/cache/tillid-package-test/bookworm-minbase.tar), then about
# half a minute. CI runs it from .ci/run after the tests; it is not a CTest test.
set -eu
[ "$(id -u)" = 0 ] || { echo "install-deb-test: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
cd "$(dirname "$0")/../.."
src=$(pwd)
build=$(cd "${1:-${TILLID_BUILD_DIR:-build}}" && pwd)
work=$(mktemp -d /tmp/tillid-package-test.XXXXXX)
root=$work/root
start=$(date +%s)
say() { echo "install-deb-test: $*"; }
fail() { echo "install-deb-test: FAILED: $*" >&2; exit 1; }
. "$src/tests/package/debian-root.sh"
daemon=
cleanup() {
  [ -z "$daemon" ] || kill -KILL "$daemon" 2>/dev/null || true
  debian_root_umount "$root" && rm -rf "$work"
}
trap cleanup EXIT

# 1. The package, from what is built now.
rm -f "$build"/tillid_*.deb
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { tail -n 20 "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$build"/tillid_*.deb)
say "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# 2. A clean Debian 12: minbase, nothing of ours, no build tools; made once and cached.
debian_root "$root" || fail "no Debian 12 root"
in_root() { chroot_run "$root" "$@"; }

# 3. Install as a site would: apt resolves the Depends: line.
cp "$deb" "$root/tmp/"
in_root apt-get update -qq >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get update in the root"; }
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1 \
  || { tail -n 30 "$work/apt.log"; fail "apt-get install ./$(basename "$deb")"; }
say "installed with apt-get; pulled in: $(sed -n 's/^Setting up \([^: ]*\).*/\1/p' "$work/apt.log" | grep -v '^tillid$' | tr '\n' ' ')"

# 4. The programs run, with only what the package declared.
version=$(in_root tillidd --version) || fail "tillidd --version"
say "tillidd --version: $version"
in_root tillid --help >"$work/help.txt" 2>&1 || { cat "$work/help.txt"; fail "tillid --help"; }
say "tillid --help: $(head -n 1 "$work/help.txt")"

# 5. What postinst and the package promise.
in_root getent passwd tillid | grep -q ':/var/lib/tillid:/usr/sbin/nologin$' || fail "no system user tillid"
owner=$(in_root stat -c '%U %a' /var/lib/tillid) || fail "no /var/lib/tillid"
[ "$owner" = "tillid 700" ] || fail "/var/lib/tillid is '$owner', want 'tillid 700'"
in_root dpkg-query -W -f='${Conffiles}\n' tillid | grep -q '^ /etc/tillid/tillidd.toml ' \
  || fail "/etc/tillid/tillidd.toml is not a conffile"
for f in /usr/bin/tillidd /usr/bin/tillid /lib/systemd/system/tillidd.service \
         /lib/systemd/system/tillidd.socket /usr/lib/sysusers.d/tillid.conf \
         /usr/lib/tmpfiles.d/tillid.conf /etc/tillid/tillidd.toml \
         /usr/share/doc/tillid/README.md /usr/share/doc/tillid/README.firmware.md \
         /usr/share/doc/tillid/README.systemd.md /usr/share/doc/tillid/README.capture.md \
         /usr/share/doc/tillid/CONFIG.md /usr/share/doc/tillid/AUTHZ.md \
         /usr/share/doc/tillid/CONTROL-PROTOCOL.md /usr/share/doc/tillid/FORMAT.md \
         /usr/share/doc/tillid/LOG-FORMAT.md /usr/share/doc/tillid/EXPORT-FORMAT.md; do
  [ -f "$root$f" ] || fail "the package has no $f"
done
# The unit in the package is the one in the tree (no stale copy in the build directory).
cmp -s "$root/lib/systemd/system/tillidd.service" "$src/firmware/systemd/tillidd.service" \
  || fail "the packaged tillidd.service differs from firmware/systemd/tillidd.service"
# Installed, not enabled: there is no vault until an administrator makes one.
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/tillidd.service" ] || fail "tillidd.service was enabled"

# 6. The appliance's first start (README.systemd.md), without systemd: root makes the vault and
#    is its first admin, the daemon runs as tillid with the packaged configuration, and root
#    reaches it through the 0666 socket in /run/tillid. This is the user, groups, umask, layout
#    and config the unit gives the daemon; the sandbox itself needs systemd as PID 1 and is not
#    exercised.
printf 'package test passphrase, several words long\n' >"$root/root/passphrase"
chmod 600 "$root/root/passphrase"
in_root tillid --vault /var/lib/tillid/vault --passphrase-file /root/passphrase init --kdf interactive \
  >"$work/init.log" 2>&1 || { cat "$work/init.log"; fail "tillid init /var/lib/tillid/vault"; }
in_root chown -R tillid:tillid /var/lib/tillid/vault
in_root install -d -m 0755 -o tillid -g tillid /run/tillid   # RuntimeDirectory=tillid, RuntimeDirectoryMode=0755
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  setpriv --reuid=tillid --regid=tillid --groups=audio --inh-caps=-all \
  /bin/sh -c 'umask 0077 && exec "$@"' sh \
  tillidd --vault /var/lib/tillid/vault --config /etc/tillid/tillidd.toml >"$work/tillidd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$root/run/tillid/control.sock" ] && break; kill -0 $daemon 2>/dev/null || break; sleep 0.1; done
[ -S "$root/run/tillid/control.sock" ] || { cat "$work/tillidd.log"; fail "tillidd (as tillid, packaged config) made no /run/tillid/control.sock"; }
sock=$(in_root stat -c '%a %U' /run/tillid/control.sock)
[ "$sock" = "666 tillid" ] || fail "control socket is '$sock', want '666 tillid' (control.socket_mode)"
tillid_as_root() { in_root env TILLID_SOCKET=/run/tillid/control.sock tillid --json "$@"; }
tillid_as_root status >"$work/status" 2>&1 || { cat "$work/status" "$work/tillidd.log"; fail "tillid status through /run/tillid/control.sock"; }
grep -q '"locked": *true' "$work/status" || { cat "$work/status"; fail "the daemon did not start locked"; }
grep -q '"role": *"admin"' "$work/status" || { cat "$work/status"; fail "root, who ran init, is not the admin"; }
# Any local user reaches the daemon (0755 directory, 0666 socket) and the daemon, not the file
# mode, refuses one it has not enrolled: exit 3 (refused), not 9 (cannot reach the daemon).
rc=0; in_root setpriv --reuid=nobody --regid=nogroup --clear-groups env TILLID_SOCKET=/run/tillid/control.sock \
  tillid status >"$work/nobody" 2>&1 || rc=$?
[ $rc = 3 ] || { cat "$work/nobody"; fail "tillid status as an unenrolled user exited $rc, want 3 (refused by the daemon)"; }
tillid_as_root --passphrase-file /root/passphrase unlock >"$work/unlock" 2>&1 || { cat "$work/unlock"; fail "tillid unlock"; }
tillid_as_root status >"$work/status" 2>&1 && grep -q '"locked": *false' "$work/status" || { cat "$work/status"; fail "status after unlock"; }
kill -TERM $daemon
rc=0; wait $daemon || rc=$?
daemon=
[ $rc = 0 ] || { cat "$work/tillidd.log"; fail "tillidd exited $rc on SIGTERM"; }
say "tillidd ran as tillid with /etc/tillid/tillidd.toml: socket 0666, root (admin) status locked, nobody refused, unlock, SIGTERM exit 0"

# 7. Removing (even purging) the package never touches the vault directory.
in_root apt-get purge -y -q tillid >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get purge tillid"; }
[ -f "$root/var/lib/tillid/vault/vault.db" ] || fail "purging the package removed /var/lib/tillid"
[ ! -e "$root/usr/bin/tillidd" ] || fail "purge left /usr/bin/tillidd"
say "purged: programs gone, the vault in /var/lib/tillid kept"

say "passed in $(( $(date +%s) - start )) s"
