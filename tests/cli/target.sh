#!/usr/bin/env bash
# --target OBJECT on plan and apply (issue 14): a targeted apply changes only the target and
# what it needs -- every live file is compared before and after, line by line -- and says so
# in its output, its revision and its audit lines; a second, full apply then does the rest
# and leaves exactly the files a full apply writes.  An unknown target is a usage error with
# the closest name; a target that would leave a name to two mailboxes is an error.
# Usage: target.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
cases=$repo/tests/fixtures/plan
changes=$cases/changes/desired
mr() { "$bin" --root "$tmp/root" "$@"; }

tree debian/hosting
# mail in the homes of live mailboxes (alice's), so that a home touched shows
for h in example.com/info example.com/archive shop.example.com/orders shop.example.com/returns; do
	mkdir -p "$tmp/root/var/www/alice/data/email/$h/cur"
	echo "Subject: kept in $h" >"$tmp/root/var/www/alice/data/email/$h/cur/1.eml"
done
chown -R 1001:1001 "$tmp/root/var/www/alice"
cp -a "$tmp/root" "$tmp/before"
# the live tree (all but mailrecon's own state and log): every entry's mode and owner, every file's bytes
listing() { (cd "$1" && find etc var/www -printf '%p %m %u %g %y\n' | sort); }
livediff() { diff -r "$tmp/before/etc" "$tmp/root/etc" && diff -r "$tmp/before/var/www" "$tmp/root/var/www" &&
	diff <(listing "$tmp/before") <(listing "$tmp/root"); }

# --- unknown and bad targets change nothing ---
expect "an unknown target: exit 64, with the closest name" 64 'recorded the live files \(baseline\)' \
	"--target 'hr@exmaple\.com': no mailbox, mail domain or user .*\(did you mean 'hr@example\.com'\?\)" -- \
	mr apply -f "$changes" --target hr@exmaple.com
expect "... plan says the same" 64 '' "did you mean 'example\.org'\?" -- mr plan -f "$changes" --target example.orc
expect "a target that is no name at all: exit 64 before anything is read" 64 '' \
	"--target 'a b' is not a mailbox address, a mail domain or a user name" -- mr plan -f "$changes" --target 'a b'
expect "... and nothing live was written" 0 '' '' -- livediff

# --- the targeted apply ---
expect "plan --target: the target, its domain's settings, and the note" 0 \
	'^Targeted \(--target hr@example\.com \(mailbox\)\): only these objects and what they need were planned; 10 other changes of the desired state were left out' \
	'' -- mr plan -f "$changes" --target HR@Example.COM
