#!/usr/bin/env bash
# Versioning: the state repository after a sequence of applies, drift captured before it is
# corrected, log/show/rollback, the desired state read from git at a tag and a branch, a
# corrupted repository, a failed commit recorded by the next run, no private key in any
# commit.  Usage: history.sh MAILRECON REPO_ROOT
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

files_of() { (cd "$1/etc" && find . -type f ! -name '*.private' ! -name '*.key' -exec sha256sum {} + | sort); }
git_repo=$tmp/root/var/lib/mailrecon/repo

# desired states A (the live tree as it is) and B (the changes case)
tree debian/hosting
"$bin" --root "$tmp/root" import >"$tmp/A.yaml" 2>/dev/null
mkdir -p "$tmp/A" && cp "$tmp/A.yaml" "$tmp/A/state.yaml"
B=$cases/changes/desired

# --- a sequence of applies ---
expect "log before any apply" 0 '^No revisions yet' '' -- "$bin" --root "$tmp/root" log
expect "apply B" 0 'recorded revision [0-9a-f]{12}' '' -- "$bin" --root "$tmp/root" apply -f "$B" --allow-delete
expect "the state repository is 0700" 0 '^700$' '' -- stat -c %a "$git_repo"
expect "log: the baseline, then the apply, its subject naming the objects it changed (capped)" 0 \
	'^[0-9a-f]{12}  [0-9T:Z-]+  [^ ]+ +~user carol, ~domain example\.com, -mailbox archive@example\.com, \+mailbox hr@example\.com, and 8 more$' '' -- "$bin" --root "$tmp/root" log
expect "... the counts open the revision's body" 0 '^Plan: 1 to add, 6 to change, 5 to destroy\.$' '' -- \
	sh -c "git --git-dir='$git_repo' log -1 --format=%b | sed -n 1p"
expect "log: the first apply committed the live files as a baseline" 0 'baseline: the live files before mailrecon.s first apply$' '' -- \
	"$bin" --root "$tmp/root" log
snapB=$(files_of "$tmp/root")
expect "a second apply commits nothing" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$B" --allow-delete
expect "... still two revisions" 0 '' '' -- sh -c "test \$('$bin' --root '$tmp/root' log | wc -l) -eq 2"
expect "the revision's message: the plan, trailers" 0 '^Desired-Source: .*plan/changes/desired' '' -- "$bin" --root "$tmp/root" show HEAD
expect "... Actor and Host trailers" 0 '^Actor: ' '' -- "$bin" --root "$tmp/root" show HEAD
expect "show lists the changed files" 0 '^  /etc/exim4/passwd$' '' -- "$bin" --root "$tmp/root" show HEAD
expect "log --json" 0 '^  \{"id":"[0-9a-f]{40}","time":"[0-9T:Z-]+","actor":"[^"]+","subject":"~user carol, ' '' -- \
	"$bin" --root "$tmp/root" log --json
expect "log -n 1" 0 '' '' -- sh -c "test \$('$bin' --root '$tmp/root' log -n 1 | wc -l) -eq 1"

# --- drift: captured before it is corrected ---
echo 'intruder@example.com:owner=alice' >>"$tmp/root/etc/exim4/passwd"
expect "drift: exit 2, the object and the file" 2 '^Files changed outside mailrecon since revision [0-9a-f]{12}:$' '' -- \
	"$bin" --root "$tmp/root" drift -f "$B"
cp "$tmp/out" "$tmp/drift.out"
expect "drift names the object" 0 '^  - mailbox intruder@example\.com$' '' -- cat "$tmp/drift.out"
expect "drift --json" 2 '"drift":true,"revision":"[0-9a-f]{40}","files_changed_since_revision":\["/etc/exim4/passwd"\]' '' -- \
	"$bin" --root "$tmp/root" drift -f "$B" --json
expect "drift is read-only: still one change pending" 2 '"destroy":1' '' -- "$bin" --root "$tmp/root" drift -f "$B" --json
expect "apply corrects it" 0 'recorded drift as revision [0-9a-f]{12}' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete
expect "the hand edit is in history before its correction" 0 'drift: 1 file changed outside mailrecon' '' -- \
	sh -c "'$bin' --root '$tmp/root' log | sed -n 2p"
