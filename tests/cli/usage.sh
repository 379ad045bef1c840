#!/usr/bin/env bash
# mailrecon usage (issue 16): each mailbox's used bytes against its max_size, from a Maildir of
# known content (exact byte counts), through the confinement layer: the homes are the tenant's,
# so a link is never followed (to a file outside, a loop, the home itself a link), a hard link
# is counted once, a FIFO is never opened (the home a FIFO either), and the walk is capped in
# names and levels and says so. --json against schema/usage.schema.json (ajv). Read-only.
# Usage: usage.sh MAILRECON REPO_ROOT NODE
set -u
bin=$1
repo=$2
node=${3:-node}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
mr() { timeout 60 "$bin" --root "$tmp/root" "$@"; }
# js FILE EXPR: exit 0 when the JS expression of d (FILE parsed as JSON) is true
js() { "$node" -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(eval(process.argv[2]) ? 0 : 1)' "$1" "$2"; }

tree debian/hosting
# info@example.com: max_size 1000 bytes; a Maildir of 100 + 250 + 7 bytes in three files
sed -i 's/^\(info@example\.com:.*userdb_quota_rule=\*:bytes=\)2G$/\11000/' "$tmp/root/etc/dovecot/dovecot.passwd"
email=$tmp/root/var/www/alice/data/email
h=$email/example.com/info
mkdir -p "$h/cur" "$h/new" "$h/tmp" "$h/.Sent/cur"
printf '%100s' a >"$h/cur/1.host:2,S"
printf '%250s' b >"$h/new/2.host"
printf '%7s' c >"$h/.Sent/cur/3.host:2,S"
ln "$h/cur/1.host:2,S" "$h/cur/1-again"          # a second name of the same file: counted once
ln -s /etc/passwd "$h/cur/passwd"                 # a link out of the home: never followed
ln -s . "$h/loop"                                 # a link loop
ln -s ../../../../.. "$h/.Up"                     # a link to a directory far above
mkfifo "$h/new/fifo"                              # a FIFO: never opened (opening it would block)
# alice@example.com: a tree 40 levels deep, a file at the bottom (past the 32-level cap)
d=$email/example.com/alice
mkdir -p "$d/$(printf 'l/%.0s' $(seq 1 40))"
printf '%5s' x >"$d/top"
printf '%9s' y >"$d/$(printf 'l/%.0s' $(seq 1 40))deep"
ln -s /etc "$email/example.com/archive"           # a home that is a link
mkfifo "$email/example.com/newsletter"             # a home that is a FIFO
chown -R -h 1001:1001 "$tmp/root/var/www/alice"   # the tenant's tree
mkdir -p "$tmp/root/var/www/carol/data/email/example.org/carol/cur"
printf '%1024s' z >"$tmp/root/var/www/carol/data/email/example.org/carol/cur/1"
chown -R 1002:1002 "$tmp/root/var/www/carol"
(cd "$tmp/root" && find . -printf '%p %s %m %u %T@\n' | sort) >"$tmp/before"

expect "usage: the exact bytes of info@'s three files, its limit and the percentage" 0 \
	'^info@example\.com +357 +357 B +1000 B +35\.7%$' '' -- mr usage
expect "... what it did not count, said" 0 \
	'^  not counted: 3 symbolic links, 1 FIFO, socket, device or mount point, 1 more hard link of a file counted once$' '' -- mr usage
expect "a home that is a link: not counted, said" 0 '^archive@example\.com +- +- +unlimited +-$' '' -- mr usage
expect "... why" 0 '^  not counted: a symbolic link on the way to the home or at it$' '' -- mr usage
expect "a home that is a FIFO: not a directory, and nothing blocks" 0 '^  not counted: the home is not a directory$' '' -- mr usage
expect "a tree deeper than 32 levels: the part seen (the top file), marked partial" 0 \
	'^alice@example\.com +5 +5 B +10\.0 GiB +0\.0%$' '' -- mr usage
expect "... said" 0 '^  partial: the walk stopped after [0-9]+ names \(--max-entries\) or 32 levels$' '' -- mr usage
expect "a mailbox without a home yet" 0 '^  no home yet$' '' -- mr usage
expect "another owner's mailbox: 1024 bytes of 5 GiB" 0 '^carol@example\.org +1024 +1\.0 KiB +5\.0 GiB +0\.0%$' '' -- mr usage
expect "--max-entries 2: partial, the bytes of what it saw" 0 \
	'^  partial: the walk stopped after 2 names \(--max-entries\) or 32 levels' '' -- mr usage --max-entries 2
expect "--scope carol: carol's mailboxes only" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' usage --scope carol | awk 'NR > 1 && !/^  / { print \$1 }' | tr '\n' ' ' |
		grep -qx 'webmaster@example.net billing@example.org boss@example.org carol@example.org '"
expect "--scope of no live user: exit 1" 1 '' "--scope 'nobody': no such user in the live state" -- mr usage --scope nobody
expect "--max-entries 0: a usage error" 64 '' 'expected a number from 1' -- mr usage --max-entries 0

mr usage --json >"$tmp/u.json"
expect "usage --json follows schema/usage.schema.json" 0 '^ok ' '' -- \
	"$node" "$repo/tests/schema/validate.mjs" "$repo" usage.schema.json "$tmp/u.json"
expect "... info@: 357 bytes in 3 files of 1000, 35.7%, complete, what was not counted" 0 '' '' -- \
	js "$tmp/u.json" 'const m = d.mailboxes.find((x) => x.address === "info@example.com");
		m.used_bytes === 357 && m.files === 3 && m.max_bytes === 1000 && m.percent === 35.7 && m.complete &&
		m.owner === "alice" && m.home === "/var/www/alice/data/email/example.com/info" &&
		JSON.stringify(m.not_counted) === JSON.stringify({ links: 3, other: 1, hard_links: 1, unreadable_dirs: 0 })'
expect "... a linked home: used_bytes null, not complete" 0 '' '' -- \
	js "$tmp/u.json" 'const m = d.mailboxes.find((x) => x.address === "archive@example.com");
		m.used_bytes === null && m.percent === null && !m.complete && /symbolic link/.test(m.note)'
expect "... the deep tree: 5 bytes, not complete" 0 '' '' -- \
	js "$tmp/u.json" 'const m = d.mailboxes.find((x) => x.address === "alice@example.com"); m.used_bytes === 5 && !m.complete'
mr usage --json --scope carol --max-entries 5 >"$tmp/c.json"
expect "usage --json --scope carol --max-entries 5: valid, scope and cap recorded" 0 '' '' -- \
	sh -c "'$node' '$repo/tests/schema/validate.mjs' '$repo' usage.schema.json '$tmp/c.json' >/dev/null &&
		'$node' -e 'const d = JSON.parse(require(\"fs\").readFileSync(process.argv[1])); process.exit(d.scope === \"carol\" && d.max_entries === 5 && d.mailboxes.length === 4 ? 0 : 1)' '$tmp/c.json'"
(cd "$tmp/root" && find . -printf '%p %s %m %u %T@\n' | sort) >"$tmp/after"
expect "read-only: nothing in the tree changed (not even a state directory made)" 0 '' '' -- \
	cmp "$tmp/before" "$tmp/after"

echo "usage: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
