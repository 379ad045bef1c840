#!/usr/bin/env bash
# End-to-end plan benchmark: load the desired YAML, read the live files, diff, print (see
# tests/bench/README.md).
#
#   tests/bench/plan.sh BUILD_DIR
#
# For 10,000 domains / 100,000 mailboxes (the target: at most 1 s and 300 MB peak RSS) and
# 30,000 / 300,000 (3x input: at most 3.6x the time, the 10x-input-in-12x rule scaled to the
# largest tree whose dovecot.passwd stays below the 64 MiB limit of a live file; skipped when
# BENCH_QUICK=1): gen_live
# writes a live tree and its /etc/passwd, `mailrecon import` turns it into the desired state,
# then the Dovecot quota of 1% of the mailboxes is changed in the live tree, so the plan has
# 1% of the mailboxes to change. Each size is timed with `benchrun -n RUNS` (BENCH_RUNS,
# default 5) around `mailrecon plan -f DESIRED`. Exits 0 whatever the figures, non-zero only
# when a command fails or the plan does not have the expected number of changes.
set -euo pipefail

if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 64
fi
build=$1
gen=$build/tests/bench/gen_live
benchrun=$build/tests/bench/benchrun
mailrecon=$build/mailrecon
for exe in "$gen" "$benchrun" "$mailrecon"; do
	if [[ ! -x $exe ]]; then
		echo "$0: $exe not found; build it: cmake --build $build --target gen_live benchrun mailrecon" >&2
		exit 1
	fi
done
runs=${BENCH_RUNS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-plan.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sizes=("10000 100000")
if [[ ${BENCH_QUICK:-0} != 1 ]]; then
	sizes+=("30000 300000")
fi
get() {
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

echo "mailrecon plan -f DESIRED (1% of mailboxes changed): median of $runs runs after 1 warm-up ($(nproc) CPUs, $(uname -sr))"
printf '%-9s %-10s %10s %10s %12s %8s\n' domains mailboxes "median s" "min s" "maxrss MiB" changes
declare -A median rss
for size in "${sizes[@]}"; do
	read -r ndom nmb <<<"$size"
	root=$tmp/r$ndom
	"$gen" "$root" "$ndom" "$nmb" 2>/dev/null
	# the owners' system accounts: gen_live gives user uN uid 1000+N and reseller rN 3000+N
	awk -F'[ =]' '$1 == "user" { n = substr($2, 2); id = ($2 ~ /^r/) ? 3000 + n : 1000 + n;
		printf "%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n", $2, id, id, $2 }' \
		"$root/etc/mailrecon/registry" >"$root/etc/passwd"
	# import prints one document; a file may hold at most 64 MiB, so the domains are split
	# into files of 5,000 domains each (every file a valid document of its own)
	rm -rf "$tmp/desired"
	mkdir -p "$tmp/desired"
	"$mailrecon" -q --root "$root" import | awk -v dir="$tmp/desired" '
		/^domains:$/ { indom = 1; next }
		!indom { print > (dir "/00-users.yaml"); next }
		/^  [^ #]/ { if (n++ % 5000 == 0) { f = sprintf("%s/d%05d.yaml", dir, n); print "version: 1\ndomains:" > f } }
		{ print > f }'
	test -s "$tmp/desired/00-users.yaml"
	# 1% of the mailboxes: every 100th Dovecot line with a quota gets another one
	awk 'NR % 100 == 0 && /bytes=/ { sub(/bytes=[0-9]+[MG]/, "bytes=3G") } { print }' \
		"$root/etc/dovecot/dovecot.passwd" >"$tmp/dv" && cat "$tmp/dv" >"$root/etc/dovecot/dovecot.passwd"

	sync
	summary=$("$mailrecon" --root "$root" plan -f "$tmp/desired" | tail -n 1)
	out=$("$benchrun" -n "$runs" -- "$mailrecon" --root "$root" plan -f "$tmp/desired")
	median[$ndom]=$(get median_s "$out")
	rss[$ndom]=$(get maxrss_mib "$out")
	printf '%-9s %-10s %10s %10s %12s %8s\n' "$ndom" "$nmb" "${median[$ndom]}" "$(get min_s "$out")" "${rss[$ndom]}" \
		"$(echo "$summary" | sed -E 's/.* ([0-9]+) to change.*/\1/')"
	rm -rf "$root"
done
echo
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v + 0 <= l + 0) ? "PASS" : "FAIL" }'; }
echo "target 10,000 domains / 100,000 mailboxes:"
echo "  time   ${median[10000]} s   <= 1 s       $(verdict "${median[10000]}" 1)"
mb=$(awk -v m="${rss[10000]}" 'BEGIN { printf "%.1f", m * 1.048576 }')
echo "  maxrss ${rss[10000]} MiB ($mb MB) <= 300 MB $(verdict "$mb" 300)"
if [[ -n ${median[30000]:-} ]]; then
	ratio=$(awk -v a="${median[30000]}" -v b="${median[10000]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
	echo "scale 3x: time x$ratio <= x3.6 $(verdict "$ratio" 3.6)"
else
	echo "scale 3x: skipped (BENCH_QUICK=1)"
fi
