#!/usr/bin/env bash
# A red-team reproducer of fd2725b, kept as a regression test (run by ../homes.sh): it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness:
# Owner changes A -> B -> C with B blocking.  A -> B is left alone ("info@ move alice" in
# homes-left); B then makes the home a directory and mail is delivered there (Dovecot's home is
# B's place now).  B -> C: diff.c home_kept sees old_owner (alice) and takes the retry branch,
# which never looks at `was` (B's place): alice's mail moves to C, the B-era mail stays in B's
# tree, the apply exits 0 without a word, and nothing (homes-left, home_gone) remembers it.
. "$(dirname "$0")/lib.sh"
abc_alice_mail keep
as 1003 mkdir -p "$(email bob)/example.com"
as 1003 touch "$(email bob)/example.com/info"     # B blocks the move
mr -q apply -f "$tmp/b.yaml" >/dev/null 2>&1
as 1003 rm "$(email bob)/example.com/info"
as 1003 mkdir -m 700 "$(email bob)/example.com/info"
echo 'B-era delivery' | as 1003 tee "$(email bob)/example.com/info/msg2" >/dev/null # as Dovecot would
mr -q apply -f "$tmp/c.yaml" >"$tmp/out" 2>&1
rc=$?
echo "  B -> C apply: exit $rc; homes-left: $(cat "$state/homes-left" 2>/dev/null || echo '(none)')"
if [ -e "$(email bob)/example.com/info/msg2" ] && [ $rc -eq 0 ] && [ ! -s "$state/homes-left" ]; then
	present "the B-era mail of info@ stays in bob's tree, silently (exit 0, not in homes-left)"
fi
fixed "the B-era mail was moved, or the run said so and keeps retrying"
