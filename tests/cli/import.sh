#!/usr/bin/env bash
# The import command as a user runs it on live trees: exit codes, refusals of files that
# cannot be read safely (symlink, directory, permissions), bad lines, scopes, layouts.
# Usage: import.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live

expect "hosting tree imports cleanly" 0 '^    mailboxes:$' '' -- \
	"$bin" --root "$live/debian/hosting" import
expect "rhel tree is detected" 0 'layout rhel' '' -- "$bin" --root "$live/rhel/hosting" import
"$bin" --root "$live/debian/hosting" import >"$tmp/hosting.yaml" 2>/dev/null
expect "import output validates" 0 '^valid: 3 users, 4 domains, 10 mailboxes in 1 file$' '' -- \
	"$bin" --root "$live/debian/hosting" validate -f "$tmp/hosting.yaml"
expect "findings go to stderr with file:line" 1 '^version: 1$' \
	'^/etc/exim4/passwd:3:1: warning: .a1@a.example. is already on line 1; this line is never read$' -- \
	"$bin" --root "$live/debian/findings" import
expect "a live state breaking a rule: exit 1, says which" 1 '^version: 1$' \
	'^\(import\):[0-9]+:[0-9]+: error: default_action of .a.example.' -- \
	"$bin" --root "$live/debian/findings" import
expect "-q keeps findings off stderr but not errors" 0 '^version: 1$' '' -- \
	"$bin" -q --root "$live/debian/panel" import

# scopes
expect "scope carol: only carol's domains" 0 '^  example\.org:$' '' -- \
	"$bin" --root "$live/debian/hosting" import --scope carol
"$bin" --root "$live/debian/hosting" import --scope carol >"$tmp/carol.yaml" 2>/dev/null
expect "scope carol leaves alice out" 1 '' '' -- grep -q 'alice' "$tmp/carol.yaml"
expect "scope bob (reseller): alice and carol" 0 '^  shop\.example\.com:$' '' -- \
	"$bin" --root "$live/debian/hosting" import --scope bob
expect "scope of an unknown user: exit 1" 1 '' "--scope 'nobody': no such user" -- \
	"$bin" --root "$live/debian/hosting" import --scope nobody
expect "scope with a bad name: usage" 64 '' "is not a user name" -- \
	"$bin" --root "$live/debian/hosting" import --scope 'a:b'

# layouts
mkdir -p "$tmp/both/etc/exim4" "$tmp/both/etc/exim"
expect "both layouts present: exit 1, asks for --layout" 1 '' 'choose with --layout' -- \
	"$bin" --root "$tmp/both" import
mkdir -p "$tmp/none"
expect "no exim directory: exit 1" 1 '' 'is Exim installed' -- "$bin" --root "$tmp/none" import
expect "--layout bad: usage" 64 '' 'must be debian, rhel or auto' -- "$bin" --root "$tmp/none" --layout solaris import

# files that must not be read
tree debian/hosting
mv "$tmp/root/etc/exim4/passwd" "$tmp/root/etc/exim4/passwd.real"
ln -s passwd.real "$tmp/root/etc/exim4/passwd"
expect "a symlinked live file is refused, nothing printed" 1 '' \
	"/etc/exim4/passwd: error: .*passwd' is a symbolic link; refused" -- "$bin" --root "$tmp/root" import
tree debian/hosting
rm "$tmp/root/etc/exim4/aliases"
mkdir "$tmp/root/etc/exim4/aliases"
expect "a directory where a file should be: refused" 1 '' "aliases' is a directory, not a file" -- \
	"$bin" --root "$tmp/root" import
tree debian/hosting
chmod 000 "$tmp/root/etc/dovecot/dovecot.passwd"
chmod -R a+rX "$tmp/root/etc/exim4" "$tmp/root/etc/mailrecon" "$tmp/root/etc/postgrey" "$tmp/root/etc/mail"
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	expect "an unreadable file: exit 1, names it" 1 '' 'dovecot.passwd.: Permission denied' -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$bin" --root "$tmp/root" import
else
	expect "an unreadable file: exit 1, names it" 1 '' 'dovecot.passwd.: Permission denied' -- \
		"$bin" --root "$tmp/root" import
fi
tree debian/hosting
mkfifo "$tmp/root/etc/exim4/ratelimits.fifo"
rm "$tmp/root/etc/exim4/ratelimits"
mv "$tmp/root/etc/exim4/ratelimits.fifo" "$tmp/root/etc/exim4/ratelimits"
expect "a FIFO is refused without blocking" 1 '' "ratelimits' is not a regular file" -- \
	timeout 10 "$bin" --root "$tmp/root" import

