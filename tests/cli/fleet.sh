#!/usr/bin/env bash
# The fleet (issue 18, docs/fleet.md): server.hosts and host: as validate checks them across the
# whole fleet, and --host on two sandbox roots playing mx1 and mx2: each gets only its own
# domains, mail to the other's routes as remote, a domain moved from mx1 to mx2 is a deletion
# on mx1 ("moved to host mx2") and a creation on mx2, and the metrics carry the host.
# Usage: fleet.sh MAILRECON REPO_ROOT [NODE]
set -u
bin=$1
repo=$2
node=${3:-node}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
F=$repo/examples/fleet
inv=$repo/tests/fixtures/invalid

# ---- validate: the whole fleet ----
expect "the fleet example is valid, every host's domains counted" 0 \
	'^valid: 3 users, 4 domains, 4 mailboxes in 3 files$' '' -- "$bin" validate -f "$F"
expect "validate ignores --host: still the whole fleet" 0 '^valid: 3 users, 4 domains,' '' -- \
	"$bin" --host mx1 validate -f "$F"
expect "... even a --host that is not in server.hosts" 0 '^valid: 3 users, 4 domains,' '' -- \
	"$bin" --host nowhere validate -f "$F"
expect "a domain without host: file:line:col" 1 '' \
	"fleet-domain-without-host.yaml:10:3: error: domain 'example.net' has no 'host': server.hosts is set, so each domain is placed on one of mx1, mx2" -- \
	"$bin" validate -f "$inv/fleet-domain-without-host.yaml"
expect "a host not in server.hosts: did you mean" 1 '' \
	"fleet-unknown-host.yaml:9:11: error: host 'relya' of domain 'example.com' is not in server.hosts \(did you mean 'relay'\?\)" -- \
	"$bin" validate -f "$inv/fleet-unknown-host.yaml"
expect "a domain in two hosts' files is declared twice" 1 '' \
	"mx2.yaml:3:3: error: domain 'example.com' is declared twice \(first at .*mx1.yaml:3:3\)" -- \
	"$bin" validate -f "$inv/fleet-domain-on-two-hosts"
expect "host: is one name" 1 '' "must be one host name: a domain is placed on exactly one host" -- \
	"$bin" validate -f "$inv/fleet-host-is-list.yaml"
expect "limits count across hosts (a user's and a reseller's)" 1 '' \
	"user 'alice' owns 2 mail domains, over the limit of 1" -- "$bin" validate -f "$inv/fleet-limits-across-hosts.yaml"
grep -q "the users of reseller 'bob' own 3 mailboxes, over the limit of 2" "$tmp/err" &&
	{ pass=$((pass + 1)); echo "ok   ... and the reseller's, summed over mx1 and mx2"; } ||
	{ fail=$((fail + 1)); echo "FAIL ... and the reseller's, summed over mx1 and mx2"; }
