#!/usr/bin/env bash
# --scope USER as design section 7 has it, on a sandbox root: the scope user's role, reseller
# and limits come from the live state, a user changes only its own objects and a reseller its
# users', limits hold over the live-plus-desired state (a reseller's totals included), and what
# an administrator disabled stays disabled (registry disabled_by=).  Issue 12, case 8 first.
# Usage: scope.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
root=$tmp/root
reg=$root/etc/mailrecon/registry

snapshot() { # every path below the root with size, mode, owner and mtime, and every file's hash
	(cd "$root" && find . -print0 | sort -z | xargs -0 stat -c '%n %s %a %u %g %Y' &&
		find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
mr() { "$bin" --root "$root" "$@"; }

H='{hash: "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6"}'
users='users:
  ann: {role: admin}
  bob: {role: reseller, limits: {mail_domains: 3, mailboxes: 4}}
  alice: {role: user, reseller: bob, limits: {mail_domains: 1, mailboxes: 4}}
  carol: {role: user, reseller: bob}'
# state FILE SPAM_DISABLED INFO_DISABLED [MORE ALICE MAILBOX LINES]: the whole server, as an
# administrator writes it
state() {
	cat >"$1" <<EOF
version: 1
$users
domains:
  alice.example:
    owner: alice
    mailboxes:
      info: {password: $H, disabled: $3}
      spam: {password: $H, disabled: $2}
${4:-}
  carol.example:
    owner: carol
    mailboxes:
      carol: {password: $H}
EOF
}

# --- the live server: alice (reseller bob, limits), bob, carol, and ann the admin; an
# unscoped run (an administrator) disables alice's spam@ ---
tree debian/empty
printf '%s\n' 'ann:x:1000:1000::/var/www/ann:/usr/sbin/nologin' 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin' \
	'carol:x:1002:1002::/var/www/carol:/usr/sbin/nologin' 'bob:x:1003:1003::/var/www/bob:/usr/sbin/nologin' \
	>>"$root/etc/passwd"
state "$tmp/admin.yaml" true false
expect "setup: the administrator's unscoped apply" 0 'disabled_by: root' '' -- \
	mr apply --no-reload -f "$tmp/admin.yaml"
expect "the registry records that a run without --scope disabled spam@" 0 '' '' -- \
	grep -qx 'mailbox spam@alice.example disabled_by=root' "$reg"

# --- case 8: alice's own file makes her an admin with limits 100, re-enables the mailbox
# the administrator disabled, and adds mailboxes over her reseller's total; carol is not in
# it (with --allow-delete, an admin's scope would delete her) ---
cat >"$tmp/alice.yaml" <<EOF
version: 1
users:
  alice:
    role: admin
    limits: {mail_domains: 100, mailboxes: 100}
domains:
  alice.example:
    owner: alice
    mailboxes:
      info: {password: $H}
      spam: {password: $H}
      new1: {password: $H}
      new2: {password: $H}
EOF
snapshot >"$tmp/before"
expect "case 8: alice's hostile file is refused, exit 3" 3 '' "alice\.yaml:4:11: error: user 'alice' cannot change its own role" -- \
	mr apply --no-reload --scope alice -f "$tmp/alice.yaml" --allow-delete
cp "$tmp/err" "$tmp/case8.err"
expect "case 8: limits.mail_domains 100 is refused where it is written" 0 '' '' -- \
	grep -q "alice\.yaml:5:28: error: user 'alice' cannot change its own limits\.mail_domains in its scope (live: 1, here: 100)" "$tmp/case8.err"
expect "case 8: limits.mailboxes 100 is refused where it is written" 0 '' '' -- \
	grep -q "alice\.yaml:5:44: error: user 'alice' cannot change its own limits\.mailboxes in its scope (live: 4, here: 100)" "$tmp/case8.err"
expect "case 8: the mailbox the administrator disabled stays disabled" 0 '' '' -- \
	grep -q "alice\.yaml:11:7: error: mailbox 'spam@alice\.example' was disabled by 'root'; 'alice' cannot enable it" "$tmp/case8.err"
expect "case 8: the mailbox over the reseller's total is refused" 0 '' '' -- \
	grep -q "alice\.yaml:13:7: error: the users of reseller 'bob' would own 5 mailboxes, over the limit of 4 (limits\.mailboxes)" "$tmp/case8.err"
expect "case 8: five errors, nothing else" 0 '' '' -- \
	sh -c "test \$(grep -c ': error: ' '$tmp/case8.err') -eq 5"
expect "case 8: the exit names the scope rules" 0 '' '' -- grep -q 'refused by the rules of --scope' "$tmp/case8.err"
snapshot >"$tmp/after"
expect "case 8: the live tree is byte for byte unchanged" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
expect "case 8: plan refuses the same way" 3 '' "alice\.yaml:11:7: error: mailbox 'spam@alice\.example' was disabled by 'root'" -- \
	mr plan --scope alice -f "$tmp/alice.yaml"

# --- alice within her rights ---
alice_file() { # alice_file FILE INFO_DISABLED [MORE MAILBOX LINES]
	cat >"$1" <<EOF
version: 1
users:
  alice:
    role: user
domains:
  alice.example:
    owner: alice
    mailboxes:
      info: {password: $H, disabled: $2}
      spam: {password: $H, disabled: true}
      new1: {password: $H}
${3:-}
EOF
}
alice_file "$tmp/alice-ok.yaml" false
expect "alice adds a mailbox within her limits and her reseller's" 0 '^Plan: 1 to add, 0 to change, 0 to destroy\.$' '' -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-ok.yaml"
expect "... carol is untouched" 0 '' '' -- grep -q '^carol@carol\.example:owner=carol$' "$root/etc/exim4/passwd"
expect "... and spam@ is still disabled by root" 0 '' '' -- grep -qx 'mailbox spam@alice.example disabled_by=root' "$reg"
snapshot >"$tmp/before"
expect "alice: the second apply changes nothing" 0 '^No changes\. The live server matches the desired state in this scope\.$' '' -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-ok.yaml"
snapshot >"$tmp/after"
expect "... and writes nothing" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
alice_file "$tmp/alice-dis.yaml" true
expect "alice disables her own mailbox" 0 'disabled_by: \(none\) -> alice' '' -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-dis.yaml"
expect "... the registry says she did" 0 '' '' -- grep -qx 'mailbox info@alice.example disabled_by=alice' "$reg"
expect "... and she enables it again" 0 'disabled_by: alice -> \(none\)' '' -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-ok.yaml"
expect "... the registry line is gone with it" 1 '' '' -- grep -q 'info@alice.example' "$reg"
alice_file "$tmp/alice-new2.yaml" false '      new2: {password: '"$H"'}'
expect "alice cannot go over her reseller's total" 3 '' \
	"alice-new2\.yaml:12:7: error: the users of reseller 'bob' would own 5 mailboxes, over the limit of 4" -- \
	mr plan --scope alice -f "$tmp/alice-new2.yaml"
cat >"$tmp/alice-carol.yaml" <<EOF
version: 1
users:
  alice: {role: user}
  carol: {role: user}
domains:
  carol.example:
    owner: alice
    mailboxes:
      carol: {password: $H}
EOF
expect "alice cannot declare carol or take her domain" 3 '' "alice-carol\.yaml:4:3: error: user 'carol' is outside the scope of 'alice'" -- \
	mr plan --scope alice -f "$tmp/alice-carol.yaml"
cp "$tmp/err" "$tmp/carol.err"
expect "... the domain is refused too" 0 '' '' -- \
	grep -q "alice-carol\.yaml:6:3: error: domain 'carol\.example' is live and owned by 'carol', outside the scope of 'alice'" "$tmp/carol.err"

# --- a domain the panel made (a domains line, no registry line, no mailbox): alice makes
# /var/www/alice/data/email/panel.example in her own tree, and the live state reads her as its
# owner; she still cannot take it in her scope, or delete it ---
printf 'panel.example: :fail: No such user here\n' >>"$root/etc/exim4/domains"
mkdir -p "$root/var/www/alice/data/email/panel.example"
expect "an owner from a directory: import shows it as before" 0 '^  panel\.example:$' '' -- sh -c \
	"'$bin' --root '$root' import 2>/dev/null | grep -A1 '^  panel\.example:\$' | grep -qx '    owner: alice' && echo '  panel.example:'"
{ cat "$tmp/alice-ok.yaml"; printf '%s\n' '  panel.example:' '    owner: alice' '    default_action: {forward: x@elsewhere.example}'; } \
	>"$tmp/alice-panel.yaml"
expect "alice cannot declare a domain her own directory names her the owner of" 3 '' \
	"alice-panel\.yaml:13:3: error: domain 'panel\.example' is live and its owner is known only from the directory /var/www/alice/data/email/panel\.example, which a tenant can make; only an administrator can declare it" -- \
	mr plan --scope alice -f "$tmp/alice-panel.yaml"
cp "$tmp/err" "$tmp/panel.err"
expect "... one error, nothing else" 0 '' '' -- sh -c "test \$(grep -c ': error: ' '$tmp/panel.err') -eq 1"
expect "... apply refuses it the same way" 3 '' "alice-panel\.yaml:13:3: error: domain 'panel\.example' is live and its owner is known only" -- \
	mr apply -q --no-reload --scope alice -f "$tmp/alice-panel.yaml"
expect "... and the domain still rejects, for no one's mailbox" 0 '' '' -- \
	sh -c "grep -qx 'panel.example: :fail: No such user here' '$root/etc/exim4/domains' && ! grep -q panel '$reg'"
expect "alice's scope does not delete it either" 0 '^No changes\.' '' -- mr plan --scope alice -f "$tmp/alice-ok.yaml"
cat "$tmp/out" "$tmp/err" >"$tmp/panel.txt"
expect "... (nothing of panel.example in her plan)" 1 '' '' -- grep -q 'panel\.example' "$tmp/panel.txt"
expect "her scoped import leaves it out" 1 '' '' -- sh -c "'$bin' --root '$root' import --scope alice 2>/dev/null | grep -q panel"
{ sed -n '1,/^domains:$/p' "$tmp/admin.yaml"; sed -n '/^  panel\.example:$/,$p' "$tmp/alice-panel.yaml"; } >"$tmp/ann-panel.yaml"
expect "an admin's scope may declare it" 0 '^  ~ domain panel\.example$' '' -- mr plan --scope ann -f "$tmp/ann-panel.yaml"
sed -i '/^panel\.example: /d' "$root/etc/exim4/domains"
rmdir "$root/var/www/alice/data/email/panel.example"
expect "(the panel's domain goes again)" 0 '' '' -- mr apply -q --no-reload --scope alice -f "$tmp/alice-ok.yaml"

# --- send limits: Exim reads a mailbox's rate_per_hour before its owner's, so alice's file may
# not give a mailbox more than the limit an administrator gave her (ratelimits alice:50) ---
rl=$root/etc/exim4/ratelimits
rl_had=0; [ -e "$rl" ] && rl_had=1 && cp -p "$rl" "$tmp/ratelimits.saved"
printf 'alice:50\n' >>"$rl"
rate_file() { sed "s/^      new1: {password: \(.*\)}\$/      new1: {password: \1, rate_per_hour: $2}/" "$tmp/alice-ok.yaml" >"$1"; }
rate_file "$tmp/alice-rate.yaml" 1000000
expect "alice cannot give a mailbox a send limit over her own" 3 '' \
	"alice-rate\.yaml:11:[0-9]+: error: rate_per_hour 1000000 of 'new1@alice\.example' is over the send limit of its owner 'alice' \(limits\.rate_per_hour: 50\)" -- \
	mr plan --scope alice -f "$tmp/alice-rate.yaml"
rate_file "$tmp/alice-rate.yaml" 50
expect "... a limit within hers is hers to give" 0 'rate_per_hour: \(not set\) -> 50' '' -- mr plan --scope alice -f "$tmp/alice-rate.yaml"
printf 'alice:0\n' >"$rl"
rate_file "$tmp/alice-rate.yaml" 1
expect "an owner whose mailboxes cannot send: no mailbox of hers gets a rate" 3 '' \
	"alice-rate\.yaml:11:[0-9]+: error: rate_per_hour 1 of 'new1@alice\.example' is over the send limit of its owner 'alice' \(limits\.rate_per_hour: 0, its mailboxes cannot send\)" -- \
	mr plan --scope alice -f "$tmp/alice-rate.yaml"
# 1, like 0, means "cannot send" (the panel's rule, and contrib's Exim ACL): the error says so too
printf 'alice:1\n' >"$rl"
rate_file "$tmp/alice-rate.yaml" 2
expect "an owner limited to 1: her mailboxes cannot send either, and the error says so" 3 '' \
	"alice-rate\.yaml:11:[0-9]+: error: rate_per_hour 2 of 'new1@alice\.example' is over the send limit of its owner 'alice' \(limits\.rate_per_hour: 1, its mailboxes cannot send\)" -- \
	mr plan --scope alice -f "$tmp/alice-rate.yaml"
printf 'alice:50\nnew1@alice.example:100\n' >"$rl"
rate_file "$tmp/alice-rate.yaml" 100
expect "a rate an administrator gave over the limit may stay" 0 '^No changes\.' '' -- mr plan --scope alice -f "$tmp/alice-rate.yaml"
rate_file "$tmp/alice-rate.yaml" 101
expect "... not grow" 3 '' "alice-rate\.yaml:11:[0-9]+: error: rate_per_hour 101 of 'new1@alice\.example' is over" -- \
	mr plan --scope alice -f "$tmp/alice-rate.yaml"
expect "an unscoped run may give any rate" 0 'rate_per_hour: 100 -> 101' '' -- mr plan -f "$tmp/alice-rate.yaml"
if [ $rl_had = 1 ]; then cp -p "$tmp/ratelimits.saved" "$rl"; else rm "$rl"; fi

# --- bob, the reseller: his users' objects, within his total ---
bob_file() { # bob_file FILE INFO_DISABLED SPAM_DISABLED [MORE CAROL MAILBOX LINES]
	cat >"$1" <<EOF
version: 1
users:
  bob: {role: reseller}
  alice: {role: user, reseller: bob, limits: {mail_domains: 1, mailboxes: 4}}
  carol: {role: user}
domains:
  alice.example:
    owner: alice
    mailboxes:
      info: {password: $H, disabled: $2}
      spam: {password: $H, disabled: $3}
      new1: {password: $H}
  carol.example:
    owner: carol
    mailboxes:
      carol: {password: $H}
${4:-}
EOF
}
bob_file "$tmp/bob-dis.yaml" true true
expect "bob disables alice's mailbox" 0 'disabled_by: \(none\) -> bob' '' -- mr apply --no-reload --scope bob -f "$tmp/bob-dis.yaml"
expect "... the registry says bob did" 0 '' '' -- grep -qx 'mailbox info@alice.example disabled_by=bob' "$reg"
expect "... carol keeps bob as her reseller" 0 '' '' -- grep -qx 'user carol role=user reseller=bob' "$reg"
snapshot >"$tmp/before"
expect "alice cannot enable what bob disabled" 3 '' \
	"alice-ok\.yaml:9:7: error: mailbox 'info@alice\.example' was disabled by 'bob'; 'alice' cannot enable it" -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-ok.yaml"
snapshot >"$tmp/after"
expect "... and nothing was written" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
bob_file "$tmp/bob-spam.yaml" false false
expect "bob cannot enable what the administrator disabled" 3 '' \
	"bob-spam\.yaml:11:7: error: mailbox 'spam@alice\.example' was disabled by 'root'; 'bob' cannot enable it" -- \
	mr plan --scope bob -f "$tmp/bob-spam.yaml"
bob_file "$tmp/bob-ok.yaml" false true
expect "bob enables what he disabled" 0 'disabled_by: bob -> \(none\)' '' -- mr apply --no-reload --scope bob -f "$tmp/bob-ok.yaml"
expect "alice disables her mailbox again" 0 '^Apply complete: ' '' -- mr apply -q --no-reload --scope alice -f "$tmp/alice-dis.yaml"
expect "bob enables what his user alice disabled" 0 'disabled_by: alice -> \(none\)' '' -- \
	mr apply --no-reload --scope bob -f "$tmp/bob-ok.yaml"
bob_file "$tmp/bob-over.yaml" false true '      c2: {password: '"$H"'}'
snapshot >"$tmp/before"
expect "bob cannot go over his own total" 3 '' \
	"bob-over\.yaml:17:7: error: the users of reseller 'bob' would own 5 mailboxes, over the limit of 4" -- \
	mr apply --no-reload --scope bob -f "$tmp/bob-over.yaml"
snapshot >"$tmp/after"
expect "... and nothing was written" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
sed 's/^  bob: {role: reseller}$/  bob: {role: reseller, limits: {mailboxes: 9}}/' "$tmp/bob-over.yaml" >"$tmp/bob-raise.yaml"
expect "bob cannot raise his own limit" 3 '' \
	"bob-raise\.yaml:3:45: error: user 'bob' cannot change its own limits\.mailboxes in its scope \(live: 4, here: 9\)" -- \
	mr plan --scope bob -f "$tmp/bob-raise.yaml"
sed 's/^  carol: {role: user}$/  carol: {role: admin}/' "$tmp/bob-ok.yaml" >"$tmp/bob-admin.yaml"
expect "bob cannot make his user an admin" 3 '' \
	"bob-admin\.yaml:5:17: error: user 'carol' in the scope of reseller 'bob' must have role user, not admin" -- \
	mr plan --scope bob -f "$tmp/bob-admin.yaml"

# --- a limit an administrator lowered below the use: the run may keep, not add ---
sed -i 's/^user alice role=user reseller=bob mail_domains=1 mailboxes=4$/user alice role=user reseller=bob mail_domains=1 mailboxes=1/' "$reg"
sed 's/^      new1: {password: \(.*\)}$/      new1: {password: \1, note: "kept"}/' "$tmp/alice-ok.yaml" >"$tmp/alice-note.yaml"
expect "alice over a lowered limit may still change her mailboxes" 0 'note: \(none\) -> kept' '' -- \
	mr apply --no-reload --scope alice -f "$tmp/alice-note.yaml"
alice_file "$tmp/alice-new2.yaml" false '      new2: {password: '"$H"'}'
expect "... but not add one" 3 '' "alice-new2\.yaml:12:7: error: user 'alice' would own 4 mailboxes, over the limit of 1" -- \
	mr plan --scope alice -f "$tmp/alice-new2.yaml"
sed -i 's/^user alice role=user reseller=bob mail_domains=1 mailboxes=1$/user alice role=user reseller=bob mail_domains=1 mailboxes=4/' "$reg"

# --- import and plan agree, scoped or not, with disabled_by in the registry ---
expect "the registry has a disabled_by line to import" 0 '' '' -- grep -qx 'mailbox spam@alice.example disabled_by=root' "$reg"
for who in '' alice bob ann; do
	opt=${who:+--scope $who}
	mr import $opt >"$tmp/import.yaml" 2>"$tmp/import.err"
	expect "import ${who:-(no scope)}, then plan: No changes." 0 '^No changes\.' '' -- mr plan $opt -f "$tmp/import.yaml"
done

# --- an admin's scope and an unscoped run may enable anything ---
new1='      new1: {password: '"$H"', note: "kept"}'
state "$tmp/ann.yaml" false false "$new1"
expect "ann (admin) enables what root disabled" 0 'disabled_by: root -> \(none\)' '' -- \
	mr apply --no-reload --scope ann -f "$tmp/ann.yaml"
expect "... and the registry line goes" 1 '' '' -- grep -q 'spam@alice.example' "$reg"
state "$tmp/root-dis.yaml" true false "$new1"
expect "an unscoped run disables spam@ again" 0 '^Apply complete: ' '' -- mr apply -q --no-reload -f "$tmp/root-dis.yaml"
expect "... recorded as root" 0 '' '' -- grep -qx 'mailbox spam@alice.example disabled_by=root' "$reg"
expect "an unscoped run may enable anything" 0 'disabled_by: root -> \(none\)' '' -- mr apply --no-reload -f "$tmp/ann.yaml"

# --- a disabled_by for a mailbox that is not disabled (an edit outside mailrecon) ---
printf 'mailbox info@alice.example disabled_by=bob\n' >>"$reg"
expect "a stale disabled_by is a finding, and no reason to refuse alice" 0 \
	"registry:[0-9]+:1: warning: mailbox 'info@alice\.example' is not disabled, but the registry says disabled_by=bob; ignored" '' -- \
	mr plan --scope alice -f "$tmp/alice-note.yaml"
expect "... and the next apply drops it" 0 'registry: 0 lines added, 0 changed, 1 removed' '' -- \
	mr apply --no-reload -f "$tmp/ann.yaml"
expect "... for good" 0 '^No changes\.' '' -- mr plan -f "$tmp/ann.yaml"

# --- TLS server names: one name, one certificate; a scope cannot take the name of a domain
# outside it (ann's mail.ann.example) for its own certificate ---
{ cat "$tmp/ann.yaml"; printf '%s\n' '  ann.example:' '    owner: ann' '    ssl: {alias: mail.ann.example}'; } >"$tmp/ann-ssl.yaml"
expect "setup: ann's domain serves TLS as mail.ann.example" 0 '^Apply complete: ' '' -- mr apply -q --no-reload -f "$tmp/ann-ssl.yaml"
expect "... in the SNI map" 0 '' '' -- grep -qx 'mail.ann.example: ann.example' "$root/etc/exim4/mailrecon-sni"
sni_file() { sed "s/^    owner: alice\$/    owner: alice\n    ssl: {alias: $2}/" "$tmp/alice-note.yaml" >"$1"; }
sni_file "$tmp/alice-sni.yaml" mail.ann.example
expect "alice cannot take the ssl alias of a domain outside her scope" 3 '' \
	"alice-sni\.yaml:8:18: error: ssl alias 'mail\.ann\.example' is also the ssl alias of domain 'ann\.example', outside the scope of 'alice'" -- \
	mr plan --scope alice -f "$tmp/alice-sni.yaml"
sni_file "$tmp/alice-sni.yaml" ann.example
expect "... nor its name" 3 '' \
	"alice-sni\.yaml:8:18: error: ssl alias 'ann\.example' is the name of domain 'ann\.example', outside the scope of 'alice'" -- \
	mr plan --scope alice -f "$tmp/alice-sni.yaml"
sni_file "$tmp/alice-sni.yaml" mail.alice.example
expect "... her own host name is hers" 0 '^  \+ certificate alice\.example$' '' -- mr plan --scope alice -f "$tmp/alice-sni.yaml"
{ cat "$tmp/bob-ok.yaml"; printf '%s\n' '  mail.ann.example:' '    owner: carol' '    ssl: {alias: mail.carol.example}'; } \
	>"$tmp/bob-sni.yaml"
expect "bob cannot declare a domain named as the ssl alias of a domain outside his scope" 3 '' \
	"bob-sni\.yaml:18:3: error: domain 'mail\.ann\.example' is the ssl alias of domain 'ann\.example', outside the scope of 'bob'" -- \
	mr plan --scope bob -f "$tmp/bob-sni.yaml"

# --- what a scoped file names is read as root: only files below its own directory, never an
# absolute path (another tenant's key, /etc/shadow) nor root's environment; and nothing of those
# is read before the refusal, so the answer says nothing about them ---
printf 'root:$6$rootsecrethash:19000:0:99999:7:::\n' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
mkdir -p "$tmp/tenant"
pw_file() { # pw_file FILE PASSWORD-MAPPING [FROM]: alice-note (or FROM) with new1's password replaced
	sed "s|^      new1: {password: {hash: \"[^\"]*\"}|      new1: {password: $2|" "${3:-$tmp/alice-note.yaml}" >"$1"
	grep -qF "new1: {password: $2" "$1"
}
pw_file "$tmp/tenant/abs.yaml" '{file: /etc/shadow}'
expect "a scoped {file:} with an absolute path is refused where it is written" 3 '' \
	"abs\.yaml:11:31: error: the password of 'new1@alice\.example' names the absolute path '/etc/shadow': a --scope file may name only files below its own directory \(a relative path\)" -- \
	mr plan --scope alice -f "$tmp/tenant/abs.yaml"
sed 's|/etc/shadow|PATH|' "$tmp/err" >"$tmp/abs-exists.err"
pw_file "$tmp/tenant/abs.yaml" '{file: /etc/no-such-file}'
expect "... and a missing file gets the same answer (no existence oracle)" 3 '' "names the absolute path '/etc/no-such-file'" -- \
	mr plan --scope alice -f "$tmp/tenant/abs.yaml"
sed 's|/etc/no-such-file|PATH|' "$tmp/err" >"$tmp/abs-missing.err"
expect "... word for word" 0 '' '' -- cmp "$tmp/abs-exists.err" "$tmp/abs-missing.err"
expect "... apply refuses it too, nothing read" 3 '' "abs\.yaml:11:31: error: the password of 'new1@alice\.example' names the absolute path" -- \
	mr apply -q --no-reload --scope alice -f "$tmp/tenant/abs.yaml"
expect "... one error, and no 'cannot read'" 0 '' '' -- sh -c "! grep -q 'cannot read' '$tmp/abs-missing.err' && test \$(grep -c ': error: ' '$tmp/abs-missing.err') -eq 1"
pw_file "$tmp/tenant/env.yaml" '{env: CI_DEPLOY_TOKEN}'
expect "a scoped {env:} is refused" 3 '' \
	"env\.yaml:11:30: error: the password of 'new1@alice\.example' names the environment variable 'CI_DEPLOY_TOKEN': a --scope file cannot" -- \
	env CI_DEPLOY_TOKEN=hunter2 "$bin" --root "$root" plan --scope alice -f "$tmp/tenant/env.yaml"
cp "$tmp/err" "$tmp/env-set.err"
expect "... the same whether it is set or not" 3 '' 'names the environment variable' -- \
	env -u CI_DEPLOY_TOKEN "$bin" --root "$root" plan --scope alice -f "$tmp/tenant/env.yaml"
cp "$tmp/err" "$tmp/env-unset.err"
expect "... word for word" 0 '' '' -- cmp "$tmp/env-set.err" "$tmp/env-unset.err"
sed 's/^    owner: alice$/    owner: alice\n    ssl: {alias: mail.alice.example, certificate: {cert: \/etc\/exim4\/ssl\/ann.example.crt, key: \/etc\/exim4\/ssl\/ann.example.key}}/' \
	"$tmp/alice-note.yaml" >"$tmp/tenant/cert.yaml"
expect "scoped certificate files with absolute paths are refused" 3 '' \
	"cert\.yaml:8:58: error: the certificate of 'alice\.example' names the absolute path '/etc/exim4/ssl/ann\.example\.crt'" -- \
	mr plan --scope alice -f "$tmp/tenant/cert.yaml"
cp "$tmp/err" "$tmp/cert.err"
expect "... the key too" 0 '' '' -- \
	grep -q "cert\.yaml:8:95: error: the certificate key of 'alice\.example' names the absolute path '/etc/exim4/ssl/ann\.example\.key'" "$tmp/cert.err"
sed 's/^    owner: alice$/    owner: alice\n    ssl: {certificate: letsencrypt}/' "$tmp/alice-note.yaml" >"$tmp/tenant/le.yaml"
expect "a scoped certificate: letsencrypt is refused (certbot's tree is root's)" 3 '' \
	"le\.yaml:8:24: error: the certificate of 'alice\.example' is 'letsencrypt': certbot's tree /etc/letsencrypt is root's, and a --scope file may name only files below its own directory" -- \
	mr plan --scope alice -f "$tmp/tenant/le.yaml"
printf 'Tenant-Pass-1\n' >"$tmp/tenant/new1.pw"
pw_file "$tmp/tenant/rel.yaml" '{file: new1.pw}'
expect "a file below the scoped file's own directory is hers to name" 0 'password: \(set\) -> \(changed\)' '' -- \
	mr plan --scope alice -f "$tmp/tenant/rel.yaml"
pw_file "$tmp/root-abs.yaml" '{file: /etc/shadow}' "$tmp/ann-ssl.yaml"
expect "without --scope, an absolute path is read below --root as before" 0 'password: \(set\) -> \(changed\)' '' -- \
	mr plan -f "$tmp/root-abs.yaml"

# --- a scoped file may sit in the tenant's tree: -f never follows her links there ---
mkdir -p "$tmp/decoy" "$tmp/atree/mr"
printf 'S3cr3t-of-root: x\n' >"$tmp/decoy/shadow" # YAML whose errors would quote it
cp "$tmp/alice-note.yaml" "$tmp/atree/mr/alice.yaml"
ln -s "$tmp/decoy/shadow" "$tmp/atree/mr/z.yaml"
expect "a linked file in a scoped -f directory is refused, unread" 1 '' \
	"'$tmp/atree/mr/z\.yaml' is a symbolic link; refused \(mailrecon never follows one\)" -- \
	mr plan --scope alice -f "$tmp/atree/mr"
cat "$tmp/out" "$tmp/err" >"$tmp/link.txt"
expect "... none of its bytes is shown" 1 '' '' -- grep -q 'S3cr3t' "$tmp/link.txt"
rm "$tmp/atree/mr/z.yaml"
expect "(the same directory without the link is hers)" 0 '^Plan: ' '' -- mr plan --scope alice -f "$tmp/atree/mr"
ln -s "$tmp/decoy/shadow" "$tmp/atree/link.yaml"
expect "with --scope, an -f argument that is a link is refused" 1 '' \
	"'$tmp/atree/link\.yaml' is a symbolic link; refused \(with --scope, -f never follows one\)" -- \
	mr plan --scope alice -f "$tmp/atree/link.yaml"
cat "$tmp/out" "$tmp/err" >"$tmp/link.txt"
expect "... none of its bytes is shown" 1 '' '' -- grep -q 'S3cr3t' "$tmp/link.txt"
ln -s "$tmp/atree/mr" "$tmp/atree/dirlink"
expect "... a link to a directory too" 1 '' "'$tmp/atree/dirlink' is a symbolic link; refused" -- \
	mr plan --scope alice -f "$tmp/atree/dirlink"
expect "without --scope, the operator's link is followed" 0 '^Plan: ' '' -- mr plan -f "$tmp/atree/dirlink"
expect "with --scope, a link at any level of -f is refused" 1 '' \
	"'$tmp/atree/dirlink/alice\.yaml' is reached through the symbolic link '$tmp/atree/dirlink'; refused \(with --scope, -f never follows one, at any level\)" -- \
	mr plan --scope alice -f "$tmp/atree/dirlink/alice.yaml"
expect "... a relative -f too (from the working directory)" 1 '' "is reached through the symbolic link '$tmp/atree/dirlink'; refused" -- \
	sh -c "cd '$tmp/atree' && '$bin' --root '$root' plan --scope alice -f dirlink/alice.yaml"
expect "... where '..' is text: the link it names is not gone through" 0 '^Plan: ' '' -- \
	sh -c "cd '$tmp/atree' && '$bin' --root '$root' plan --scope alice -f dirlink/../mr/alice.yaml"
expect "without --scope, such a link is followed" 0 '^Plan: ' '' -- mr plan -f "$tmp/atree/dirlink/alice.yaml"

# --- what a scoped file names is read below the very directory the file was read from: held
# open from the read on, never looked up by its name again (MAILRECON_TEST_AFTER_READ acts
# between the read and everything after: validate, both plans, staging) ---
mkdir -p "$tmp/bobdir" "$tmp/race/mr" "$tmp/check"
printf 'Bob-Secret-7\n' >"$tmp/bobdir/pw"
chmod 700 "$tmp/bobdir" && chmod 600 "$tmp/bobdir/pw"
pw_file "$tmp/race/mr/alice.yaml" '{file: pw}'
printf 'Alice-Own-1\n' >"$tmp/race/mr/pw"
cp "$tmp/race/mr/alice.yaml" "$tmp/check/alice.yaml"
swap="mv '$tmp/race/mr' '$tmp/race/mr.old' && ln -s '$tmp/bobdir' '$tmp/race/mr'"
expect "alice's directory swapped for a link to another after her file is read: the apply goes on below hers" 0 '^Apply complete: ' '' -- \
	env MAILRECON_TEST_AFTER_READ="$swap" "$bin" --root "$root" apply -q --no-reload --scope alice -f "$tmp/race/mr/alice.yaml"
expect "(the swap happened)" 0 '' '' -- test -L "$tmp/race/mr"
printf 'Alice-Own-1\n' >"$tmp/check/pw"
expect "... new1's password is hers" 0 '^No changes\.' '' -- mr plan --scope alice -f "$tmp/check/alice.yaml"
printf 'Bob-Secret-7\n' >"$tmp/check/pw"
expect "... not the other directory's" 0 'password: \(set\) -> \(changed\)' '' -- mr plan --scope alice -f "$tmp/check/alice.yaml"
rm "$tmp/race/mr" && mv "$tmp/race/mr.old" "$tmp/race/mr"
ln -s "$tmp/bobdir" "$tmp/race/mr/keys"
pw_file "$tmp/race/mr/keys.yaml" '{file: keys/pw}'
expect "a scoped {file:} reached through a link is refused where it is written, naming her directory: exit 3" 3 '' \
	"keys\.yaml:11:31: error: cannot read password file 'keys/pw': '$tmp/race/mr/keys/pw' is reached through the symbolic link '$tmp/race/mr/keys'; refused \(mailrecon never follows one\); a --scope file may name only files in or below its own directory '$tmp/race/mr', reached without a symbolic link" -- \
	mr plan --scope alice -f "$tmp/race/mr/keys.yaml"
cat "$tmp/out" "$tmp/err" >"$tmp/keys.txt"
expect "... the exit names the scope rules" 0 '' '' -- grep -q 'refused by the rules of --scope' "$tmp/keys.txt"
expect "... none of the other file's bytes is shown" 1 '' '' -- grep -q 'Bob-Secret' "$tmp/keys.txt"
snapshot >"$tmp/before"
expect "... apply refuses it the same way" 3 '' "keys\.yaml:11:31: error: cannot read password file 'keys/pw'" -- \
	mr apply -q --no-reload --scope alice -f "$tmp/race/mr/keys.yaml"
snapshot >"$tmp/after"
expect "... and writes nothing" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
expect "without --scope, it is an error as before (exit 1)" 1 '' "keys\.yaml:11:31: error: cannot read password file '$tmp/race/mr/keys/pw'" -- \
	mr plan -f "$tmp/race/mr/keys.yaml"
expect "(alice's new1 back as it was)" 0 '^Apply complete: ' '' -- mr apply -q --no-reload --scope alice -f "$tmp/alice-note.yaml"

# --- a reseller's new users: new accounts, never a system account that exists already (another
# tenant of the panel, an operator's login), which only an administrator gives a reseller ---
printf '%s\n' 'dora:x:1004:1004::/var/www/dora:/usr/sbin/nologin' >>"$root/etc/passwd"
new_user() { # new_user FILE NAME ACCOUNT
	{ sed "s/^  carol: {role: user}\$/  carol: {role: user}\n  $2: {account: $3}/" "$tmp/bob-ok.yaml"
	  printf '%s\n' "  $2.example:" "    owner: $2"; } >"$1"
}
new_user "$tmp/bob-dora.yaml" dora existing
expect "bob cannot adopt a system account nobody gave him" 3 '' \
	"bob-dora\.yaml:6:3: error: user 'dora' has a system account; an administrator must give it to 'bob' first" -- \
	mr plan --scope bob -f "$tmp/bob-dora.yaml"
new_user "$tmp/bob-dora.yaml" dora create
expect "... not with 'account: create' either" 3 '' "bob-dora\.yaml:6:3: error: user 'dora' has a system account" -- \
	mr plan --scope bob -f "$tmp/bob-dora.yaml"
new_user "$tmp/bob-erin.yaml" erin create
expect "a new account is his to make" 0 '^  \+ user erin$' '' -- mr plan --scope bob -f "$tmp/bob-erin.yaml"
{ cat "$tmp/ann-ssl.yaml"; printf '%s\n' '  dora.example:' '    owner: dora'; } |
	sed 's/^  carol: {role: user, reseller: bob}$/  carol: {role: user, reseller: bob}\n  dora: {role: user, reseller: bob}/' >"$tmp/ann-dora.yaml"
expect "an administrator gives dora to bob" 0 '^Apply complete: ' '' -- mr apply -q --no-reload -f "$tmp/ann-dora.yaml"
new_user "$tmp/bob-dora.yaml" dora existing
expect "... then she is his" 0 '^Plan: ' '' -- mr plan --scope bob -f "$tmp/bob-dora.yaml"

# --- findings: a scoped plan or import shows only those about the scope's objects (carol's
# password stored in clear is not alice's business) ---
dp=$root/etc/dovecot/dovecot.passwd
cp -p "$dp" "$tmp/dovecot.saved"
sed -i 's/^carol@carol\.example:{CRAM-MD5}[0-9a-f]*:/carol@carol.example:{PLAIN}Carol-Secret-1:/' "$dp"
rl_had=0; [ -e "$rl" ] && rl_had=1 && cp -p "$rl" "$tmp/ratelimits.saved"
printf 'ghost@alice.example:5\nghost@carol.example:5\n' >>"$rl"
expect "(setup: the findings are there)" 0 "send limit for 'ghost@carol\.example'" "password of 'carol@carol\.example' is stored in clear" -- \
	sh -c "'$bin' --root '$root' plan -f '$tmp/ann-dora.yaml'; '$bin' --root '$root' import >/dev/null"
expect "alice's plan shows her finding" 0 "send limit for 'ghost@alice\.example', which is not a mailbox" '' -- \
	mr plan --scope alice -f "$tmp/alice-note.yaml"
cat "$tmp/out" "$tmp/err" >"$tmp/findings.txt"
expect "... and none about carol's objects" 1 '' '' -- grep -q 'carol' "$tmp/findings.txt"
expect "... in JSON too" 0 'ghost@alice\.example' '' -- mr plan --json --scope alice -f "$tmp/alice-note.yaml"
cp "$tmp/out" "$tmp/findings.json"
expect "... (none about carol)" 1 '' '' -- grep -q 'carol' "$tmp/findings.json"
expect "alice's import shows her finding" 0 '^users:' "send limit for 'ghost@alice\.example'" -- mr import --scope alice
cp "$tmp/err" "$tmp/findings.err"
expect "... and none about carol's objects" 1 '' '' -- grep -q 'carol' "$tmp/findings.err"
expect "bob's scope holds carol's mailbox: he sees it" 0 '^users:' "password of 'carol@carol\.example' is stored in clear" -- \
	mr import --scope bob
expect "an admin's scope sees every finding" 0 "send limit for 'ghost@carol\.example'" '' -- \
	mr plan --scope ann -f "$tmp/ann-dora.yaml"
cp -p "$tmp/dovecot.saved" "$dp"
if [ $rl_had = 1 ]; then cp -p "$tmp/ratelimits.saved" "$rl"; else rm "$rl"; fi

# --- who may be a scope ---
cat >"$tmp/dave.yaml" <<EOF
version: 1
users:
  dave: {role: admin}
domains:
  dave.example:
    owner: dave
    mailboxes:
      dave: {password: $H}
EOF
expect "a scope user that is not live: exit 3" 3 '' "dave\.yaml:3:3: error: scope user 'dave' is not a live user" -- \
	mr plan --scope dave -f "$tmp/dave.yaml"
expect "--scope root is reserved" 1 '' "--scope 'root': the name is reserved" -- mr apply --scope root -f "$tmp/ann.yaml"
sed 's/^  dave: {role: admin}$/  root: {role: admin}/; s/owner: dave/owner: root/' "$tmp/dave.yaml" >"$tmp/root-user.yaml"
expect "a user named root is refused by the validator" 1 '' "root-user\.yaml:3:3: error: user name 'root' is reserved" -- \
	mr validate -f "$tmp/root-user.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
