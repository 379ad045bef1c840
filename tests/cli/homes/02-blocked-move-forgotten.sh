#!/usr/bin/env bash
# A red-team reproducer of fd2725b, kept as a regression test (run by ../homes.sh): it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness:
# A move left alone because the new place already exists is not written to homes-left
# (homes.c homes_left_save: only a home that is not a directory is kept), so nothing ever
# retries it: the next apply says "No changes" (exit 0), the old mail stays in the previous
# owner's tree for good, and home_gone's "old home a move left behind" never sees it -- a later
# deletion with --purge leaves the mailbox's mail readable by the old owner.
# The new owner (bob) triggers it by making the directory before the domain is given to him.
. "$(dirname "$0")/lib.sh"
sandbox
gen "$tmp/a.yaml" alice info keep
gen "$tmp/b.yaml" bob info keep
gen "$tmp/c.yaml" bob keep
mr -q apply -f "$tmp/a.yaml" >/dev/null 2>&1 || { echo "setup failed"; exit 2; }
echo 'mail of info@' | as 1001 tee "$(email alice)/example.com/info/msg" >/dev/null
as 1003 mkdir -p "$(email bob)/example.com/info"
mr -q apply -f "$tmp/b.yaml" >/dev/null 2>&1 # exit 1: left alone, said once
mr -q apply -f "$tmp/b.yaml" >"$tmp/out2" 2>&1
rc2=$?
mr -q apply -f "$tmp/c.yaml" --allow-delete --purge >/dev/null 2>&1
echo "  homes-left after the move: $(cat "$state/homes-left" 2>/dev/null || echo '(none)')"
echo "  second apply: exit $rc2"
if [ -e "$(email alice)/example.com/info/msg" ]; then
	present "info@'s mail is still in alice's tree after info@ was purged (second apply exit $rc2, nothing retried)"
fi
fixed "the old home was moved, retried or purged"
