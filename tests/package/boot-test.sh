#!/bin/bash
# Boots a clean Debian 12 root with systemd as PID 1 (systemd-nspawn) with the tillid .deb
# installed, a vault made as README.systemd.md says, and the unattended-start credential
# (LoadCredentialEncrypted=, host key) in place, then checks from inside that tillidd.service
# really runs as the unit says: READY through sd_notify, user tillid with the audio group, no
# capabilities, no_new_privs, a seccomp filter, the 0666 socket in the 0755 runtime directory,
# the decrypted credential in $CREDENTIALS_DIRECTORY, the online `systemd-analyze security`
# score ≤ 1.0, the unattended unlock (unlock.credential), unlock/status, a staff user's tone recording, verify and lock through the socket
# under the full sandbox with no refused system call, and `systemctl stop` ending in exit 0.
#
#   tests/package/boot-test.sh [BUILD_DIR]      (default build; tillidd, tillid built)
#
# Needs root, systemd-nspawn (package systemd-container) and the Debian mirror; about a minute
# after the first package test has cached the Debian root. Not a CTest test; .ci/run runs it.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "boot-test: needs root (chroot, systemd-nspawn)" >&2; exit 2; }
command -v systemd-nspawn >/dev/null || { echo "boot-test: needs systemd-nspawn (systemd-container)" >&2; exit 2; }
cd "$(dirname "$0")/../.."
src=$(pwd)
build=$(cd "${1:-${TILLID_BUILD_DIR:-build}}" && pwd)
work=$(mktemp -d /tmp/tillid-boot-test.XXXXXX)
root=$work/root
start=$(date +%s)
say() { echo "boot-test: $*"; }
fail() { echo "boot-test: FAILED: $*" >&2; exit 1; }
. "$src/tests/package/debian-root.sh"
cleanup() { debian_root_umount "$root" && rm -rf "$work"; }
trap cleanup EXIT
passphrase='boot test passphrase, several words long'

rm -f "$build"/tillid_*.deb
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { tail -n 20 "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$build"/tillid_*.deb)

# The appliance as an administrator sets it up (README.systemd.md, "First start" and
# "Unattended start"), with systemd installed this time so that postinst uses sysusers/tmpfiles.
debian_root "$root" || fail "no Debian 12 root"
in_root() { chroot_run "$root" "$@"; }
cp "$deb" "$root/tmp/"
{ in_root apt-get update -qq && in_root apt-get install -y -q --no-install-recommends systemd systemd-sysv \
    "/tmp/$(basename "$deb")"; } >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; fail "apt-get install"; }
umask 077
printf '%s\n' "$passphrase" >"$root/root/passphrase"
# Readable by the staff uid (the client reads --fields files as the user who runs it).
mkdir -p "$root/opt/boot-test"
printf '%s\n' '{"child_name": "Boot Barn", "cpr": "010120-0000", "notes": "boot test"}' >"$root/opt/boot-test/case.json"
printf '%s\n' '{"interviewer": "Boot Interviewer", "title": "Boot recording"}' >"$root/opt/boot-test/recording.json"
chmod 755 "$root/opt/boot-test"; chmod 644 "$root/opt/boot-test/"*.json
in_root tillid --vault /var/lib/tillid/vault --passphrase-file /root/passphrase init --kdf interactive \
  >"$work/init.log" 2>&1 || { cat "$work/init.log"; fail "tillid init"; }
in_root chown -R tillid:tillid /var/lib/tillid/vault
in_root systemd-creds setup >/dev/null 2>&1
printf '%s' "$passphrase" | in_root systemd-creds encrypt --with-key=host --name=tillid-passphrase - \
  /etc/credstore.encrypted/tillid-passphrase 2>/dev/null || fail "systemd-creds encrypt"
mkdir -p "$root/etc/systemd/system/tillidd.service.d"
printf '[Service]\nLoadCredentialEncrypted=tillid-passphrase\n' >"$root/etc/systemd/system/tillidd.service.d/unlock.conf"
printf '\n[unlock]\ncredential = "tillid-passphrase"\n' >>"$root/etc/tillid/tillidd.toml"
umask 022
debian_root_umount "$root" || fail "cannot unmount the root before booting it"