expect "the drift revision names the files and the objects" 0 '^  mailbox intruder@example\.com added$' '' -- \
	"$bin" --root "$tmp/root" show HEAD~1
expect "the drift revision holds the hand edit" 0 '' '' -- \
	sh -c "git --git-dir='$git_repo' show HEAD~1:etc/exim4/passwd | grep -q '^intruder@example.com:owner=alice$'"
expect "after the correction: no drift" 0 'No file changed since revision' '' -- "$bin" --root "$tmp/root" drift -f "$B"

# --- rollback: apply A, apply B, rollback A ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$tmp/A" >/dev/null 2>&1
snapA=$(files_of "$tmp/root")
revA=$("$bin" --root "$tmp/root" log -n 1 | cut -c1-12)
"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete >/dev/null 2>&1
expect "B differs from A" 1 '' '' -- test "$(files_of "$tmp/root")" = "$snapA"
files_of "$tmp/root" >"$tmp/beforeA"
expect "rollback to A deletes a mailbox: refused without --allow-delete (exit 3)" 3 'files? to restore' \
	'rollback: refused: going back to [0-9a-f]{12} deletes 0 users, 0 domains and 1 mailbox' -- "$bin" --root "$tmp/root" rollback "$revA"
expect "... nothing was changed" 0 '' '' -- sh -c "files_of() { (cd \"\$1/etc\" && find . -type f ! -name '*.private' ! -name '*.key' -exec sha256sum {} + | sort); }; files_of '$tmp/root' | cmp -s - '$tmp/beforeA'"
expect "rollback to A" 0 'files? to restore' '' -- "$bin" --root "$tmp/root" rollback "$revA" --allow-delete
expect "the files are byte-equal to A's" 0 '' '' -- test "$(files_of "$tmp/root")" = "$snapA"
expect "the rollback is a new revision" 0 "rollback to $revA" '' -- sh -c "'$bin' --root '$tmp/root' log -n 1"
expect "history is not rewritten: A's apply is still there" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' log | grep -q '^$revA'"
expect "a plan of A now: No changes." 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/A"
git --git-dir="$git_repo" -c user.name=x -c user.email=x@y commit-tree -m 'not ours' "$(git --git-dir="$git_repo" rev-parse HEAD^{tree})" >"$tmp/foreign" 2>/dev/null
expect "rollback to a revision mailrecon did not make: exit 3" 3 '' 'is not a mailrecon revision' -- \
	"$bin" --root "$tmp/root" rollback "$(cat "$tmp/foreign")"
expect "rollback to an unknown revision: exit 1" 1 '' 'unknown revision' -- "$bin" --root "$tmp/root" rollback deadbeef

# --- no private key in any commit ---
expect "no private key in any revision" 1 '' '' -- \
	sh -c "git --git-dir='$git_repo' log --all -p | grep -q 'PRIVATE KEY'"
expect "the keys B replaced are back, from STATE_DIR/keys" 0 '' '' -- \
	sh -c "ls '$tmp/root/var/lib/mailrecon/keys' | grep -qE '^[0-9a-f]{64}\$' && test \"\$(stat -c %a '$tmp/root/var/lib/mailrecon/keys')\" = 700"
expect "a private key's fingerprint is kept instead" 0 '^sha256 [0-9a-f]{64}$' '' -- \
	git --git-dir="$git_repo" show HEAD:etc/exim4/ssl/example.com.private.fingerprint

# --- the desired state from git, at a tag and at a branch ---
src=$tmp/src
mkdir -p "$src/mail"
git init -q -b main "$src"
cp "$tmp/A.yaml" "$src/mail/state.yaml"
echo 'not: yaml: of ours' >"$src/README.yaml.txt"
git -C "$src" add -A && git -C "$src" -c user.name=t -c user.email=t@t commit -q -m A && git -C "$src" tag v1
# secrets stay out of git: absolute paths, below --root
sed 's|{file: secrets/|{file: /etc/mailrecon/secrets/|' "$B/state.yaml" >"$src/mail/state.yaml"
git -C "$src" add -A && git -C "$src" -c user.name=t -c user.email=t@t commit -q -m B
tree debian/hosting
mkdir -p "$tmp/root/etc/mailrecon/secrets" && cp "$B/secrets/"* "$tmp/root/etc/mailrecon/secrets/"
expect "apply -f git:REPO#v1:mail" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "git:$src#v1:mail"
expect "plan -f git:REPO#main:mail shows B" 0 '^  \+ mailbox hr@example\.com$' '' -- \
	"$bin" --root "$tmp/root" plan -f "git:$src#main:mail"
