#!/bin/bash
# A recording through the daemon against opusenc (issue 11: "a recording through the daemon
# against `opusenc` as in issue 4: CPU ratio still <= 1.05"). Figures only, never pass/fail.
#
#   sudo tests/bench/daemon-record-vs-opusenc.sh SPEECH.wav [runs=5] [dir=/tmp/tillid-bench-daemon-record]
#       build directory: $TILLID_BUILD (default: build/ beside tests/)
#
# A shell script rather than a program: every step is a `tillid` command as a user would type
# it (init, unlock, user add, case add, record start as the staff uid through setpriv), and the
# measurement is /usr/bin/time on each process plus the daemon's /proc/PID/stat.
#
# Set-up (not measured): a vault in DIR (on the root disk, as bench_record's temp vault; the
# daemon fdatasyncs each ~1 s chunk) made by `tillid init --kdf interactive` (the invoking uid,
# root, is its admin), the real tillidd on it with the control socket 0666 in a 0755 directory
# (as the appliance's configuration), `tillid unlock`, `tillid user add staff1 --role staff
# --uid 61001` (admins may not record), and, as uid 61001, one case.
#
# Runs alternate ours, opusenc, ours, ... Ours: `tillid record start --source wav:SPEECH.wav`
# run as uid 61001 (setpriv) under /usr/bin/time: the client parses the WAV and streams PCM,
# the daemon encodes (Opus, 32 kb/s, complexity 10, VOIP), encrypts each ~1 s page,
# fdatasyncs, and the command returns when the item is sealed. CPU = the client's user+sys
# (from time) + the daemon's utime+stime delta over the command (/proc/PID/stat, in clock
# ticks: 10 ms resolution, fine against ~10 s of CPU). The unlock is not counted (it ran once
# at set-up), nor the daemon's idle time between runs. opusenc: `opusenc --quiet --bitrate 32
# --comp 10 --speech SPEECH.wav OUT.opus` whole under /usr/bin/time, as bench_record does.
# Medians of each, and the ratio of the medians.
#
# Make an 11-minute speech file as tests/bench/bench_record.cpp's header says (espeak-ng -v da,
# sox to 48 kHz, sox ... repeat N until soxi -D >= 660).
set -euo pipefail

wav=${1:?usage: $0 SPEECH.wav [runs=5] [dir]}
runs=${2:-5}
dir=${3:-/tmp/tillid-bench-daemon-record}
here=$(cd "$(dirname "$0")" && pwd)
build=${TILLID_BUILD:-$here/../../build}
tillid=$build/tools/tillid
tillidd=$build/firmware/tillidd
staff_uid=61001
[ "$(id -u)" = 0 ] || { echo "run as root (the client runs as uid $staff_uid through setpriv)" >&2; exit 1; }
for b in "$tillid" "$tillidd" /usr/bin/time opusenc setpriv; do
  command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 1; }
done

rm -rf "$dir"
mkdir -p "$dir/run"
chmod 0755 "$dir" "$dir/run"
cp "$wav" "$dir/speech.wav"
chmod 0644 "$dir/speech.wav"
printf 'bench daemon record passphrase\n' >"$dir/pass"
chmod 0600 "$dir/pass"
sock=$dir/run/control.sock
cat >"$dir/tillidd.toml" <<EOF
[control]
socket = "$sock"
socket_mode = 0o666
EOF
printf '{"child_name": "Test Barn", "cpr": "010101-1234", "notes": ""}\n' >"$dir/case.json"
printf '{"interviewer": "Bench Interviewer", "title": "Bench recording"}\n' >"$dir/rec.json"
chmod 0644 "$dir/case.json" "$dir/rec.json"
audio_s=$(soxi -D "$dir/speech.wav")

"$tillid" init --vault "$dir/vault" --kdf interactive --passphrase-file "$dir/pass" >/dev/null
"$tillidd" --vault "$dir/vault" --config "$dir/tillidd.toml" 2>"$dir/tillidd.err" >/dev/null &
dpid=$!
trap 'kill $dpid 2>/dev/null || true; wait $dpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
T() { "$tillid" --socket "$sock" "$@"; }
S() { setpriv --reuid=$staff_uid --regid=$staff_uid --clear-groups "$tillid" --socket "$sock" "$@"; }
T unlock --passphrase-file "$dir/pass" >/dev/null
T user add staff1 --role staff --uid $staff_uid >/dev/null
S case add --number BENCH-1 --municipality 0101 --fields "$dir/case.json" >/dev/null

tck=$(getconf CLK_TCK)
daemon_ticks() { awk '{print $14, $15}' "/proc/$dpid/stat"; }  # utime stime

ours=() opus=() ours_wall=() opus_wall=() dshare=()
echo "audio ${audio_s} s; $runs runs each, alternating; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
  read -r bu bs < <(daemon_ticks)
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time-ours" \
    setpriv --reuid=$staff_uid --regid=$staff_uid --clear-groups \
    "$tillid" --socket "$sock" record start --case BENCH-1 --fields "$dir/rec.json" --source "wav:$dir/speech.wav" \
    >/dev/null 2>"$dir/client.err"
  read -r au as < <(daemon_ticks)
  read -r cw cu cs cm <"$dir/time-ours"
  d=$(awk -v a="$((au + as))" -v b="$((bu + bs))" -v t="$tck" 'BEGIN{printf "%.2f", (a-b)/t}')
  dsys=$(awk -v a="$as" -v b="$bs" -v t="$tck" 'BEGIN{printf "%.2f", (a-b)/t}')
  c=$(awk -v d="$d" -v u="$cu" -v s="$cs" 'BEGIN{printf "%.2f", d+u+s}')
  ours+=("$c") ours_wall+=("$cw") dshare+=("$d")
  rm -f "$dir/opusenc.opus"
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time-opus" \
    opusenc --quiet --bitrate 32 --comp 10 --speech "$dir/speech.wav" "$dir/opusenc.opus"
  read -r ow ou os om <"$dir/time-opus"
  o=$(awk -v u="$ou" -v s="$os" 'BEGIN{printf "%.2f", u+s}')
  opus+=("$o") opus_wall+=("$ow")
  echo "run $i: daemon path ${c} s cpu (daemon ${d} s of which sys ${dsys}, client ${cu}+${cs} s; client maxrss ${cm} KiB), ${cw} s wall | opusenc ${o} s cpu (${ou}+${os}), ${ow} s wall, maxrss ${om} KiB"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{print lo ".." hi}'; }
mo=$(median "${ours[@]}") mp=$(median "${opus[@]}")
echo "daemon path  cpu median ${mo} s ($(range "${ours[@]}")), of which daemon median $(median "${dshare[@]}") s; wall median $(median "${ours_wall[@]}") s"
echo "opusenc      cpu median ${mp} s ($(range "${opus[@]}")); wall median $(median "${opus_wall[@]}") s"
awk -v a="$mo" -v b="$mp" 'BEGIN{printf "CPU ratio daemon path / opusenc: %.3f (target <= 1.05)\n", a/b}'
echo "(capture encodes with OPUS_APPLICATION_VOIP, opusenc --speech with AUDIO + speech tuning; both 32 kb/s, complexity 10)"
