#!/usr/bin/env bash
# tests/e2e/route.sh MAILRECON REPO_ROOT: `mailrecon route` against the real Exim
# (exim4 -bt and -bh with contrib/exim4/exim4.conf) on random desired states applied to
# sandbox roots (tests/e2e/route_diff.py; docs/route.md "How it is proven").
# Seeds 1-25 by default (over 2,000 address checks); MAILRECON_ROUTE_SEEDS=1-120 for a soak
# (10,698 address checks). Must run as root; a missing exim4 or python3 is a failure, never a skip.
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_args "$@"
need_exim
if [ ! -x "$py" ]; then
	bad "python3 is installed ($py)"
	finish
fi
tmpl=$(mktemp -d /tmp/mailrecon-route-tmpl.XXXXXX)
trap 'rm -rf "$tmpl"' EXIT
trap 'exit 130' INT TERM
exim_sandbox "$tmpl"
mv "$tmpl/exim4.conf" "$tmpl.conf" 2>/dev/null || true
conf=$tmpl/../$(basename "$tmpl").conf
trap 'rm -rf "$tmpl" "$conf"' EXIT
seeds=${MAILRECON_ROUTE_SEEDS:-1-25}
min=2000
case $seeds in 1-25) ;; *) min=0 ;; esac
[ -z "${MAILRECON_ROUTE_MIN:-}" ] || min=$MAILRECON_ROUTE_MIN
if "$py" "$repo/tests/e2e/route_diff.py" --bin "$bin" --exim "$exim" --template "$tmpl" --conf "$conf" \
	--cases "$repo/tests/e2e/route-cases" --seeds "$seeds" --min-checks "$min" ${E2E_KEEP:+--keep}; then
	ok "mailrecon route equals exim4 -bt / -bh on seeds $seeds and the regression cases"
else
	bad "mailrecon route equals exim4 -bt / -bh on seeds $seeds and the regression cases"
fi
finish
