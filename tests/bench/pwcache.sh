#!/usr/bin/env bash
# Clear-password benchmark (issue 4): a plan over thousands of clear passwords must stay fast
# on repeated runs. 2,000 mailboxes take their password from a file ({file: ...}); apply
# hashes them with SHA512-CRYPT and records each verification in STATE_DIR/cache. A plan
# then verifies every password against its live hash: timed with the cache (warm) and with
# the cache directory moved away (every hash computed again).
#
#   tests/bench/pwcache.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR}
gen=$build/tests/bench/gen_live
benchrun=$build/tests/bench/benchrun
mailrecon=$build/mailrecon
runs=${BENCH_RUNS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-pw.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
"$gen" "$root" 200 2000 2>/dev/null
awk -F'[ =]' '$1 == "user" { n = substr($2, 2); id = ($2 ~ /^r/) ? 3000 + n : 1000 + n;
	printf "%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n", $2, id, id, $2 }' \
	"$root/etc/mailrecon/registry" >"$root/etc/passwd"
mkdir -p "$tmp/desired"
printf 'correct horse battery\n' >"$tmp/desired/pw.txt"
"$mailrecon" -q --root "$root" import |
	sed -E 's|password: \{hash: "[^"]*"\}|password: {file: pw.txt}|' >"$tmp/desired/state.yaml"
n=$(grep -c 'password: {file: pw.txt}' "$tmp/desired/state.yaml")
t0=$EPOCHREALTIME
"$mailrecon" -q --root "$root" apply -f "$tmp/desired" >/dev/null
t1=$EPOCHREALTIME
echo "$n clear passwords; apply hashed them (SHA512-CRYPT) in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"
"$mailrecon" --root "$root" plan -f "$tmp/desired" | tail -n 1
warm=$("$benchrun" -n "$runs" -- "$mailrecon" -q --root "$root" plan -f "$tmp/desired")
mv "$root/var/lib/mailrecon/cache" "$tmp/cache.away"
cold=$("$benchrun" -n 3 -- "$mailrecon" -q --root "$root" plan -f "$tmp/desired")
mv "$tmp/cache.away" "$root/var/lib/mailrecon/cache"
w=$(echo "$warm" | sed -E 's/.*median_s=([0-9.]+).*/\1/')
c=$(echo "$cold" | sed -E 's/.*median_s=([0-9.]+).*/\1/')
echo "plan with the verification cache: median $w s; without it: median $c s; x$(awk -v a="$c" -v b="$w" 'BEGIN { printf "%.1f", a / b }') faster"
