#!/usr/bin/env bash
# Memory benchmark: the peak RSS of reading the live files (see tests/bench/README.md).
#
#   tests/bench/mem.sh BUILD_DIR [NDOMAINS NMAILBOXES]
#
# gen_live writes a tree (default 34,000 domains / 340,000 mailboxes: a dovecot.passwd of
# about 62 MiB, just below the 64 MiB a live file may have). /usr/bin/time -v then gives the
# peak RSS ("Maximum resident set size") of:
#   - bench_codec on exim-passwd and on dovecot-passwd alone: reading and parsing one file;
#   - bench_live on the tree: every file read into the live model;
#   - mailrecon import on the tree: the live model, its YAML, and the YAML loaded back.
# Each figure is also given as a multiple of the bytes read. A report, not a test: exits 0
# whatever the figures, non-zero only when a command fails.
set -euo pipefail

if [[ $# -ne 1 && $# -ne 3 ]]; then
	echo "usage: $0 BUILD_DIR [NDOMAINS NMAILBOXES]" >&2
	exit 64
fi
build=$1
ndom=${2:-34000}
nmb=${3:-340000}
gen=$build/tests/bench/gen_live
codec=$build/tests/bench/bench_codec
live=$build/tests/bench/bench_live
mailrecon=$build/mailrecon
for exe in "$gen" "$codec" "$live" "$mailrecon"; do
	if [[ ! -x $exe ]]; then
		echo "$0: $exe not found; build it: cmake --build $build --target gen_live bench_codec bench_live mailrecon" >&2
		exit 1
	fi
done
if [[ ! -x /usr/bin/time ]]; then
	echo "$0: /usr/bin/time (GNU time) is needed for the peak RSS" >&2
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-mem.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
"$gen" "$root" "$ndom" "$nmb" 2>/dev/null

# peak NAME INPUT_BYTES WANT_EXIT CMD...: one row of the table
peak() {
	local name=$1 bytes=$2 want=$3 rc=0
	shift 3
	/usr/bin/time -v "$@" >/dev/null 2>"$tmp/time" || rc=$?
	if [[ $rc -ne $want ]]; then
		echo "$0: $name exited $rc (expected $want):" >&2
		grep -v '^\s' "$tmp/time" | head -n 20 >&2
		exit 1
	fi
	local kib
	kib=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time")
	awk -v n="$name" -v b="$bytes" -v k="$kib" \
		'BEGIN { printf "%-34s %10.1f %12.1f %8.2f\n", n, b / 1048576, k / 1024, (b > 0) ? k * 1024 / b : 0 }'
}

size() { stat -c %s "$1"; }
passwd=$root/etc/exim4/passwd
dovecot=$root/etc/dovecot/dovecot.passwd
tree=$(du -sb "$root" | awk '{ print $1 }')
echo "peak RSS of reading the live files: $ndom domains / $nmb mailboxes ($(nproc) CPUs, $(uname -sr))"
printf '%-34s %10s %12s %8s\n' "" "input MiB" "maxrss MiB" "x input"
peak "parse exim-passwd (bench_codec)" "$(size "$passwd")" 0 "$codec" exim-passwd "$passwd"
peak "parse dovecot-passwd (bench_codec)" "$(size "$dovecot")" 0 "$codec" dovecot-passwd "$dovecot"
peak "live model (bench_live)" "$tree" 0 "$live" "$root"
peak "mailrecon import" "$tree" 0 "$mailrecon" -q --root "$root" import
