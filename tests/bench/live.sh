#!/usr/bin/env bash
# Live-model benchmark: read every live file of a generated server into the model (see
# tests/bench/README.md).
#
#   tests/bench/live.sh BUILD_DIR
#
# Sizes: 1,000 domains / 10,000 mailboxes, 10,000 / 100,000 (the target: at most 0.3 s) and
# 30,000 / 300,000 (the 3x scale check, the largest whose dovecot.passwd, about 56 MiB, is
# below the 64 MiB a live file may have; skipped when BENCH_QUICK=1). Each tree is made by
# gen_live and timed with `benchrun -n RUNS` (RUNS: BENCH_RUNS, default 7) around
# `bench_live ROOT`, which exits non-zero on any finding, so the figures are for a clean read.
# Exits 0 whatever the figures, non-zero only when a command fails.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 64
fi
build=$1
gen=$build/tests/bench/gen_live
bench=$build/tests/bench/bench_live
benchrun=$build/tests/bench/benchrun
mailrecon=$build/mailrecon
for exe in "$gen" "$bench" "$benchrun" "$mailrecon"; do
	if [[ ! -x $exe ]]; then
		echo "$0: $exe not found; build it: cmake --build $build --target gen_live bench_live benchrun mailrecon" >&2
		exit 1
	fi
done
runs=${BENCH_RUNS:-7}
target_s=0.3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-live.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

sizes=("1000 10000" "10000 100000")
if [[ ${BENCH_QUICK:-0} != 1 ]]; then
	sizes+=("30000 300000")
fi
get() { # get KEY "k=v k=v ...": print the value of KEY
	local kv
	for kv in $2; do
		if [[ ${kv%%=*} == "$1" ]]; then
			printf '%s\n' "${kv#*=}"
			return 0
		fi
	done
	echo "$0: no $1= in benchrun output: $2" >&2
	return 1
}

echo "read the live files into the model (bench_live ROOT): median of $runs runs after 1 warm-up ($(nproc) CPUs, $(uname -sr))"
printf '%-9s %-10s %8s %10s %10s %12s\n' domains mailboxes "live MiB" "median s" "min s" "maxrss MiB"
declare -A median rss
for size in "${sizes[@]}"; do
	read -r ndom nmb <<<"$size"
	root=$tmp/r$ndom
	"$gen" "$root" "$ndom" "$nmb" 2>/dev/null
	sync # let the new files reach the disk before timing: writeback would compete for the CPUs
	mib=$(du -sk "$root" | awk '{ printf "%.1f", $1 / 1024 }')
	if ! "$bench" "$root" >"$tmp/bench.out" 2>&1; then
		echo "$0: bench_live failed on $ndom domains / $nmb mailboxes:" >&2
		head -n 20 "$tmp/bench.out" >&2
		exit 1
	fi
	out=$("$benchrun" -n "$runs" -- "$bench" "$root")
	median[$ndom]=$(get median_s "$out")
	rss[$ndom]=$(get maxrss_mib "$out")
	printf '%-9s %-10s %8s %10s %10s %12s\n' "$ndom" "$nmb" "$mib" "${median[$ndom]}" "$(get min_s "$out")" \
		"${rss[$ndom]}"
	if [[ $ndom == 10000 ]]; then
		imp=$("$benchrun" -n 3 -- "$mailrecon" -q --root "$root" import)
		echo "          (mailrecon import, read + YAML + self-check, same tree: median $(get median_s "$imp") s," \
			"maxrss $(get maxrss_mib "$imp") MiB)"
	fi
	rm -rf "$root"
done
echo
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v + 0 <= l + 0) ? "PASS" : "FAIL" }'; }
echo "target 10,000 domains / 100,000 mailboxes: ${median[10000]} s <= $target_s s $(verdict "${median[10000]}" "$target_s")"
if [[ -n ${median[30000]:-} ]]; then
	ratio=$(awk -v a="${median[30000]}" -v b="${median[10000]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	echo "scale 3x (30,000 vs 10,000 domains): time x$ratio (linear: x3)"
else
	echo "scale 3x: skipped (BENCH_QUICK=1)"
fi
