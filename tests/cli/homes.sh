#!/usr/bin/env bash
# Mailbox storage against hostile tenants, one case a script in tests/cli/homes/ (red-team
# reproducers kept as regressions): a planted tree is never restored into another mailbox, a
# move left alone is retried until done, an owner change A -> B -> C with B in the way loses
# nothing silently, and a scoped run leaves the other tenants' storage alone.
#   bash tests/cli/homes.sh path/to/mailrecon
set -u
[ $# -eq 1 ] || { echo "usage: $0 MAILRECON" >&2; exit 64; }
export MAILRECON=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
fail=0 n=0
for c in "$here"/homes/[0-9]*.sh; do
	n=$((n + 1))
	if out=$(bash "$c" 2>&1); then
		echo "ok $n $(basename "$c" .sh): ${out##*$'\n'}"
	else
		fail=$((fail + 1))
		echo "FAIL $n $(basename "$c" .sh):"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
done
echo "homes: $((n - fail)) of $n passed"
[ $fail -eq 0 ]
