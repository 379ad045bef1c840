#!/usr/bin/env bash
# A regression test found by the property test (seed 1701), run by ../homes.sh: it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness: owner
# changes A -> B -> C.  A -> B is left alone (B put a symbolic link where B's home goes), so
# homes-left says "info move alice".  B -> C: the plan moves from B's place, and from A's
# (left behind); apply took B's link for a home made since ("its mail is in B's place now
# too"), left both alone and wrote "info move bob".  Once B removed the link, the next apply
# moved nothing from B's empty place, made an empty home in C's tree and exited 0: alice's
# mail stranded, and nothing (homes-left, a warning) remembered it.
. "$(dirname "$0")/lib.sh"
abc_alice_mail
as 1003 mkdir -p "$(email bob)/example.com"
as 1003 ln -s /tmp "$(email bob)/example.com/info"  # B's place: a link, no home
mr -q apply -f "$tmp/b.yaml" >/dev/null 2>&1
grep -q '^info@example.com move alice' "$state/homes-left" 2>/dev/null ||
	{ echo "setup: A -> B was not left alone: $(cat "$state/homes-left" 2>/dev/null)"; exit 2; }
mr -q apply -f "$tmp/c.yaml" >"$tmp/out1" 2>&1
rc1=$?
as 1003 rm "$(email bob)/example.com/info"       # the link goes; B's place was never a home
mr -q apply -f "$tmp/c.yaml" >"$tmp/out2" 2>&1
rc2=$?
left=$(cat "$state/homes-left" 2>/dev/null || echo '(none)')
echo "  B -> C: exit $rc1, then exit $rc2; homes-left: $left"
if [ -e "$(email alice)/example.com/info/msg" ] && [ $rc2 -eq 0 ] && ! grep -q '^info@example.com move alice' "$state/homes-left" 2>/dev/null; then
	present "alice's mail stays in alice's tree, silently (exit 0, homes-left does not name alice)"
fi
[ -e "$(email carol)/example.com/info/msg" ] && [ ! -e "$(email alice)/example.com/info/msg" ] ||
	present "alice's mail did not reach carol's home (rc $rc1, $rc2; homes-left: $left)"
grep -q "the live home of 'info@example.com', is a symbolic link, not a home" "$tmp/out1" ||
	present "B's link was passed over without a word: $(cat "$tmp/out1")"
fixed "alice's mail moved to carol's home; B's link was not taken for a home, and was named"
