#!/usr/bin/env bash
# The apply command on sandbox roots: the files it writes, idempotence (a second apply writes
# nothing), owners and modes, deletions capped and archived, stale plans, the lock, reloads,
# the audit log and injected I/O faults (a crash at every step: tests/cli/crash.sh).
# Usage: apply.sh MAILRECON REPO_ROOT
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

snapshot() { # snapshot ROOT: every path with size, mode, owner, mtime, and every file's hash
	(cd "$1" && find . -path ./var/lib/mailrecon -prune -o -path ./var/log -prune -o -print0 |
		sort -z | xargs -0 stat -c '%n %s %a %u %g %Y' && find . -path ./var/lib/mailrecon -prune -o -type f -print0 |
		sort -z | xargs -0 sha256sum)
}

# --- the files an apply writes are the plan's, byte for byte ---
tree debian/hosting
expect "apply refuses deletions beyond --allow-delete (default 0): exit 3, nothing written" 3 \
	'^Plan: 1 to add, 6 to change, 5 to destroy\.$' 'deletes 0 users, 1 domain and 3 mailboxes' -- \
	"$bin" --root "$tmp/root" apply -f "$changes"
expect "... and the tree is untouched" 0 '' '' -- diff -r "$live/debian/hosting/etc" "$tmp/root/etc"
expect "apply with --allow-delete=4" 0 'Apply complete: 1 added, 6 changed, 5 destroyed' '' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4
for path in /etc/exim4/passwd /etc/exim4/aliases /etc/exim4/ratelimits /etc/exim4/domains /etc/exim4/domainips \
	/etc/postgrey/whitelist_recipients /etc/mail/spamassassin/local.cf /etc/mailrecon/registry; do
	golden=$cases/changes/files/$(echo "${path#/}" | tr / _)
	expect "applied $path equals the plan's content" 0 '' '' -- cmp -s "$golden" "$tmp/root$path"
done
expect "the new hash of a clear password verifies with doveadm-compatible crypt" 0 '' '' -- \
	grep -q '^newsletter@example.com:{SHA512-CRYPT}\$6\$' "$tmp/root/etc/dovecot/dovecot.passwd"
expect "no clear password in any file" 1 '' '' -- grep -rqF 'correct horse' "$tmp/root"
expect "the removed mailbox's storage is not deleted (archived when it exists)" 0 '' '' -- test ! -e "$tmp/root/var/lib/mailrecon/archive/x"
expect "a new mailbox home: owner's, 0700" 0 '^700 1001 1001$' '' -- \
	stat -c '%a %u %g' "$tmp/root/var/www/alice/data/email/example.com/hr"
# a new selector is a new key, staged (STATE_DIR/dkim) until dns --check finds its record
expect "the new DKIM key is staged: 0600, and its record names the new selector" 0 '^mail2025\._domainkey' '' -- \
	sh -c "test \"\$(stat -c %a '$tmp/root/var/lib/mailrecon/dkim/example.org.private')\" = 600 && cat '$tmp/root/var/lib/mailrecon/dkim/example.org.txt'"
expect "... and the old key still signs: ssl/ keeps its key and record" 0 '^mail2024\._domainkey' '' -- \
	sh -c "cmp -s '$live/debian/hosting/etc/exim4/ssl/example.org.private' '$tmp/root/etc/exim4/ssl/example.org.private' && cat '$tmp/root/etc/exim4/ssl/example.org.txt'"
expect "the removed domain's DKIM key is gone" 1 '' '' -- test -e "$tmp/root/etc/exim4/ssl/shop.example.com.private"
expect "the audit log has one line per change" 0 '' '' -- \
	sh -c "test \$(grep -cE ' rev=[0-9a-f]{12} actor=' '$tmp/root/var/log/mailrecon.log') -eq 12"
expect "the audit log names the change" 0 ' mailbox hr@example\.com create$' '' -- cat "$tmp/root/var/log/mailrecon.log"

# --- idempotence: the second apply writes nothing ---
snapshot "$tmp/root" >"$tmp/before"
expect "a second apply: No changes., exit 0" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4
snapshot "$tmp/root" >"$tmp/after"
expect "... and no file was written (mtimes unchanged)" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
expect "a plan after apply: No changes." 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$changes"