# a limit that holds on each host but not over both
mkdir -p "$tmp/lim" && cp "$F"/*.yaml "$tmp/lim/"
sed -i 's/limits: {mail_domains: 2}     # one domain on mx1, one on mx2/limits: {mail_domains: 1}/' "$tmp/lim/00-fleet.yaml"
expect "alice's 1 domain on mx1 and 1 on mx2 are 2: over mail_domains 1" 1 '' \
	"00-fleet.yaml:20:28: error: user 'alice' owns 2 mail domains, over the limit of 1" -- "$bin" validate -f "$tmp/lim"
expect "validate --json: the fleet's errors too" 1 '"message":"host .relya. of domain' '' -- \
	"$bin" validate --json -f "$inv/fleet-unknown-host.yaml"

# ---- two servers: mx1 and mx2 ----
# root NAME: an empty panel-laid server with the fleet's system accounts
root() {
	mkdir -p "$tmp/$1/etc/exim4"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin' \
		'carol:x:1002:1002::/var/www/carol:/usr/sbin/nologin' 'bob:x:1003:1003::/var/www/bob:/usr/sbin/nologin' \
		>"$tmp/$1/etc/passwd"
}
root mx1
root mx2
mr() { # mr ROOT HOST ARGS...: a run on that sandbox root with --host HOST
	local r=$1
	shift
	"$bin" --root "$tmp/$r" --host "$@"
}
# snap ROOT: the hashes of the live files and homes (not the state dir: a refused apply takes
# its lock there)
snap() { (cd "$tmp/$1" && find etc var/www -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum; find etc var/www 2>/dev/null | sort); }
has() { grep -q -- "$2" "$tmp/$1" || { echo "     $1 has no '$2'"; return 1; }; }
hasnt() { ! grep -q -- "$2" "$tmp/$1" || { echo "     $1 has '$2'"; return 1; }; }

snap mx1 >"$tmp/mx1.before"
expect "plan on mx1: only mx1's domains" 0 '^\+ domain example\.com$' '' -- \
	sh -c "'$bin' --root '$tmp/mx1' --host mx1 plan -f '$F' | sed 's/^  //'"
cp "$tmp/out" "$tmp/plan1"
expect "... not mx2's" 1 '' '' -- grep -Eq '^[-+~] (domain|mailbox) [^ ]*example\.(net|info)' "$tmp/plan1"
expect "... mx1's users: alice and carol own domains there, bob is their reseller" 0 '' '' -- \
	sh -c "grep -cE '^\+ user (alice|bob|carol)$' '$tmp/plan1' | grep -qx 3"
expect "... the copy to archive@example.net (on mx2) routes as remote" 0 \
	'~ info@example\.com: remote: info@example\.com -> deliver: info@example\.com; remote: archive@example\.net' '' -- \
	grep -E 'info@example\.com: remote' "$tmp/plan1"
expect "plan --json on mx1 follows schema/plan.schema.json" 0 '^ok ' '' -- \
	sh -c "'$bin' --root '$tmp/mx1' --host mx1 plan --json -f '$F' >'$tmp/mx1.json' &&
		'$node' '$repo/tests/schema/validate.mjs' '$repo' plan.schema.json '$tmp/mx1.json'"
expect "plan touched nothing" 0 '' '' -- sh -c "$(declare -f snap); tmp='$tmp'; snap mx1 | cmp -s - '$tmp/mx1.before'"

expect "a --host outside server.hosts is an error, with the list" 1 '' \
	"00-fleet.yaml:8:3: error: this run's host 'mx3' \(--host, default: the short host name\) is not in server.hosts \(mx1, mx2\)" -- \
	mr mx1 mx3 apply -f "$F" --no-reload
expect "... and changes nothing" 0 '' '' -- sh -c "$(declare -f snap); tmp='$tmp'; snap mx1 | cmp -s - '$tmp/mx1.before'"
short=$(hostname | cut -d. -f1 | tr 'A-Z' 'a-z')
if [ "$short" != mx1 ] && [ "$short" != mx2 ]; then
	expect "without --host: the short host name ('$short'), not in the fleet: an error" 1 '' \
		"this run's host '$short' \(--host, default: the short host name\)" -- \
		"$bin" --root "$tmp/mx1" plan -f "$F"
fi
expect "--host is checked as a host name" 64 '' "--host 'MX1' must be lower case" -- mr mx1 MX1 plan -f "$F"

expect "apply on mx1" 0 'Apply complete: 7 added, 1 changed, 0 destroyed' '' -- \
	mr mx1 mx1 apply -f "$F" --no-reload --metrics-file "$tmp/mx1.prom"
expect "apply on mx2" 0 'Apply complete: 7 added, 1 changed, 0 destroyed' '' -- \
	mr mx2 mx2 apply -f "$F" --no-reload
expect "mx1's domains file: example.com and example.org only" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx1/etc/exim4/domains' | sort | tr '\n' ' ' | grep -qx 'example.com example.org '"
expect "mx2's domains file: example.info and example.net only" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx2/etc/exim4/domains' | sort | tr '\n' ' ' | grep -qx 'example.info example.net '"
expect "mx1's mailboxes are mx1's (Exim and Dovecot)" 0 '' '' -- sh -c "
	cut -d: -f1 '$tmp/mx1/etc/exim4/passwd' | sort | tr '\n' ' ' | grep -qx 'carol@example.org info@example.com ' &&
	cut -d: -f1 '$tmp/mx1/etc/dovecot/dovecot.passwd' | sort | tr '\n' ' ' | grep -qx 'carol@example.org info@example.com '"
expect "mx2's mailboxes are mx2's" 0 '' '' -- sh -c "
	cut -d: -f1 '$tmp/mx2/etc/exim4/passwd' | sort | tr '\n' ' ' | grep -qx 'archive@example.net shop@example.info '"
expect "homes: each root has only its own" 0 '' '' -- sh -c "
	test -d '$tmp/mx1/var/www/carol/data/email/example.org/carol' && test ! -e '$tmp/mx1/var/www/carol/data/email/example.info' &&
	test -d '$tmp/mx2/var/www/carol/data/email/example.info/shop' && test ! -e '$tmp/mx2/var/www/carol/data/email/example.org'"
expect "mx2's forward to carol@example.org (on mx1) is written as is" 0 '' '' -- has mx2/etc/exim4/domains 'example.info: carol@example.org'
expect "the metrics carry --host as the host label" 0 '' '' -- \
	grep -q '^mailrecon_last_run_success{command="apply",host="mx1"} 1$' "$tmp/mx1.prom"
expect "the revision's Host: trailer is the --host value" 0 '' '' -- \
	sh -c "git -C '$tmp/mx1/var/lib/mailrecon/repo' log -1 --format=%B | grep -qx 'Host: mx1'"
expect "a second apply on mx1: no changes" 0 '^No changes\.' '' -- mr mx1 mx1 apply -f "$F" --no-reload
expect "a second apply on mx2: no changes" 0 '^No changes\.' '' -- mr mx2 mx2 apply -f "$F" --no-reload
expect "drift on mx2 for mx2: nothing differs" 0 '^The live server matches the desired state\.$' '' -- mr mx2 mx2 drift -f "$F"
expect "route on mx1: archive@example.net is remote" 0 '^archive@example\.net -> remote: archive@example\.net$' '' -- \
	mr mx1 mx1 route -f "$F" archive@example.net
expect "route on mx2: archive@example.net is delivered" 0 '^archive@example\.net -> deliver: archive@example\.net$' '' -- \
	mr mx2 mx2 route -f "$F" archive@example.net
expect "route on mx2: mail to example.info is forwarded to mx1's carol@example.org (remote)" 0 \
	'^x@example\.info -> remote: carol@example\.org$' '' -- mr mx2 mx2 route -f "$F" x@example.info

# ---- example.org moves from mx1 to mx2: one edit of the desired state ----
mkdir -p "$tmp/moved" && cp "$F"/*.yaml "$tmp/moved/"
awk '/^  example\.org:/ { skip = 1 } skip && /^  [^ ]/ && !/^  example\.org:/ { skip = 0 } !skip' "$F/mx1.yaml" >"$tmp/moved/mx1.yaml"
awk '/^  example\.org:/ { on = 1 } on && /^  [^ ]/ && !/^  example\.org:/ { on = 0 } on' "$F/mx1.yaml" |
	sed 's/host: mx1/host: mx2/' >>"$tmp/moved/mx2.yaml"
expect "the moved state is valid" 0 '^valid: 3 users, 4 domains, 4 mailboxes in 3 files$' '' -- "$bin" validate -f "$tmp/moved"
expect "plan on mx1: the domain is moved to mx2, not a bare delete" 0 '^  - domain example\.org \(moved to host mx2\)$' '' -- \
	mr mx1 mx1 plan -f "$tmp/moved"
cp "$tmp/out" "$tmp/plan2"
expect "... carol, with no domain left on mx1, goes from mx1" 0 '' '' -- grep -q '^  - user carol$' "$tmp/plan2"
expect "... her mailbox's mail is archived" 0 '' '' -- grep -Eq 'carol@example\.org home .* -> /var/lib/mailrecon/archive/carol@example\.org/' "$tmp/plan2"
expect "plan --json on mx1: moved_to, valid against the schema" 0 '^ok ' '' -- \
	sh -c "'$bin' --root '$tmp/mx1' --host mx1 plan --json -f '$tmp/moved' >'$tmp/move.json' &&
		'$node' '$repo/tests/schema/validate.mjs' '$repo' plan.schema.json '$tmp/move.json' &&
		'$node' -e 'const p = JSON.parse(require(\"fs\").readFileSync(process.argv[1])); const c = p.changes.filter((c) => c.moved_to);
			process.exit(c.length === 1 && c[0].id === \"example.org\" && c[0].action === \"delete\" && c[0].moved_to === \"mx2\" ? 0 : 1)' '$tmp/move.json'"
snap mx1 >"$tmp/mx1.before"
expect "apply on mx1 without --allow-delete: refused, the usual cap" 3 'domain example\.org \(moved to host mx2\)' \
	'refused: the plan deletes 1 user, 1 domain and 1 mailbox' -- mr mx1 mx1 apply -f "$tmp/moved" --no-reload
expect "... nothing changed" 0 '' '' -- sh -c "$(declare -f snap); tmp='$tmp'; snap mx1 | cmp -s - '$tmp/mx1.before'"
expect "apply on mx1 --allow-delete" 0 'Apply complete: 0 added, 0 changed, 3 destroyed' '' -- \
	mr mx1 mx1 apply -f "$tmp/moved" --no-reload --allow-delete
expect "... example.org left mx1" 0 '' '' -- hasnt mx1/etc/exim4/domains '^example.org:'
expect "... its mail is in mx1's archive" 0 '' '' -- test -d "$tmp/mx1/var/lib/mailrecon/archive/carol@example.org"
expect "apply on mx2: example.org arrives" 0 'Apply complete: 2 added, 0 changed, 0 destroyed' '' -- \
	mr mx2 mx2 apply -f "$tmp/moved" --no-reload
expect "... in mx2's domains and passwd" 0 '' '' -- sh -c "grep -q '^example.org:' '$tmp/mx2/etc/exim4/domains' && grep -q '^carol@example.org:' '$tmp/mx2/etc/dovecot/dovecot.passwd'"
expect "... and mx2's other domains are untouched" 0 '' '' -- has mx2/etc/exim4/domains '^example.net:'
expect "mx1 converged: no changes" 0 '^No changes\.' '' -- mr mx1 mx1 plan -f "$tmp/moved"
expect "mx2 converged: no changes" 0 '^No changes\.' '' -- mr mx2 mx2 plan -f "$tmp/moved"

# ---- plan --all-hosts --json: every host, from desired states only (CI on a merge request) ----
fp() { "$node" -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1])); const h = Object.fromEntries(p.hosts.map((x) => [x.host, x]));
	process.exit(eval(process.argv[2]) ? 0 : 1)' "$@"; }
mkdir -p "$tmp/nolive"
expect "plan --all-hosts --json: one entry per host, valid against schema/fleet-plan.schema.json" 0 '^ok ' '' -- \
	sh -c "'$bin' --root '$tmp/nolive' plan --all-hosts --json -f '$F' >'$tmp/all.json' &&
		'$node' '$repo/tests/schema/validate.mjs' '$repo' fleet-plan.schema.json '$tmp/all.json'"
expect "... each host's domains, users and mailboxes; no change without --base" 0 '' '' -- fp "$tmp/all.json" \
	'p.base === false && p.hosts.length === 2 && h.mx1.domains.join() === "example.com,example.org" &&
	 h.mx2.domains.join() === "example.info,example.net" && h.mx1.users.join() === "alice,bob,carol" &&
	 h.mx1.mailboxes === 2 && h.mx2.change === null'
expect "... and reads no live tree (no state directory, no lock)" 0 '' '' -- test -z "$(ls -A "$tmp/nolive")"
git -C "$tmp" init -q base && cp "$F"/*.yaml "$tmp/base/" &&
	git -C "$tmp/base" add . && git -C "$tmp/base" -c user.name=t -c user.email=t@t commit -qm base
expect "--base git:REPO#REF, the move: moved out of mx1, into mx2, exit 2 with --detailed-exitcode" 2 '^ok ' '' -- \
	sh -c "'$bin' --root '$tmp/nolive' plan --all-hosts --json --detailed-exitcode -f '$tmp/moved' --base 'git:$tmp/base#HEAD' >'$tmp/all.json';
		rc=\$?; '$node' '$repo/tests/schema/validate.mjs' '$repo' fleet-plan.schema.json '$tmp/all.json' && exit \$rc"
expect "... the change per host" 0 '' '' -- fp "$tmp/all.json" \
	'p.base && h.mx1.change.domains_moved_out[0].domain === "example.org" && h.mx1.change.domains_moved_out[0].to === "mx2" &&
	 h.mx2.change.domains_moved_in[0].from === "mx1" && h.mx1.change.users_changed.join() === "carol" &&
	 h.mx2.change.users_changed.length === 0 && h.mx1.change.touched && h.mx2.change.touched &&
	 h.mx1.change.domains_added.length === 0 && h.mx1.change.domains_changed.length === 0'
cp -r "$tmp/moved" "$tmp/edited"
sed -i 's/rate_per_hour: 0/rate_per_hour: 5/' "$tmp/edited/mx2.yaml"
expect "a mailbox edited on mx2: that domain changed there, mx1 untouched" 2 '' '' -- \
	sh -c "'$bin' --root '$tmp/nolive' plan --all-hosts --json --detailed-exitcode -f '$tmp/edited' --base '$tmp/moved' >'$tmp/all.json'"
expect "... domains_changed: example.net on mx2 only" 0 '' '' -- fp "$tmp/all.json" \
	'h.mx2.change.domains_changed.join() === "example.net" && !h.mx1.change.touched'
expect "the same state as its base: nothing touched, exit 0" 0 '' '' -- \
	sh -c "'$bin' --root '$tmp/nolive' plan --all-hosts --json --detailed-exitcode -f '$F' --base '$F' >'$tmp/all.json'"
expect "--all-hosts without --json: a usage error" 64 '' 'add --json' -- "$bin" plan --all-hosts -f "$F"
expect "--base without --all-hosts: a usage error" 64 '' '--base goes with --all-hosts' -- "$bin" plan --json --base "$F" -f "$F"
expect "--all-hosts on a state that is not a fleet" 1 '' 'no server.hosts' -- \
	"$bin" plan --all-hosts --json -f "$repo/examples/minimal.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
