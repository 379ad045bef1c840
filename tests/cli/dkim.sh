#!/usr/bin/env bash
# DKIM rotation gated by DNS (issue 16, docs/plan.md "DKIM rotation"), without a DNS server:
# a new selector is staged and does not sign, a re-apply changes nothing, dns marks the
# staged record pending (text, --json valid against schema/dns.schema.json, --nsupdate); a
# confirmation of that key (as dns --check writes it) makes the next apply switch, one of
# another key does not; the replaced record is listed for removal and forgotten after
# server.dkim_grace; dns --check's usage and a resolver that refuses; server.dkim_grace's
# validation. The real DNS server and Exim: tests/e2e/dkim.sh.
# Usage: dkim.sh MAILRECON REPO_ROOT NODE
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

tree debian/hosting
cp -a "$repo/examples/hosting" "$tmp/h"
mr() { "$bin" --root "$tmp/root" "$@"; }
st=$tmp/root/var/lib/mailrecon/dkim
ssl=$tmp/root/etc/exim4/ssl
mr apply -f "$tmp/h" --allow-delete=10 >"$tmp/apply.out" 2>&1 || { echo "FAIL apply of examples/hosting"; cat "$tmp/apply.out"; exit 1; }
sed -i 's/dkim: {selector: shop, bits: 1024}/dkim: {selector: shop2, bits: 2048}/' "$tmp/h/alice.yaml"
before=$(sha256sum "$ssl/shop.example.com.private" "$ssl/shop.example.com.txt")

expect "plan of a new selector: the key is staged, the old one signs" 2 \
	'key: selector shop, 1024 bits -> selector shop2, 2048 bits \(new key, staged: shop signs until mailrecon dns --check finds its record\)' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "... its files are in STATE_DIR/dkim, made at apply" 2 '^  \+ /var/lib/mailrecon/dkim/shop\.example\.com\.private \(made at apply\)$' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "apply stages it" 0 'Apply complete: 0 added, 1 changed, 0 destroyed' '' -- mr apply -f "$tmp/h"
expect "... ssl/ is untouched: the old key signs" 0 '' '' -- sh -c "test \"\$(sha256sum '$ssl/shop.example.com.private' '$ssl/shop.example.com.txt')\" = '$before'"
expect "... the staged key and record: root's, 0600, in a 0700 directory" 0 '' '' -- \
	sh -c "test \"\$(stat -c '%a %u' '$st' '$st/shop.example.com.private' '$st/shop.example.com.txt' | tr '\n' ' ')\" = '700 0 600 0 600 0 '"
expect "... the record names the new selector, and its key has 2048 bits" 0 '^shop2\._domainkey' '' -- cat "$st/shop.example.com.txt"
expect "... no private key in any file of the state repository's history" 1 '' '' -- \
	sh -c "git -C '$tmp/root/var/lib/mailrecon/repo' log -p | grep -q 'PRIVATE KEY'"
expect "a second apply: No changes." 0 '^No changes\.' '' -- mr apply -f "$tmp/h"
expect "drift: none" 0 '' '' -- sh -c "'$bin' --root '$tmp/root' drift -f '$tmp/h' >/dev/null"
expect "dns: the staged record marked pending" 0 \
	'^shop2\._domainkey\.shop\.example\.com\.	IN	TXT	"v=DKIM1; .*"	; pending: publish it, then mailrecon dns --check$' '' -- mr dns shop.example.com
expect "... and the signing one still listed, unmarked" 0 '^shop\._domainkey\.shop\.example\.com\.	IN	TXT	"v=DKIM1; [^;]*; [^;]*; [^;]*; p=[A-Za-z0-9+/=]*"$' '' -- mr dns shop.example.com
mr dns --json >"$tmp/dns.json"
expect "dns --json: status pending, valid against schema/dns.schema.json" 0 '' '' -- sh -c \
	"grep -q '\"name\":\"shop2._domainkey.shop.example.com\",\"type\":\"TXT\",\"value\":\"v=DKIM1; [^\"]*\",\"status\":\"pending\"}' '$tmp/dns.json' && '$node' '$repo/tests/schema/validate.mjs' '$repo' dns.schema.json '$tmp/dns.json' >/dev/null"