for ex in minimal.yaml hosting; do
	tree debian/empty
	printf 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin\nbob:x:1003:1003::/var/www/bob:/usr/sbin/nologin\ncarol:x:1002:1002::/var/www/carol:/usr/sbin/nologin\n' >>"$tmp/root/etc/passwd"
	expect "examples/$ex on a new server" 0 'Apply complete' '' -- "$bin" --root "$tmp/root" apply -f "$repo/examples/$ex"
	snapshot "$tmp/root" >"$tmp/before"
	expect "examples/$ex: the second apply changes nothing" 0 '^No changes\.' '' -- \
		"$bin" --root "$tmp/root" apply -f "$repo/examples/$ex"
	snapshot "$tmp/root" >"$tmp/after"
	expect "examples/$ex: no file written the second time" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
done
expect "a new file gets its documented mode (exim passwd 0640)" 0 '^640$' '' -- stat -c %a "$tmp/root/etc/exim4/passwd"
expect "a self-signed certificate and key were made, 0600" 0 '^600$' '' -- stat -c %a "$tmp/root/etc/exim4/ssl/example.com.key"
expect "Dovecot has the same certificate" 0 '' '' -- cmp -s "$tmp/root/etc/exim4/ssl/example.com.crt" "$tmp/root/etc/dovecot/certs/example.com.crt"

expect "the Dovecot SNI include names each certificate" 0 '^local_name mail\.example\.com \{$' '' -- \
	cat "$tmp/root/etc/dovecot/conf.d/99-mailrecon-sni.conf"
expect "Exim's SNI map maps the alias to its domain" 0 '^mail\.example\.com: example\.com$' '' -- \
	cat "$tmp/root/etc/exim4/mailrecon-sni"
expect "Exim's SNI map is 0644 root:root" 0 '^644 root:root$' '' -- stat -c '%a %U:%G' "$tmp/root/etc/exim4/mailrecon-sni"

# --- a self-signed certificate that expires within 30 days is renewed ---
openssl req -x509 -newkey rsa:2048 -nodes -days 10 -subj "/CN=mail.example.com/emailAddress=postmaster@example.com" \
	-keyout "$tmp/root/etc/exim4/ssl/example.com.key" -out "$tmp/root/etc/exim4/ssl/example.com.crt" 2>/dev/null
cp "$tmp/root/etc/exim4/ssl/example.com.key" "$tmp/root/etc/exim4/ssl/example.com.crt" "$tmp/root/etc/dovecot/certs/"
expect "a certificate expiring within 30 days: the plan renews it" 0 '\(renewed: a new self-signed certificate\)' '' -- \
	"$bin" --root "$tmp/root" plan -f "$repo/examples/hosting"
expect "apply renews it" 0 'Apply complete: 0 added, 1 changed, 0 destroyed' '' -- \
	"$bin" --root "$tmp/root" apply -f "$repo/examples/hosting"
expect "the new certificate lasts more than 30 days" 0 'will not expire' '' -- \
	openssl x509 -checkend $((31 * 86400)) -noout -in "$tmp/root/etc/exim4/ssl/example.com.crt"
expect "Dovecot got the renewed certificate too" 0 '' '' -- \
	cmp -s "$tmp/root/etc/exim4/ssl/example.com.crt" "$tmp/root/etc/dovecot/certs/example.com.crt"
expect "after the renewal: No changes." 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$repo/examples/hosting"

# --- dns: the records to publish for what apply made ---
"$bin" --root "$tmp/root" dns -f "$repo/examples/hosting" >"$tmp/dns"
pub=$(openssl pkey -in "$tmp/root/etc/exim4/ssl/example.com.private" -pubout -outform DER 2>/dev/null | base64 -w0)
expect "dns: the DKIM record carries the public half of the new key" 0 '' '' -- \
	sh -c "tr -d '\" ' <'$tmp/dns' | grep -qF -- 'p=$pub'"
expect "dns: the DMARC record from the server template" 0 \
	'^_dmarc\.example\.com\.	IN	TXT	"v=DMARC1; p=quarantine; rua=mailto:postmaster@example\.com"$' '' -- cat "$tmp/dns"
expect "dns: the selector of a domain's own key" 0 '^shop\._domainkey\.shop\.example\.com\.' '' -- cat "$tmp/dns"
expect "dns --json for one domain" 0 '"kind":"dkim","name":"mail2024\._domainkey\.example\.org"' '' -- \
	"$bin" --root "$tmp/root" dns example.org --json