tree debian/hosting
sed -i 's/ip: "203.0.113.10"/ip: "203.0.113.99"/' "$src/mail/state.yaml" 2>/dev/null
git -C "$src" checkout -q v1 -- mail/state.yaml
sed -i 's/ip: "203.0.113.10"/ip: "203.0.113.99"/' "$src/mail/state.yaml"
git -C "$src" -c user.name=t -c user.email=t@t commit -q -am C
cid=$(git -C "$src" rev-parse HEAD)
expect "apply from a branch records the commit id" 0 'recorded revision' '' -- \
	"$bin" --root "$tmp/root" apply -f "git:$src#main:mail"
expect "... in the Desired-Source trailer" 0 "^Desired-Source: git:.*#main:mail \\(commit $cid\\)$" '' -- \
	"$bin" --root "$tmp/root" show HEAD
# a plan of a git source pins its commit: apply --plan reads exactly that one
tree debian/hosting
mkdir -p "$tmp/root/etc/mailrecon/secrets" && cp "$B/secrets/"* "$tmp/root/etc/mailrecon/secrets/"
"$bin" --root "$tmp/root" plan -f "git:$src#main:mail" --out "$tmp/git.plan" >/dev/null 2>&1
expect "the plan file names the source at its commit" 0 "\"path\":\"git:$src#$cid:mail\",\"exists\":true" '' -- cat "$tmp/git.plan"
sed -i 's/ip: "203.0.113.99"/ip: "203.0.113.77"/' "$src/mail/state.yaml"
git -C "$src" -c user.name=t -c user.email=t@t commit -q -am D
expect "apply --plan after the branch moved on applies the planned commit" 0 'Apply complete' '' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/git.plan" --allow-delete
expect "... its address, not the branch's newer one" 0 '^example\.com :203\.0\.113\.99$' '' -- cat "$tmp/root/etc/exim4/domainips"
expect "a git source at an unknown ref: exit 1" 1 '' "unknown ref 'nope'" -- "$bin" --root "$tmp/root" plan -f "git:$src#nope:mail"
# every command that takes -f reads git sources (dns did not)
expect "dns -f git:REPO#main:mail prints the records" 0 '_domainkey' '' -- "$bin" --root "$tmp/root" dns -f "git:$src#main:mail"
expect "validate -f git:REPO#main:mail" 0 '^valid: ' '' -- "$bin" --root "$tmp/root" validate -f "git:$src#main:mail"

# --- a corrupted or locked repository stops apply before any live file is touched ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$tmp/A" >/dev/null 2>&1
files_of "$tmp/root" >"$tmp/before"
touch "$git_repo/refs/heads/main.lock"
expect "a locked state repository: exit 1, nothing changed" 1 '' 'locked' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete
rm "$git_repo/refs/heads/main.lock"
head_tree=$(git --git-dir="$git_repo" rev-parse HEAD^{tree})
rm -f "$git_repo/objects/${head_tree:0:2}/${head_tree:2}"
expect "a corrupted state repository: exit 1" 1 '' 'state repository|corrupt|tree' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete
files_of "$tmp/root" >"$tmp/after"
expect "... and the live files were not touched" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"

# --- the commit fails after the switch: exit 1, and the next run records it ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$tmp/A" >/dev/null 2>&1
expect "a failed commit after the files were switched: exit 1, said" 1 '^Apply complete: ' 'revision is not recorded; the next run records it' -- \
	env MAILRECON_FAULT=commit:EIO "$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete
expect "... the files are applied" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$B"
expect "the next run records the pending revision first" 0 '' 'recorded the revision a previous apply could not commit' -- \
	"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete
expect "... as the apply's plan, not as drift" 0 '~user carol, ~domain example\.com, -mailbox archive@example\.com, \+mailbox hr@example\.com, and 8 more$' '' -- \
	sh -c "'$bin' --root '$tmp/root' log -n 1"

