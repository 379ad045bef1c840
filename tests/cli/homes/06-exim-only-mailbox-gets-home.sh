#!/usr/bin/env bash
# A regression test found by the property test (seed 6838), run by ../homes.sh: it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness: a mailbox
# Exim knows and Dovecot does not (a line in exim4/passwd only, added by hand) is declared
# with a password; apply writes its dovecot.passwd line, with its home, but never makes that
# home (the plan showed no "made" line): the mail has no place until someone makes it.
. "$(dirname "$0")/lib.sh"
sandbox
gen "$tmp/a.yaml" alice info
gen "$tmp/b.yaml" alice info hr
mr -q apply -f "$tmp/a.yaml" >/dev/null 2>&1 || { echo "setup failed"; exit 2; }
echo 'hr@example.com:owner=alice' >>"$root/etc/exim4/passwd"
grep -q '^hr@' "$root/etc/dovecot/dovecot.passwd" && { echo "setup: hr@ has a dovecot line already"; exit 2; }
home=$(email alice)/example.com/hr
mr plan -f "$tmp/b.yaml" >"$tmp/plan" 2>&1
mr -q apply -f "$tmp/b.yaml" >"$tmp/out" 2>&1
rc=$?
grep -q "^hr@example.com:.*:/var/www/alice/data/email/example.com/hr:" "$root/etc/dovecot/dovecot.passwd" ||
	{ echo "apply (exit $rc) wrote no dovecot line for hr@ with its home"; cat "$tmp/out"; exit 2; }
echo "  apply: exit $rc; plan: $(grep -c 'hr@example.com home .*(made' "$tmp/plan") made line(s) for hr@"
[ -d "$home" ] && [ ! -L "$home" ] || present "hr@ has a dovecot line naming $home, which apply never made"
[ "$(stat -c '%u:%g %a' "$home")" = "1001:1001 700" ] || present "$home is $(stat -c '%u:%g %a' "$home"), not alice's 0700"
grep -q 'hr@example.com home .*(made, alice' "$tmp/plan" || present "the plan does not show hr@'s home as made"
fixed "hr@'s home was made, alice's, 0700, and the plan said so"