expect "dns of a domain that is not live: exit 1" 1 '' 'not a live mail domain' -- "$bin" --root "$tmp/root" dns nowhere.example

# --- dns without -f: the DMARC template the last apply recorded, so the same records ---
expect "apply recorded the template it used in STATE_DIR/dmarc-template" 0 \
	'^v=DMARC1; p=quarantine; rua=mailto:postmaster@\{domain\}$' '' -- cat "$tmp/root/var/lib/mailrecon/dmarc-template"
"$bin" --root "$tmp/root" dns >"$tmp/dns-nof" 2>"$tmp/dns-nof.err"
expect "dns without -f prints the same records as dns -f (the DMARC template as applied)" 0 '' '' -- \
	cmp "$tmp/dns" "$tmp/dns-nof"
expect "... and says nothing on stderr" 0 '' '' -- cat "$tmp/dns-nof.err"
rm -rf "$tmp/dmarc2"
cp -a "$repo/examples/hosting" "$tmp/dmarc2"
sed -i 's/p=quarantine; rua=/p=reject; rua=/' "$tmp/dmarc2/00-server.yaml"
expect "dns -f with another template prints it, and a note that it is not the applied one" 0 \
	'^_dmarc\.example\.com\.	IN	TXT	"v=DMARC1; p=reject; rua=mailto:postmaster@example\.com"$' \
	'note: the DMARC template differs from the one last applied' -- "$bin" --root "$tmp/root" dns -f "$tmp/dmarc2"
expect "a scoped apply of the new template" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply --scope bob -f "$tmp/dmarc2"
expect "... does not record it (a tenant's file does not speak for the server)" 0 'p=quarantine' '' -- \
	cat "$tmp/root/var/lib/mailrecon/dmarc-template"
expect "an apply where only the template changed: No changes. to the live files" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/dmarc2"
expect "... and dns without -f now prints the new record" 0 \
	'^_dmarc\.example\.com\.	IN	TXT	"v=DMARC1; p=reject; rua=mailto:postmaster@example\.com"$' '' -- \
	"$bin" --root "$tmp/root" dns
snapshot "$tmp/root" >"$tmp/before"
stat -c '%i %Y' "$tmp/root/var/lib/mailrecon/dmarc-template" >>"$tmp/before"
expect "the same apply again writes nothing, not even the template" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/dmarc2"
snapshot "$tmp/root" >"$tmp/after"
stat -c '%i %Y' "$tmp/root/var/lib/mailrecon/dmarc-template" >>"$tmp/after"
expect "... (no file below the root differs, nor the template's inode)" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
mv "$tmp/root/var/lib/mailrecon/dmarc-template" "$tmp/dmarc-template.saved"
expect "no template recorded and no desired state: the built-in default, said on stderr" 0 \
	'^_dmarc\.example\.com\.	IN	TXT	"v=DMARC1; p=none"$' 'note: no apply recorded a DMARC template' -- \
	"$bin" --root "$tmp/root" dns
printf 'v=DMARC1; p=none\n"; evil\n' >"$tmp/root/var/lib/mailrecon/dmarc-template"
expect "a dmarc-template that is not one template line is not used" 0 '"v=DMARC1; p=none"$' 'note: no apply recorded' -- \
	"$bin" --root "$tmp/root" dns
mv "$tmp/dmarc-template.saved" "$tmp/root/var/lib/mailrecon/dmarc-template"

# --- the real tools' checks: a failing one aborts the apply before any rename ---
mkdir -p "$tmp/fakebin"
printf '#!/bin/sh\necho "exim: error in line 3 of the configuration" >&2\nexit 1\n' >"$tmp/fakebin/exim4"
printf '#!/bin/sh\necho "lint: 1 issues detected" >&2\nexit 2\n' >"$tmp/fakebin/spamassassin"
chmod +x "$tmp/fakebin/exim4" "$tmp/fakebin/spamassassin"
tree debian/hosting
touch "$tmp/root/etc/exim4/exim4.conf"
expect "a failing exim -bV aborts the apply with its message" 1 '^Plan: ' 'check failed: exim4 -bV -C /etc/exim4/exim4\.conf \(exit 1\):' -- \
	env PATH="$tmp/fakebin:$PATH" "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete
expect "... and nothing was changed" 0 '' '' -- diff -r "$live/debian/hosting/etc" "$tmp/root/etc" -x exim4.conf
rm "$tmp/root/etc/exim4/exim4.conf"
expect "a failing spamassassin --lint (local.cf changes) aborts the apply" 1 '^Plan: ' 'lint: 1 issues detected' -- \
	env PATH="$tmp/fakebin:$PATH" "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete
