#!/usr/bin/env bash
# 07 one level up, run by ../homes.sh: it exits 1 while the weakness it describes is present,
# 0 when it is fixed.  Owner changes A -> B -> C; A -> B is left alone because B put a
# symbolic link where B's domain directory goes (B's home place is reached through it).
# B -> C moves A's left-behind mail to C and leaves the link; mail Dovecot delivered to B
# through it went where it points, which is not moved.  The warning of 07 (a link or file at
# the live home place) must name this case too: before, it was passed over without a word.
. "$(dirname "$0")/lib.sh"
abc_alice_mail
mkdir -p "$tmp/elsewhere/info" && chown -R 1003:1003 "$tmp/elsewhere"
as 1003 mkdir -p "$(email bob)"
as 1003 ln -s "$tmp/elsewhere" "$(email bob)/example.com"  # B's domain directory: a link
mr -q apply -f "$tmp/b.yaml" >/dev/null 2>&1
grep -q '^info@example.com move alice' "$state/homes-left" 2>/dev/null ||
	{ echo "setup: A -> B was not left alone: $(cat "$state/homes-left" 2>/dev/null)"; exit 2; }
mr -q apply -f "$tmp/c.yaml" >"$tmp/out1" 2>&1
rc1=$?
echo "  B -> C: exit $rc1"
[ -e "$(email carol)/example.com/info/msg" ] && [ ! -e "$(email alice)/example.com/info/msg" ] ||
	{ echo "setup: alice's mail did not reach carol's home: $(cat "$tmp/out1")"; exit 2; }
[ -L "$(email bob)/example.com" ] || present "B's link was not left as it was"
grep -q "the live home of 'info@example.com', is reached through a symbolic link, not a home" "$tmp/out1" ||
	present "the link above B's home place was passed over without a word: $(cat "$tmp/out1")"
fixed "alice's mail moved to carol's home; the link above B's home place was named"
