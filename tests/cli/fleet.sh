#!/usr/bin/env bash
# The fleet (issue 18, docs/fleet.md): server.hosts and host: as validate checks them across the
# whole fleet. Usage: fleet.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