expect "... and nothing was changed" 0 '' '' -- diff -r "$live/debian/hosting/etc" "$tmp/root/etc"

# --- account: create runs useradd (with --prefix for a sandbox root) ---
tree debian/empty
printf 'root:x:0:\n' >"$tmp/root/etc/group"
: >"$tmp/root/etc/shadow"
: >"$tmp/root/etc/gshadow"
cat >"$tmp/new.yaml" <<'YAML'
version: 1
users:
  newbie: {account: create}
domains:
  newbie.example:
    owner: newbie
    mailboxes:
      hello:
        password: {hash: "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6"}
YAML
expect "apply creates the missing system account" 0 'created the system account newbie \(home /var/www/newbie\)' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/new.yaml"
expect "... in ROOT/etc/passwd, with the home below /var/www" 0 '^newbie:x:[0-9]+:[0-9]+::/var/www/newbie:/usr/sbin/nologin$' '' -- \
	cat "$tmp/root/etc/passwd"
uid=$(awk -F: '$1 == "newbie" { print $3 }' "$tmp/root/etc/passwd")
expect "the mailbox line carries the new account's uid" 0 "^hello@newbie\.example:[^:]+:$uid:" '' -- \
	cat "$tmp/root/etc/dovecot/dovecot.passwd"
expect "the mailbox home belongs to the new account, 0700" 0 "^700 $uid\$" '' -- \
	stat -c '%a %u' "$tmp/root/var/www/newbie/data/email/newbie.example/hello"
expect "a second apply: No changes." 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/new.yaml"

# --- --purge: the storage of a deleted mailbox is removed instead of archived ---
tree debian/hosting
mkdir -p "$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/cur"
echo mail >"$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/cur/1"
expect "apply --purge" 0 'purged /var/www/alice/data/email/example\.com/archive' '' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete --purge
expect "... the storage is gone" 1 '' '' -- test -e "$tmp/root/var/www/alice/data/email/example.com/archive"
expect "... and nothing was archived" 1 '' '' -- test -e "$tmp/root/var/lib/mailrecon/archive"
tree debian/hosting
mkdir -p "$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/cur"
echo mail >"$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/cur/1"
"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete >/dev/null 2>&1
expect "without --purge the mail is archived under STATE_DIR/archive/ADDRESS/STAMP" 0 '' '' -- \
	sh -c "test \"\$(cat '$tmp'/root/var/lib/mailrecon/archive/archive@example.com/[0-9]*T[0-9]*Z/.maildir/cur/1)\" = mail"

# --- an existing file keeps its owner, group and mode ---
tree debian/hosting
chown 1234:2345 "$tmp/root/etc/exim4/domainips"
chmod 0604 "$tmp/root/etc/exim4/domainips"
"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete >/dev/null 2>&1
expect "owner, group and mode kept across a rewrite" 0 '^604 1234 2345$' '' -- stat -c '%a %u %g' "$tmp/root/etc/exim4/domainips"
expect "... and the content was rewritten" 0 '203\.0\.113\.11' '' -- cat "$tmp/root/etc/exim4/domainips"

# --- a symlink where a managed file should be is refused ---
tree debian/hosting
ln -sf /etc/hostname "$tmp/root/etc/exim4/domainips"
expect "a symlinked managed file: refused, exit 1" 1 '' 'symbolic link; refused' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete
expect "... the symlink is left alone" 0 '' '' -- test -L "$tmp/root/etc/exim4/domainips"

# --- stale plans ---
tree debian/hosting
"$bin" --root "$tmp/root" plan -f "$changes" --out "$tmp/saved.plan" >/dev/null
echo 'new@example.com:owner=alice' >>"$tmp/root/etc/exim4/passwd"
expect "apply --plan after a live file changed: exit 3, names it" 3 'recorded the live files \(baseline\)' 'a live file changed since the plan: /etc/exim4/passwd' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/saved.plan" --allow-delete
tree debian/hosting
"$bin" --root "$tmp/root" plan -f "$changes" --out "$tmp/saved.plan" >/dev/null
expect "apply --plan on an unchanged tree applies it" 0 'Apply complete: 1 added, 6 changed, 5 destroyed' '' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/saved.plan" --allow-delete
expect "the same plan again is stale" 3 '' 'changed since the plan' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/saved.plan" --allow-delete
expect "--plan with -f: usage" 64 '' 'exclude each other' -- "$bin" apply --plan "$tmp/saved.plan" -f "$changes"