tree debian/hosting
truncate -s 512M "$tmp/root/etc/dovecot/dovecot.passwd"
expect "a live file of exactly 512 MiB is read" 0 '^version: 1$' 'cannot read this dovecot-passwd line' -- \
	"$bin" --root "$tmp/root" import
truncate -s $((512 * 1048576 + 1)) "$tmp/root/etc/dovecot/dovecot.passwd"
expect "a live file over 512 MiB: exit 1, names the file and the limit" 1 '' \
	"^/etc/dovecot/dovecot.passwd: error: '$tmp/root/etc/dovecot/dovecot.passwd' is too large \(536870913 bytes; the limit is 512 MiB\)$" -- \
	"$bin" --root "$tmp/root" import
rm -f "$tmp/root/etc/dovecot/dovecot.passwd"

# bad lines: a finding naming the line, the rest still read
tree debian/hosting
head -c 1048576 /dev/zero | tr '\0' 'x' >>"$tmp/root/etc/exim4/passwd"
echo >>"$tmp/root/etc/exim4/passwd"
expect "a 1 MB line: a finding on its line" 0 '^      info:$' \
	'^/etc/exim4/passwd:12:8193: warning: cannot read this exim-passwd line: it is longer than 8192 bytes' -- \
	"$bin" --root "$tmp/root" import
tree debian/hosting
printf 'bad\0line@example.com:owner=alice\n' >>"$tmp/root/etc/exim4/passwd"
expect "a NUL byte: a finding" 0 '^version: 1$' '^/etc/exim4/passwd:12:4: warning: .*NUL byte' -- \
	"$bin" --root "$tmp/root" import
tree debian/hosting
printf 'caf\xe9@example.com:owner=alice\n' >>"$tmp/root/etc/exim4/passwd"
expect "invalid UTF-8: a finding" 0 '^version: 1$' '^/etc/exim4/passwd:12:1: warning: .*not valid UTF-8' -- \
	"$bin" --root "$tmp/root" import
tree debian/hosting
printf 'new@example.com:owner=ali' >>"$tmp/root/etc/exim4/passwd"
expect "a truncated last line is still a line" 0 '^version: 1$' \
	"/etc/exim4/passwd:12:1: warning: mailbox 'new@example.com' is in /etc/exim4/passwd but not in" -- \
	"$bin" --root "$tmp/root" import
tree debian/hosting
sed -i 's/$/\r/' "$tmp/root/etc/exim4/domains"
expect "CRLF line ends: read, with a finding" 0 'default_action: discard' \
	'^/etc/exim4/domains:1:1: warning: CRLF line end' -- "$bin" --root "$tmp/root" import

tree debian/hosting
long=$(printf 'x%.0s' $(seq 2000))
sed -i "s|^alice@example.com:{CRAM-MD5}[0-9a-f]*:|alice@example.com:{PLAIN}$long:|" "$tmp/root/etc/dovecot/dovecot.passwd"
expect "a hash over 1024 bytes: a finding that it cannot be kept, never the hash" 0 '^version: 1$' \
	"^/etc/dovecot/dovecot.passwd:2:1: warning: the password of 'alice@example.com' cannot be kept: is longer than 1024 bytes$" -- \
	"$bin" --root "$tmp/root" import
cat "$tmp/out" "$tmp/err" >"$tmp/long.out"
expect "the long hash is not printed" 1 '' '' -- grep -q xxxxxxxx "$tmp/long.out"

tree debian/hosting
sed -i 's/^\(alice@example.com:[^:]*\):1001:1001:/\1:0:0:/' "$tmp/root/etc/dovecot/dovecot.passwd"
expect "a dovecot.passwd line with uid 0: a finding" 0 '^version: 1$' \
	"^/etc/dovecot/dovecot.passwd:2:1: warning: mailbox 'alice@example.com' has uid 0 and gid 0, below UID_MIN 1000: its mail would belong to a system account$" -- \
	"$bin" --root "$tmp/root" import

# import never writes: the tree is byte-identical afterwards
tree debian/hosting
(cd "$tmp/root" && find . -type f -exec sha256sum {} + | sort) >"$tmp/before"
"$bin" --root "$tmp/root" import >/dev/null 2>&1
(cd "$tmp/root" && find . -type f -exec sha256sum {} + | sort) >"$tmp/after"
expect "import changes nothing" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
