#!/usr/bin/env bash
# Apply benchmark (issue 5): a no-op apply on 10,000 domains / 100,000 mailboxes must take at
# most 1.5 s and write no file; a one-mailbox change must rewrite only the files that hold
# that mailbox.
#
#   tests/bench/apply.sh BUILD_DIR
#
# gen_live writes the tree (and the script its /etc/passwd), `mailrecon import` makes the
# desired state, and `benchrun -n RUNS` (BENCH_RUNS, default 5) times `mailrecon apply`
# against it. Files written are counted by comparing every file's mtime and inode before and
# after. Exits 0 whatever the figures, non-zero only when a command fails.
set -euo pipefail
if [[ $# -ne 1 ]]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 64
fi
build=$1
gen=$build/tests/bench/gen_live
benchrun=$build/tests/bench/benchrun
mailrecon=$build/mailrecon
runs=${BENCH_RUNS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailrecon-bench-apply.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
"$gen" "$root" 10000 100000 2>/dev/null
awk -F'[ =]' '$1 == "user" { n = substr($2, 2); id = ($2 ~ /^r/) ? 3000 + n : 1000 + n;
	printf "%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n", $2, id, id, $2 }' \
	"$root/etc/mailrecon/registry" >"$root/etc/passwd"
mkdir -p "$tmp/desired"
"$mailrecon" -q --root "$root" import | awk -v dir="$tmp/desired" '
	/^domains:$/ { indom = 1; next }
	!indom { print > (dir "/00-users.yaml"); next }
	/^  [^ #]/ { if (n++ % 5000 == 0) { f = sprintf("%s/d%05d.yaml", dir, n); print "version: 1\ndomains:" > f } }
	{ print > f }'
state() { (cd "$root" && find etc -type f -printf '%p %i %T@\n' | sort); }
sync
state >"$tmp/before"
out=$("$benchrun" -n "$runs" -- "$mailrecon" -q --root "$root" apply -f "$tmp/desired")
state >"$tmp/after"
written=$( (diff "$tmp/before" "$tmp/after" || true) | grep -c '^>' || true)
median=$(echo "$out" | sed -E 's/.*median_s=([0-9.]+).*/\1/')
rss=$(echo "$out" | sed -E 's/.*maxrss_mib=([0-9.]+).*/\1/')
echo "no-op apply, 10,000 domains / 100,000 mailboxes: median $median s (of $runs runs after 1 warm-up), maxrss $rss MiB, files written: $written"
awk -v v="$median" 'BEGIN { print (v + 0 <= 1.5) ? "  time <= 1.5 s PASS" : "  time <= 1.5 s FAIL" }'
[[ $written -eq 0 ]] && echo "  zero files written PASS" || echo "  zero files written FAIL"

# one mailbox: its quota in the desired state
line=$(grep -m 1 -n 'max_size: 2G' "$tmp/desired/d00001.yaml" | cut -d: -f1)
sed -i "${line}s/max_size: 2G/max_size: 3G/" "$tmp/desired/d00001.yaml"
state >"$tmp/before"
t0=$EPOCHREALTIME
commit=$("$mailrecon" -v --root "$root" apply -f "$tmp/desired" | grep '^revision recorded in' || true)
t1=$EPOCHREALTIME
state >"$tmp/after"
changed=$( (diff "$tmp/before" "$tmp/after" || true) | grep '^>' | awk '{ print $2 }' | tr '\n' ' ')
echo "one-mailbox change (a quota): $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') s, files rewritten: $changed"
[[ $changed == "etc/dovecot/dovecot.passwd " ]] && echo "  only the file holding the mailbox PASS" || echo "  only the file holding the mailbox FAIL"
echo "  state repository: $commit"
c=$(echo "$commit" | sed -E 's/.* in ([0-9.]+) s.*/\1/')
awk -v v="$c" 'BEGIN { print (v + 0 <= 1.0) ? "  commit after a one-mailbox change <= 1 s PASS" : "  commit after a one-mailbox change <= 1 s FAIL" }'