# --- the lock ---
tree debian/hosting
mkdir -p "$tmp/root/var/lib/mailrecon"
if command -v flock >/dev/null; then
	flock "$tmp/root/var/lib/mailrecon/lock" sleep 5 &
	holder=$!
	sleep 0.5
	expect "another apply holds the lock: exit 4 after --lock-timeout" 4 '' 'gave up after' -- \
		"$bin" --root "$tmp/root" --lock-timeout 1 apply -f "$changes" --allow-delete
	expect "plan waits for an apply's lock too: never a half-switched set" 4 '' 'gave up after' -- \
		"$bin" --root "$tmp/root" --lock-timeout 1 plan -f "$changes"
	# flock's child too (the sleep): it has the test's stdout open, and ctest waited it out
	kill $(cat "/proc/$holder/task/$holder/children" 2>/dev/null) $holder 2>/dev/null
	wait $holder 2>/dev/null
else
	expect "flock(1) is installed (util-linux)" 0 '' '' -- false
fi

# --- reloads: only what changed, with the operator's commands ---
tree debian/hosting
export MAILRECON_RELOAD_POSTGREY="echo postgrey >>$tmp/reloads" MAILRECON_RELOAD_SPAMD="echo spamd >>$tmp/reloads" \
	MAILRECON_RELOAD_DOVECOT="echo dovecot >>$tmp/reloads"
rm -f "$tmp/reloads"
"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete >/dev/null 2>&1
expect "postgrey and spamd were reloaded (their files changed), Dovecot not" 0 '' '' -- \
	sh -c "test \"\$(sort '$tmp/reloads' | tr '\n' ' ')\" = 'postgrey spamd '"
rm -f "$tmp/reloads"
"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete >/dev/null 2>&1
expect "a no-op apply reloads nothing" 1 '' '' -- test -e "$tmp/reloads"
tree debian/hosting
export MAILRECON_RELOAD_POSTGREY="exit 3"
expect "a failed reload: exit 1, the files stay applied" 1 'Apply complete' 'reload of postgrey failed' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete
expect "... applied indeed" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$changes"
unset MAILRECON_RELOAD_POSTGREY MAILRECON_RELOAD_SPAMD MAILRECON_RELOAD_DOVECOT

# --- faults: ENOSPC on write, EIO on fsync, a failing rename ---
reference=$tmp/reference
tree debian/hosting "$reference"
"$bin" -q --root "$reference" apply -f "$changes" --allow-delete >/dev/null 2>&1
deterministic "$reference" >"$tmp/new.sums"
tree debian/hosting "$tmp/pristine"
deterministic "$tmp/pristine" >"$tmp/old.sums"
for fault in write:ENOSPC fsync:EIO rename:EXDEV; do
	tree debian/hosting
	expect "fault $fault: exit 1 with a clear error" 1 '^Plan: ' 'mailrecon: apply: .*(No space left|Input/output|cross-device)' -- \
		env MAILRECON_FAULT=$fault "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete
	deterministic "$tmp/root" >"$tmp/now.sums"
	if [ "$fault" = rename:EXDEV ]; then
		# the journal was written: the live files are old, the next run finishes the work
		expect "fault $fault: the live files are still the old ones" 0 '' '' -- cmp -s "$tmp/old.sums" "$tmp/now.sums"
	else
		expect "fault $fault: the live files are untouched" 0 '' '' -- cmp -s "$tmp/old.sums" "$tmp/now.sums"
	fi
	expect "fault $fault: the next apply completes (-q: the summary line only)" 0 '^Apply complete: 1 added, 6 changed, 5 destroyed; 11 files written\.$' '' -- "$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete
	deterministic "$tmp/root" >"$tmp/now.sums"
	expect "fault $fault: and gives the new state" 0 '' '' -- cmp -s "$tmp/new.sums" "$tmp/now.sums"
	expect "fault $fault: no temporary file is left" 1 '' '' -- sh -c "find '$tmp/root' -name '*.mailrecon-tmp.*' | grep -q ."
done

# --- a crash at every step: tests/cli/crash.sh, one ctest test per scenario and part ---

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