expect "... its summary" 0 '^Plan: 1 to add, 1 to change, 0 to destroy\.$' '' -- mr plan -f "$changes" --target hr@example.com
expect "plan --json --target: \"targeted\" with the target and the count left out" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' plan --json -f '$changes' --target hr@example.com | python3 -c '
import json, sys
p = json.load(sys.stdin)
assert p[\"targeted\"] == {\"targets\": [{\"object\": \"mailbox\", \"name\": \"hr@example.com\"}], \"left_out\": 10}, p[\"targeted\"]
assert [(c[\"action\"], c[\"object\"], c[\"id\"]) for c in p[\"changes\"]] == [(\"update\", \"domain\", \"example.com\"), (\"create\", \"mailbox\", \"hr@example.com\")], p[\"changes\"]
'"
expect "plan --json without --target: \"targeted\": null" 0 '"targeted":null' '' -- mr plan --json -f "$changes"
expect "apply --target hr@example.com" 0 'Apply complete: 1 added, 1 changed, 0 destroyed; 3 files written' '' -- \
	mr apply -f "$changes" --target hr@example.com
diff -rq "$tmp/before/etc" "$tmp/root/etc" >"$tmp/changed"
expect "only the files of the target changed" 0 '' '' -- diff -u - "$tmp/changed" <<EOF
Files $tmp/before/etc/dovecot/dovecot.passwd and $tmp/root/etc/dovecot/dovecot.passwd differ
Files $tmp/before/etc/exim4/domainips and $tmp/root/etc/exim4/domainips differ
Files $tmp/before/etc/exim4/passwd and $tmp/root/etc/exim4/passwd differ
EOF
expect "exim passwd: one line added, the target's" 0 '' '' -- \
	sh -c "test \"\$(diff '$tmp/before/etc/exim4/passwd' '$tmp/root/etc/exim4/passwd' | grep '^[<>]')\" = '> hr@example.com:owner=alice'"
expect "dovecot.passwd: one line added, the target's" 0 '' '' -- \
	sh -c "test \"\$(diff '$tmp/before/etc/dovecot/dovecot.passwd' '$tmp/root/etc/dovecot/dovecot.passwd' | grep '^[<>]' | cut -d: -f1)\" = '> hr@example.com'"
expect "domainips: the domain's own setting (what the mailbox needs)" 0 '' '' -- \
	sh -c "test \"\$(diff '$tmp/before/etc/exim4/domainips' '$tmp/root/etc/exim4/domainips' | grep '^[<>]' | tr '\n' ' ')\" = '< example.com :203.0.113.10 > example.com :203.0.113.11 '"
diff <(listing "$tmp/before") <(listing "$tmp/root") | grep '^[<>]' >"$tmp/entries"
expect "no entry of the live tree changed its mode or owner; the one new is the target's home" 0 '' '' -- \
	diff -u - "$tmp/entries" <<EOF
> var/www/alice/data/email/example.com/hr 700 1001 1001 d
EOF
expect "... and no other home's content changed" 0 '' '' -- diff -r "$tmp/before/var/www/alice/data/email/shop.example.com" \
	"$tmp/root/var/www/alice/data/email/shop.example.com"
expect "the audit log: two lines, each marked targeted" 0 '' '' -- \
	sh -c "test \$(grep -c ' targeted\$' '$tmp/root/var/log/mailrecon.log') -eq 2 && test \$(wc -l <'$tmp/root/var/log/mailrecon.log') -eq 2"
expect "... naming the target" 0 ' actor=[^ ]+ mailbox hr@example\.com create targeted$' '' -- cat "$tmp/root/var/log/mailrecon.log"
expect "the revision's message says it was targeted" 0 '^Targeted \(--target hr@example\.com \(mailbox\)\).* 10 other changes' '' -- \
	git --git-dir="$tmp/root/var/lib/mailrecon/repo" log -1 --format=%B
expect "... and its subject names the objects" 0 '^mailbox hr@example\.com created|hr@example\.com' '' -- \
	git --git-dir="$tmp/root/var/lib/mailrecon/repo" log -1 --format=%s
expect "the same target again: No changes for the targets, still 10 left out" 0 \
	'^No changes\. The live server matches the desired state for the targets\.' '' -- \
	mr apply -f "$changes" --target hr@example.com
expect "a domain target that deletes is held by --allow-delete (exit 3, 1 domain and 2 mailboxes)" 3 '^Targeted' \
	'deletes 0 users, 1 domain and 2 mailboxes' -- mr apply -f "$changes" --target shop.example.com

# --- a target that would leave a name to two mailboxes ---
mkdir -p "$tmp/conflict" && cp -a "$cases/target-conflict/desired" "$tmp/conflict/"
expect "an alias a mailbox left out keeps: exit 1, naming the target to add" 1 '' \
	"'contact@example\.com' is also a name of mailbox 'info@example\.com', which is not a target and keeps it; add --target info@example\.com" -- \
	mr plan -f "$tmp/conflict/desired" --target hr@example.com
expect "... with both targets it plans (hr@example.com is live now: updated)" 0 '^Plan: 0 to add, 2 to change' '' -- \
	mr plan -f "$tmp/conflict/desired" --target hr@example.com --target info@example.com

# --- a full apply then does the rest ---
expect "a full apply: the rest" 0 'Apply complete: 0 added, 5 changed, 5 destroyed' '' -- \
	mr apply -f "$changes" --allow-delete=4
for path in /etc/exim4/passwd /etc/exim4/aliases /etc/exim4/ratelimits /etc/exim4/domains /etc/exim4/domainips \
	/etc/postgrey/whitelist_recipients /etc/mail/spamassassin/local.cf /etc/mailrecon/registry; do
	golden=$cases/changes/files/$(echo "${path#/}" | tr / _)
	expect "$path is what one full apply writes" 0 '' '' -- cmp -s "$golden" "$tmp/root$path"
done
expect "... its audit lines are not marked targeted" 0 '' '' -- \
	sh -c "test \$(grep -vc ' targeted\$' '$tmp/root/var/log/mailrecon.log') -eq 10"
expect "then nothing is left to do" 0 '^No changes\.' '' -- mr plan -f "$changes"

# --- a saved targeted plan: apply --plan plans its targets again ---
tree debian/hosting
mr plan -f "$changes" --target hr@example.com --out "$tmp/t.plan" >/dev/null
expect "apply --plan of a targeted plan with other targets: refused, exit 3" 3 'baseline' 'the plan would now be different' -- \
	mr apply --plan "$tmp/t.plan" --target example.org
expect "apply --plan of a targeted plan: its targets, nothing else" 0 'Apply complete: 1 added, 1 changed, 0 destroyed' '' -- \
	mr apply --plan "$tmp/t.plan"
expect "... its audit lines marked targeted" 0 '' '' -- \
	sh -c "test \$(grep -c ' targeted\$' '$tmp/root/var/log/mailrecon.log') -eq 2"

echo "target: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
