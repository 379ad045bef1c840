#!/usr/bin/env bash
# Load + validate benchmark of mailrecon on synthetic desired states (see tests/bench/README.md).
#
#   tests/bench/run.sh BUILD_DIR
#
# Sizes: 1,000 domains / 10,000 mailboxes, 10,000 / 100,000 (the target) and
# 100,000 / 1,000,000 (the 10x scale check; skipped when BENCH_QUICK=1).
# Each is timed with `benchrun -n RUNS` (RUNS: BENCH_RUNS, default 7) around
# `mailrecon validate -q -f DIR`. Prints a table, PASS/FAIL per target and the
# 10x time ratio; exits 0 whatever the figures, non-zero only when a command fails.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 64
fi
build=$1
mailrecon=$build/mailrecon
gen=$build/tests/bench/gen_desired
benchrun=$build/tests/bench/benchrun
for exe in "$mailrecon" "$gen" "$benchrun"; do
	if [[ ! -x $exe ]]; then
		echo "$0: $exe not found; build it: cmake --build $build --target mailrecon gen_desired benchrun" >&2
		exit 1
	fi
done
runs=${BENCH_RUNS:-7}

# targets for 10,000 domains / 100,000 mailboxes
target_s=0.5
target_mib=200

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

sizes=("1000 10000" "10000 100000")
if [[ ${BENCH_QUICK:-0} != 1 ]]; then
	sizes+=("100000 1000000")
fi

now() { printf '%s\n' "${EPOCHREALTIME/,/.}"; }
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

echo "mailrecon validate -q -f DIR: median of $runs runs after 1 warm-up ($(nproc) CPUs, $(uname -sr))"
printf '%-9s %-10s %8s %7s %10s %10s %12s\n' domains mailboxes "YAML MiB" "gen s" "median s" "min s" "maxrss MiB"

declare -A median rss
for size in "${sizes[@]}"; do
	read -r ndom nmb <<<"$size"
	dir=$tmp/d$ndom
	t0=$(now)
	"$gen" "$dir" "$ndom" "$nmb" 2>"$tmp/gen.log" || { cat "$tmp/gen.log" >&2; exit 1; }
	t1=$(now)
	gen_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	mib=$(du -sk "$dir" | awk '{ printf "%.1f", $1 / 1024 }')

	# one plain run first, so that a data or loader error is shown instead of timed
	if ! "$mailrecon" validate -f "$dir" >"$tmp/validate.out" 2>&1; then
		echo "$0: mailrecon validate failed on $ndom domains / $nmb mailboxes:" >&2
		head -n 20 "$tmp/validate.out" >&2
		exit 1
	fi

	out=$("$benchrun" -n "$runs" -- "$mailrecon" validate -q -f "$dir")
	median[$ndom]=$(get median_s "$out")
	rss[$ndom]=$(get maxrss_mib "$out")
	printf '%-9s %-10s %8s %7s %10s %10s %12s\n' "$ndom" "$nmb" "$mib" "$gen_s" "${median[$ndom]}" \
		"$(get min_s "$out")" "${rss[$ndom]}"
	rm -rf "$dir"
done

echo
verdict() { # verdict VALUE LIMIT: PASS when VALUE <= LIMIT
	awk -v v="$1" -v l="$2" 'BEGIN { print (v + 0 <= l + 0) ? "PASS" : "FAIL" }'
}
echo "target 10,000 domains / 100,000 mailboxes:"
echo "  time   ${median[10000]} s   <= $target_s s     $(verdict "${median[10000]}" "$target_s")"
echo "  maxrss ${rss[10000]} MiB <= $target_mib MiB $(verdict "${rss[10000]}" "$target_mib")"
if [[ -n ${median[100000]:-} ]]; then
	ratio=$(awk -v a="${median[100000]}" -v b="${median[10000]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	rratio=$(awk -v a="${rss[100000]}" -v b="${rss[10000]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	echo "scale 10x (100,000 vs 10,000 domains): time x$ratio, maxrss x$rratio (linear: x10)"
else
	echo "scale 10x: skipped (BENCH_QUICK=1)"
fi