# --- log subjects name the objects; log --object NAME --actor NAME ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete >/dev/null 2>&1
rm -rf "$tmp/C" && cp -a "$B" "$tmp/C" && sed -i 's/aliases: \[sales, support\]/aliases: [sales, help]/' "$tmp/C/state.yaml"
expect "setup: alice changes info@'s aliases" 0 'Apply complete: 0 added, 1 changed' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/C" --actor alice
expect "one change: the subject is the object and what changed" 0 \
	'  alice +mailbox info@example\.com: \+alias help, -alias support$' '' -- "$bin" --root "$tmp/root" log -n 1
sed -i 's/max_size: 1G/max_size: 2G/' "$tmp/C/state.yaml"
expect "setup: bob changes hr@'s size" 0 'Apply complete: 0 added, 1 changed' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/C" --actor bob
expect "... its subject: mailbox hr@example.com: max_size=2G" 0 '  bob +mailbox hr@example\.com: max_size=2G$' '' -- \
	"$bin" --root "$tmp/root" log -n 1
printf '%s\n' 'mailbox info@example.com: +alias help, -alias support' \
	'~user carol, ~domain example.com, -mailbox archive@example.com, +mailbox hr@example.com, and 8 more' >"$tmp/want"
expect "log --object info@example.com: the two revisions that changed it, newest first" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' log --object info@example.com | cut -c51- | cmp - '$tmp/want'"
expect "log --object hr@example.com: bob's revision and the one that made it" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object hr@example.com | wc -l) -eq 2"
expect "log --object a domain: the revisions of its mailboxes too" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object example.com | wc -l) -eq 3"
expect "log --object does not match a longer name (example.com is not shop.example.com's)" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object shop.example.com | wc -l) -eq 1"
expect "log --object an address in another letter case: the same revisions" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' log --object INFO@Example.COM | cut -c51- | cmp - '$tmp/want'"
expect "log --object a domain in another letter case: the same three" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object Example.Com | wc -l) -eq 3"
expect "... still not a longer name in any case" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object SHOP.example.com | wc -l) -eq 1"
expect "a user name is matched as it is (user names are lower case)" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object carol | wc -l) -ge 1 && test -z \"\$('$bin' --root '$tmp/root' log --object CAROL)\""
expect "log --object of a name no revision has: nothing" 0 '' '' -- "$bin" --root "$tmp/root" log --object nobody@example.com
expect "log --actor alice" 0 '^[0-9a-f]{12}  [0-9T:Z-]+  alice +mailbox info@example\.com: ' '' -- \
	sh -c "'$bin' --root '$tmp/root' log --actor alice | grep -v '  alice  ' && exit 1; '$bin' --root '$tmp/root' log --actor alice"
expect "log --object example.com --actor bob: both filters" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/root' log --object example.com --actor bob >'$tmp/l' && test \$(wc -l <'$tmp/l') -eq 1 &&
		grep -q 'mailbox hr@example.com: max_size=2G' '$tmp/l'"
expect "log --object --json: the same revisions as JSON" 0 '^  \{"id":"[0-9a-f]{40}","time":"[^"]+","actor":"alice","subject":"mailbox info@example\.com: \+alias help, -alias support"\}$' '' -- \
	"$bin" --root "$tmp/root" log --object info@example.com --actor alice --json
expect "log --object with -n 1: the newest match only" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' log --object example.com -n 1 | wc -l) -eq 1"
# --- show --diff: the files' contents against the parent, password hashes masked ---
expect "show --diff: the lines the alias change made" 0 '^-support@example\.com:info@example\.com:fwd$' '' -- \
	"$bin" --root "$tmp/root" show --diff HEAD~1
expect "... and the added one, under its file's header" 0 '^\+help@example\.com:info@example\.com:fwd$' '' -- \
	sh -c "'$bin' --root '$tmp/root' show --diff HEAD~1 | sed -n '/^diff --git a\/etc\/exim4\/aliases b\/etc\/exim4\/aliases$/,\$p'"
expect "... only the files of that revision" 0 '' '' -- \
	sh -c "test \$('$bin' --root '$tmp/root' show --diff HEAD~1 | grep -c '^diff --git ') -eq 1"