mr dns --nsupdate >"$tmp/nsupdate"
expect "dns --nsupdate: a delete and an add per name, the pending one commented" 0 \
	'^update add shop2\._domainkey\.shop\.example\.com\. 3600 IN TXT "v=DKIM1; ' '' -- cat "$tmp/nsupdate"
expect "... a send per live domain, nothing but comments, updates and sends" 0 '' '' -- sh -c \
	"test \$(grep -c '^send\$' '$tmp/nsupdate') -eq \$('$bin' --root '$tmp/root' dns --json | grep -c '_submissions._tcp') && ! grep -Ev '^(; |update (delete|add) [^ ]+\\. |send\$)' '$tmp/nsupdate'"
expect "... each add follows the delete of its name" 0 '' '' -- sh -c \
	"awk '/^update delete /{d[\$3]=1} /^update add /{if (!d[\$3]) bad=1} END{exit bad}' '$tmp/nsupdate'"

# a confirmation of another key confirms nothing; one of the staged key switches
pub=$(grep -o '"name":"shop2._domainkey.shop.example.com","type":"TXT","value":"v=DKIM1; [^"]*' "$tmp/dns.json" | sed 's/.*p=//')
printf 'selector shop2\npublic %s\nchecked 1700000000\n' "${pub%A}B" >"$st/shop.example.com.confirmed"
expect "a confirmation of another key: apply changes nothing" 0 '^No changes\.' '' -- mr apply -f "$tmp/h"
printf 'selector shop2\npublic %s\nchecked x\n' "$pub" >"$st/shop.example.com.confirmed"
expect "a confirmation that is not one: a finding naming the file, no switch" 0 \
	'/var/lib/mailrecon/dkim/shop\.example\.com\.confirmed: warning: cannot read the DNS confirmation of .shop\.example\.com.' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
printf 'selector shop2\npublic %s\nchecked 1700000000\n' "$pub" >"$st/shop.example.com.confirmed"
expect "the staged key confirmed: plan switches" 2 'selector shop2, 2048 bits \(the staged key, its record published: it signs now\)' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "apply switches" 0 'Apply complete: 0 added, 1 changed, 0 destroyed' '' -- mr apply -f "$tmp/h"
expect "... ssl/shop.example.com.txt names shop2 with the staged key" 0 "p=${pub:0:40}" '' -- \
	sh -c "grep -q '^shop2._domainkey' '$ssl/shop.example.com.txt' && tr -d '\n\t \"' <'$ssl/shop.example.com.txt'"
expect "... the staged files and the confirmation are gone, the replaced record kept" 0 '^shop.example.com.retired$' '' -- ls "$st"
expect "... the replaced key is kept in STATE_DIR/keys" 0 '' '' -- \
	sh -c "ls '$tmp/root/var/lib/mailrecon/keys' | grep -q \"\$(echo '$before' | head -n 1 | cut -c1-64)\""
in7=$(date -u -d '+7 days' +%Y-%m-%d)
expect "dns lists the old record to remove after server.dkim_grace (default 7 days)" 0 \
	"^shop\\._domainkey\\.shop\\.example\\.com\\.	IN	TXT	.*	; remove after ${in7}T" '' -- mr dns shop.example.com
mr dns --json >"$tmp/dns2.json"
expect "dns --json: status remove with remove_after, valid against the schema" 0 '' '' -- sh -c \
	"grep -q '\"status\":\"remove\",\"remove_after\":\"${in7}T[0-9:]*Z\"' '$tmp/dns2.json' && '$node' '$repo/tests/schema/validate.mjs' '$repo' dns.schema.json '$tmp/dns2.json' >/dev/null"
