#!/usr/bin/env bash
# A red-team reproducer of fd2725b, kept as a regression test (run by ../homes.sh): it exits 1
# while the weakness it describes is present, 0 when it is fixed.  The weakness:
# A scoped run carries out (and prints) the homes-left retries of every tenant: diff.c home_kept
# runs for the live domains kept outside the scope too, so carol's `plan --scope carol` lists
# another tenant's mailbox address, its old and new owner and paths, and carol's apply moves
# storage outside her scope and exits 1 because bob keeps his tree in the way.  (Findings are
# filtered by scope since debce06; the "Mailbox storage" section and the warnings are not.)
. "$(dirname "$0")/lib.sh"
sandbox
mk() {
	cat <<EOY
version: 1
users:
  alice: {}
  bob: {}
  carol: {}
domains:
  example.com:
    owner: $1
    mailboxes:
      secret-project: {password: $H}
  carol.example:
    owner: carol
    mailboxes:
      c: {password: $H}
EOY
}
mk alice >"$tmp/a.yaml"
mk bob >"$tmp/b.yaml"
mr -q apply -f "$tmp/a.yaml" >/dev/null 2>&1 || { echo "setup failed"; exit 2; }
as 1003 mkdir -p "$(email bob)/example.com"
as 1003 touch "$(email bob)/example.com/secret-project"
mr -q apply -f "$tmp/b.yaml" >/dev/null 2>&1
printf 'version: 1\nusers:\n  carol: {}\ndomains:\n  carol.example:\n    owner: carol\n    mailboxes:\n      c: {password: %s}\n      d: {password: %s}\n' "$H" "$H" >"$tmp/carol.yaml"
mr plan --scope carol -f "$tmp/carol.yaml" >"$tmp/plan" 2>&1
mr apply --no-reload --scope carol -f "$tmp/carol.yaml" >"$tmp/apply" 2>&1
rc=$?
grep -h 'secret-project' "$tmp/plan" | head -2 | sed 's/^/  carol sees: /'
if grep -q 'secret-project@example.com' "$tmp/plan" "$tmp/apply" || [ $rc -ne 0 ]; then
	present "carol's scoped run shows bob's/alice's storage (and exits $rc because of bob's tree)"
fi
fixed "carol's scoped run neither shows nor acts on storage outside her scope"
