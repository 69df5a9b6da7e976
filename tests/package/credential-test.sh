#!/bin/bash
# The unattended-start credential (firmware/systemd/README.md, "Unattended start"), as far as a
# machine without systemd as PID 1 and without a TPM allows: the passphrase encrypted with
# `systemd-creds --with-key=host` and `--with-key=host+tpm2` (against a software TPM, swtpm)
# decrypts on the same host key and TPM, and is refused with another host key, another TPM, no
# TPM, another credential name, or one flipped byte. LoadCredentialEncrypted= itself needs
# systemd as PID 1 and is not exercised here.
#
#   tests/package/credential-test.sh
#
# Never touches the machine's own host key: SYSTEMD_CREDENTIAL_SECRET points systemd-creds at a
# key in a temporary directory. The TPM part is skipped, and says so, without swtpm and
# Debian's libtss2 libraries (tools/dev/install-deps installs them). A few seconds.
set -euo pipefail
say() { echo "credential-test: $*"; }
fail() { echo "credential-test: FAILED: $*" >&2; exit 1; }
command -v systemd-creds >/dev/null || fail "systemd-creds is not installed (package systemd)"
dir=$(mktemp -d /tmp/tillid-credential-test.XXXXXX)
swtpm_pid=
cleanup() {
  [ -c /dev/null ] || echo "credential-test: /dev/null is no longer a device: recreate it (mknod -m 666 /dev/null c 1 3)" >&2
  [ -z "$swtpm_pid" ] || kill "$swtpm_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
umask 077
export SYSTEMD_CREDENTIAL_SECRET=$dir/host.secret
passphrase='correct horse battery staple, 2026'
name=tillid-passphrase

# Decrypts $1 with the remaining arguments; must give back the passphrase.
expect_ok() {
  local cred=$1; shift
  local out
  out=$(systemd-creds decrypt "$@" --name="$name" "$cred" - 2>"$dir/err") || { cat "$dir/err" >&2; fail "$cred did not decrypt"; }
  [ "$out" = "$passphrase" ] || fail "$cred decrypted to something else"
}
# Decrypting $2 with the remaining arguments must fail; $1 says what is different.
expect_refused() {
  local what=$1 cred=$2; shift 2
  if systemd-creds decrypt "$@" "$cred" - >/dev/null 2>"$dir/err"; then fail "$what: decrypted anyway"; fi
  say "  refused with $what: $(grep -v 'not located on encrypted media\|PCR policy' "$dir/err" | tail -n 1)"
}
flip() {  # a copy of $1 with one byte of the ciphertext flipped
  base64 -d "$1" >"$dir/raw"
  local n; n=$(stat -c %s "$dir/raw")
  local byte; byte=$(( $(od -An -tu1 -j $((n - 5)) -N1 "$dir/raw") ^ 1 ))
  # shellcheck disable=SC2059
  printf "\\$(printf %03o "$byte")" | dd of="$dir/raw" bs=1 seek=$((n - 5)) conv=notrunc status=none
  base64 -w0 "$dir/raw" >"$2"
  ! cmp -s <(base64 -d "$1") "$dir/raw" || fail "flip changed nothing"
}

# 1. Host key only.
printf '%s' "$passphrase" | systemd-creds encrypt --with-key=host --name="$name" - host.cred 2>/dev/null
[ "$(stat -c %a host.cred)" = 600 ] || fail "the credential file is not 0600 under umask 077"
expect_ok host.cred
say "--with-key=host: round trip OK"
expect_refused "another credential name" host.cred --name=other
flip host.cred host-flipped.cred
expect_refused "a flipped byte" host-flipped.cred --name="$name"
# Makes the other host key. The output is a file here: systemd-creds replaces its output by
# rename, so naming /dev/null would replace the device node with a regular file.
SYSTEMD_CREDENTIAL_SECRET=$dir/other.secret systemd-creds encrypt --with-key=host --name=x - other.cred </dev/null 2>/dev/null
SYSTEMD_CREDENTIAL_SECRET=$dir/other.secret expect_refused "another host key" host.cred --name="$name"

# 2. Host key and TPM, against swtpm through the TCTI systemd-creds loads itself.
if ! command -v swtpm >/dev/null || ! ls /usr/lib/*/libtss2-tcti-swtpm.so.0 >/dev/null 2>&1; then
  say "SKIPPED --with-key=host+tpm2: no swtpm or libtss2-tcti-swtpm0 (tools/dev/install-deps)"
  exit 0
fi
port=$(( 20000 + RANDOM % 20000 ))
start_tpm() {  # $1: state directory (a different one is a different TPM)
  [ -z "$swtpm_pid" ] || { kill "$swtpm_pid"; while kill -0 "$swtpm_pid" 2>/dev/null; do sleep 0.05; done; }
  mkdir -p "$dir/$1"
  swtpm socket --tpm2 --tpmstate dir="$dir/$1" --server type=tcp,port=$port,bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
    --pid file="$dir/swtpm.pid" --daemon
  swtpm_pid=$(cat "$dir/swtpm.pid")
}
tpm=swtpm:host=127.0.0.1,port=$port
start_tpm tpm-a
printf '%s' "$passphrase" | systemd-creds encrypt --with-key=host+tpm2 --tpm2-device="$tpm" --name="$name" - both.cred 2>/dev/null
expect_ok both.cred --tpm2-device="$tpm"
say "--with-key=host+tpm2 (swtpm): round trip OK"
SYSTEMD_CREDENTIAL_SECRET=$dir/other.secret expect_refused "another host key, same TPM" both.cred --tpm2-device="$tpm" --name="$name"
start_tpm tpm-a  # a fresh swtpm process: a failed unseal leaves sessions in a TPM with no resource manager
flip both.cred both-flipped.cred
expect_refused "a flipped byte" both-flipped.cred --tpm2-device="$tpm" --name="$name"
start_tpm tpm-b
expect_refused "another TPM, same host key" both.cred --tpm2-device="$tpm" --name="$name"
expect_refused "no TPM" both.cred --tpm2-device=swtpm:host=127.0.0.1,port=$((port + 2)) --name="$name"
start_tpm tpm-a
expect_ok both.cred --tpm2-device="$tpm"
say "passed"