expect "an apply after the switch: No changes." 0 '^No changes\.' '' -- mr apply -f "$tmp/h"
sed -i 's/^until .*/until 1700000000/' "$st/shop.example.com.retired"
expect "past its date: plan removes the replaced record" 2 'replaced record: shop\._domainkey, listed for removal until 2023-11-14 22:13 UTC -> \(removed\)' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "... nsupdate: only its delete" 0 '' '' -- sh -c \
	"'$bin' --root '$tmp/root' dns --nsupdate shop.example.com | grep -q '^update delete shop._domainkey.shop.example.com. TXT\$' && ! '$bin' --root '$tmp/root' dns --nsupdate shop.example.com | grep -q '^update add shop._domainkey'"
expect "apply removes it" 0 'Apply complete' '' -- mr apply -f "$tmp/h"
expect "... and dns no longer lists it" 1 '' '' -- sh -c "'$bin' --root '$tmp/root' dns shop.example.com | grep -q '^shop\._domainkey'"

# going back before the switch: the staged key is dropped
sed -i 's/dkim: {selector: shop2, bits: 2048}/dkim: {selector: shop3, bits: 1024}/' "$tmp/h/alice.yaml"
mr apply -f "$tmp/h" >/dev/null 2>&1
sed -i 's/dkim: {selector: shop3, bits: 1024}/dkim: {selector: shop2, bits: 2048}/' "$tmp/h/alice.yaml"
expect "the signing selector wanted again: the staged key is dropped" 2 'staged key: selector shop3, 1024 bits -> \(dropped\)' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "... apply drops it" 0 'Apply complete' '' -- mr apply -f "$tmp/h"
expect "... STATE_DIR/dkim is empty" 0 '' '' -- sh -c "test -z \"\$(ls '$st')\""

# a staged key without its record: a finding, staged again
sed -i 's/dkim: {selector: shop2, bits: 2048}/dkim: {selector: shop4, bits: 1024}/' "$tmp/h/alice.yaml"
mr apply -f "$tmp/h" >/dev/null 2>&1
rm "$st/shop.example.com.txt"
expect "a staged key without its record: a finding, and plan stages a new one" 2 'selector shop4, 1024 bits \(new key, staged' '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode
expect "... the finding" 2 "warning: a staged DKIM key of 'shop\.example\.com' without its record" '' -- \
	mr plan -f "$tmp/h" --detailed-exitcode

# dns --check: usage, and a resolver that answers nothing
expect "dns --check with --json: usage, exit 64" 64 '' 'go alone' -- mr dns --check --json
expect "dns --resolver without --check: exit 64" 64 '' 'go alone' -- mr dns --resolver 127.0.0.1:53
expect "dns --check --resolver that is no address: exit 64" 64 '' "'ns1\\.example\\.com:53' is not a resolver address" -- \
	mr dns --check --resolver ns1.example.com:53
port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
expect "dns --check against a closed port: error per domain, exit 1, nothing recorded" 1 \
	'^shop\.example\.com	shop2\._domainkey\.shop\.example\.com	error	no answer from the DNS server' '' -- mr dns --check --resolver "127.0.0.1:$port" shop.example.com
expect "... no confirmation written" 1 '' '' -- test -e "$st/shop.example.com.confirmed"
expect "dns --check of a domain that is not live: exit 1" 1 '' 'not a live mail domain' -- mr dns --check nowhere.example

# server.dkim_grace
printf 'version: 1\nserver:\n  dkim_grace: 400d\nusers: {alice: {account: existing}}\n' >"$tmp/g.yaml"
expect "server.dkim_grace over 366 days: an error at its place" 1 '' "g\\.yaml:3:15: error: 'dkim_grace' must be a duration of at most 366 days" -- \
	mr validate -f "$tmp/g.yaml"
printf 'version: 1\nserver:\n  dkim_grace: 36h\nusers: {alice: {account: existing}}\n' >"$tmp/g.yaml"
expect "server.dkim_grace: 36h is valid" 0 '' '' -- sh -c "'$bin' --root '$tmp/root' validate -f '$tmp/g.yaml' >/dev/null"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