# The probe runs inside the booted system after tillidd.service, writes "ok …" / "FAIL …"
# lines, and powers the container off.
cat >"$root/usr/local/sbin/tillid-probe" <<'PROBE'
#!/bin/bash
exec >/probe.out 2>&1
ok() { echo "ok $*"; }
bad() { echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
pass=$(cat /root/passphrase)
show() { systemctl show tillidd.service -p "$1" --value; }
check "tillidd.service active/running" [ "$(show ActiveState)/$(show SubState)" = active/running ]
check "READY=1 and STATUS= through sd_notify" [ -n "$(show StatusText)" ]
check "no restarts" [ "$(show NRestarts)" = 0 ]
check "watchdog 30 s" [ "$(show WatchdogUSec)" = 30s ]
pid=$(show MainPID)
uid=$(id -u tillid); gid=$(id -g tillid); audio=$(getent group audio | cut -d: -f3)
st=/proc/$pid/status
check "runs as tillid" grep -Eq "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$" "$st"
check "groups tillid and audio only" [ "$(grep '^Groups:' "$st" | cut -f2 | xargs -n1 | sort -n | xargs)" = "$(printf '%s\n' "$audio" "$gid" | sort -n | xargs)" ]
check "no capabilities" grep -Eq '^CapEff:\s+0000000000000000$' "$st"
check "empty bounding set" grep -Eq '^CapBnd:\s+0000000000000000$' "$st"
check "no_new_privs" grep -Eq '^NoNewPrivs:\s+1$' "$st"
check "seccomp filter" grep -Eq '^Seccomp:\s+2$' "$st"
check "/run/tillid 0755 tillid" [ "$(stat -c '%a %U' /run/tillid)" = "755 tillid" ]
check "control socket 0666 tillid" [ "$(stat -c '%a %U %F' /run/tillid/control.sock)" = "666 tillid socket" ]
check "/var/lib/tillid 0700 tillid" [ "$(stat -c '%a %U' /var/lib/tillid)" = "700 tillid" ]
cred=/run/credentials/tillidd.service/tillid-passphrase
check "credential decrypted for the service" [ "$(cat "$cred" 2>/dev/null)" = "$pass" ]
check "credential readable by tillid only" [ "$(stat -c '%a %U' "$cred")" = "400 tillid" ]
score=$(systemd-analyze security tillidd.service 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
check "online exposure $score <= 1.0" awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 1.0) }'
export TILLID_SOCKET=/run/tillid/control.sock
# unlock.credential: the daemon unlocked itself at start with the credential, no client.
check "status: unlocked by the credential, root is admin" bash -c 'tillid --json status | tr -d " \n" | grep -q "\"locked\":false" && tillid --json status | grep -q "\"admin\""'
check "journal: unlocked by unlock.credential" bash -c 'journalctl -u tillidd.service -o cat | grep -q "unlocked by unlock.credential"'
check "a wrong passphrase is refused while unlocked (exit 3)" bash -c 'printf "wrong\n" >/tmp/wrong; tillid --passphrase-file /tmp/wrong unlock; [ $? = 3 ]'
check "unlock again under the sandbox" tillid --passphrase-file /root/passphrase unlock
check "status: unlocked" bash -c 'tillid --json status | tr -d " \n" | grep -q "\"locked\":false"'
# The recorder under the sandbox (threads, Opus, fsync in the state directory), as a staff
# member with a uid of their own: a tone stands in for the microphone (no /dev/snd here).
as_staff() { setpriv --reuid=61001 --regid=61001 --clear-groups tillid "$@"; }
check "enrol a staff user (uid 61001)" tillid user add staffer --role staff --uid 61001
check "staff: case add" as_staff case add --number BOOT-1 --municipality 0101 --fields /opt/boot-test/case.json
check "staff: record start (tone)" as_staff record start --case BOOT-1 --source tone --fields /opt/boot-test/recording.json
sleep 2
check "staff: record stop seals it" as_staff record stop
check "staff: the recording is listed" bash -c 'setpriv --reuid=61001 --regid=61001 --clear-groups tillid --json ls | grep -q "\"kind\": *\"recording\""'
check "verify under the sandbox" tillid verify
check "lock" tillid lock
check "no refused system call or denied access in the journal" \
  bash -c '! journalctl -u tillidd.service -o cat | grep -Eiq "not permitted|permission denied|read-only file system|seccomp"'
systemctl stop tillidd.service
check "SIGTERM: exit 0" [ "$(show ExecMainStatus)/$(show Result)" = "0/success" ]
echo "== journal"; journalctl -u tillidd.service -o cat --no-pager | tail -n 20
echo "== done"
PROBE
chmod 755 "$root/usr/local/sbin/tillid-probe"
cat >"$root/etc/systemd/system/tillid-probe.service" <<'UNIT'
[Unit]
Description=tests/package/boot-test.sh probe
After=tillidd.service
Wants=tillidd.service
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/tillid-probe
ExecStopPost=/bin/systemctl poweroff --no-block
[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable tillidd.service tillid-probe.service >/dev/null 2>&1 || fail "systemctl enable"

# Boot. Not registered with a host systemd (there may be none); no network.
timeout 300 systemd-nspawn -q -D "$root" -b --register=no --keep-unit --private-network \
  >"$work/boot.log" 2>&1 || true
[ -f "$root/probe.out" ] || { tail -n 30 "$work/boot.log"; fail "the probe did not run in the booted container"; }
grep -E '^(ok|FAIL) ' "$root/probe.out" | sed 's/^/    /'
grep -q '^== done$' "$root/probe.out" || { cat "$root/probe.out"; fail "the probe did not finish"; }
if grep -q '^FAIL ' "$root/probe.out"; then sed -n '/^== journal/,$p' "$root/probe.out"; fail "see FAIL lines"; fi
say "passed in $(( $(date +%s) - start )) s"