rev=$("$bin" --root "$tmp/root" log --object newsletter@example.com -n 1 | cut -c1-12)
"$bin" --root "$tmp/root" show --diff "$rev" >"$tmp/showdiff"
expect "show --diff of a password change: the dovecot.passwd line with its hash masked" 0 \
	'^\+newsletter@example\.com:\{SHA512-CRYPT\}\(hash\):1001:1001::' '' -- cat "$tmp/showdiff"
git --git-dir="$git_repo" show "$rev:etc/dovecot/dovecot.passwd" "$rev~1:etc/dovecot/dovecot.passwd" |
	grep -v '^#' | cut -d: -f2 | sed 's/^{[A-Z0-9-]*}//' | grep -v '^$' >"$tmp/hashes"
expect "... and no password hash of either revision anywhere in it" 0 '' '' -- \
	sh -c "test \$(wc -l <'$tmp/hashes') -ge 8 && ! grep -qF -f '$tmp/hashes' '$tmp/showdiff'"
expect "... nor any crypt string" 0 '' '' -- sh -c "! grep -Eq '[\$](1|5|6|2[aby]|y)[\$]' '$tmp/showdiff'"
expect "show --diff of the baseline (no parent): every file added" 0 '^\+\+\+ b/etc/exim4/passwd$' '' -- \
	"$bin" --root "$tmp/root" show --diff "$(git --git-dir="$git_repo" rev-list --max-parents=0 HEAD)"
expect "show --diff of no such revision: exit 1" 1 '' 'show: ' -- "$bin" --root "$tmp/root" show --diff nosuchrev
expect "show without --diff prints no diff" 0 '' '' -- sh -c "! '$bin' --root '$tmp/root' show HEAD | grep -q '^diff --git'"

expect "log --object '': a usage error" 64 '' 'expected a name' -- "$bin" --root "$tmp/root" log --object ''

# --- a big first apply: the revision's message keeps about 1 MiB of the plan, the audit log
# every change, and the next run is not wedged by its own record ---
tree debian/hosting
awk 'BEGIN { print "version: 1\nusers:\n  bulk:\n    account: existing\ndomains:"
	for (d = 0; d < 40; d++) { printf "  bulk%d.example:\n    owner: bulk\n    mailboxes:\n", d
		for (m = 0; m < 200; m++) printf "      mailbox-with-a-long-name-%d:\n        password: {hash: \"{PLAIN}x\"}\n        max_size: 1G\n", m } }' \
	>"$tmp/bulk.yaml"
echo "bulk:x:4242:4242::/var/www/bulk:/usr/sbin/nologin" >>"$tmp/root/etc/passwd"
expect "a first apply of 8,000 mailboxes" 0 'Apply complete: 8041 added' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/bulk.yaml" --allow-delete
expect "... its revision's message is the plan cut at about 1 MiB, with what was left out said" 0 '' '' -- \
	sh -c "git --git-dir='$git_repo' log -1 --format=%B >'$tmp/msg' && test \$(wc -c <'$tmp/msg') -lt 1100000 &&
		test \$(wc -c <'$tmp/msg') -gt 1000000 &&
		grep -Eq '^\.\.\. and [0-9]+ more lines of the plan, not kept here: the audit log has a line for every change\.$' '$tmp/msg' &&
		grep -q '^Mailrecon-Version: ' '$tmp/msg'"
expect "... the audit log has a line for every mailbox made" 0 '' '' -- \
	sh -c "test \$(grep -c ' mailbox mailbox-with-a-long-name-[0-9]*@bulk[0-9]*\.example create\$' '$tmp/root/var/log/mailrecon.log') -eq 8000"
expect "... and the next apply has nothing to do" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/bulk.yaml" --allow-delete

# --- a line file history does not record (it holds a private key) is not drift ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$tmp/A" >/dev/null 2>&1
echo '# -----BEGIN PRIVATE KEY-----' >>"$tmp/root/etc/exim4/domains"
expect "apply records the edit as drift, without the file that holds a key" 0 'recorded drift as revision' \
	"'/.*/etc/exim4/domains' is not recorded in the state repository: it holds a private key" -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/A"
expect "... drift then finds no file changed since (it is not recorded, as apply left it)" 0 \
	'^No file changed since revision [0-9a-f]{12}\.$' '' -- "$bin" --root "$tmp/root" drift -f "$tmp/A"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
