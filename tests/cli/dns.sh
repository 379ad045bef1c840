#!/usr/bin/env bash
# mailrecon dns: the mail client settings (issue 16). Each live domain gets the RFC 6186 /
# RFC 8314 SRV records (_submissions 465, _submission 587, _imaps 993, _pop3s 995) on its
# mail host (the desired ssl.alias, else the live certificate's name, else mail.DOMAIN), in
# the zone text and in --json; `dns --autoconfig DOMAIN` prints the same settings as a
# Thunderbird autoconfig file. (The DKIM and DMARC records: tests/cli/apply.sh.)
# Usage: dns.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
hosting=$repo/examples/hosting

tree debian/hosting
"$bin" --root "$tmp/root" apply -f "$hosting" --allow-delete=10 >"$tmp/apply.out" 2>&1 ||
	{ echo "FAIL apply of examples/hosting"; cat "$tmp/apply.out"; exit 1; }

T=$'\t'
"$bin" --root "$tmp/root" dns -f "$hosting" >"$tmp/dns" 2>"$tmp/dns.err"
expect "dns: exit 0, nothing on stderr" 0 '' '' -- sh -c "cat '$tmp/dns.err'; test -s '$tmp/dns'"
# example.com has ssl.alias mail.example.com; example.net no ssl: mail.example.net
want="_submissions._tcp.example.com.${T}IN${T}SRV${T}0 1 465 mail.example.com.
_submission._tcp.example.com.${T}IN${T}SRV${T}10 1 587 mail.example.com.
_imaps._tcp.example.com.${T}IN${T}SRV${T}0 1 993 mail.example.com.
_pop3s._tcp.example.com.${T}IN${T}SRV${T}10 1 995 mail.example.com."
expect "dns: the four client SRV records of a domain with ssl.alias, on the alias" 0 '' '' -- \
	test "$(grep 'example\.com\.	IN	SRV' "$tmp/dns" | grep -v shop)" = "$want"
expect "dns: a domain without ssl gets mail.DOMAIN as its mail host" 0 '' '' -- \
	test "$(grep -c '^_[a-z0-9]*\._tcp\.example\.net\.	IN	SRV	[0-9]* 1 [0-9]* mail\.example\.net\.$' "$tmp/dns")" = 4
expect "dns: every live domain has its four SRV records" 0 '' '' -- \
	test "$(grep -c '	IN	SRV	' "$tmp/dns")" = $((4 * $(grep -c '^_submissions\._tcp\.' "$tmp/dns")))
expect "dns: the TXT records are still there" 0 '^dkim\._domainkey\.example\.com\.	IN	TXT	"v=DKIM1' '' -- cat "$tmp/dns"
"$bin" --root "$tmp/root" dns example.net >"$tmp/dns.net"
expect "dns DOMAIN: that domain's four SRV records, and no other's" 0 '' '' -- \
	test "$(grep -c '	SRV	' "$tmp/dns.net")" = 4 -a "$(grep -c '^_[a-z0-9]*\._tcp\.example\.net\.	IN	SRV	' "$tmp/dns.net")" = 4

# --json: the same records, type SRV, kind client
"$bin" --root "$tmp/root" dns --json -f "$hosting" >"$tmp/dns.json"
expect "dns --json: the SRV records as {domain, kind: client, name, type: SRV, value}" 0 '^ok$' '' -- \
	python3 -c '
import json, sys
recs = json.load(open(sys.argv[1]))
srv = [r for r in recs if r["type"] == "SRV"]
assert all(sorted(r) == ["domain", "kind", "name", "type", "value"] for r in recs)
assert all(r["kind"] == "client" for r in srv)
com = {r["name"]: r["value"] for r in srv if r["domain"] == "example.com"}
assert com == {"_submissions._tcp.example.com": "0 1 465 mail.example.com.",
               "_submission._tcp.example.com": "10 1 587 mail.example.com.",
               "_imaps._tcp.example.com": "0 1 993 mail.example.com.",
               "_pop3s._tcp.example.com": "10 1 995 mail.example.com."}, com
assert {r["kind"] for r in recs} == {"dkim", "dmarc", "client"}
print("ok")' "$tmp/dns.json"

# --autoconfig: Thunderbird's config-v1.1.xml, well-formed, with the four servers
"$bin" --root "$tmp/root" dns --autoconfig example.com -f "$hosting" >"$tmp/ac.xml" 2>"$tmp/ac.err"
expect "dns --autoconfig: exit 0, nothing on stderr" 0 '' '' -- sh -c "cat '$tmp/ac.err'; test -s '$tmp/ac.xml'"
autoconfig_is() { # autoconfig_is FILE DOMAIN HOST: the file's servers, checked with an XML parser
	python3 -c '
import sys, xml.etree.ElementTree as ET
f, dom, host = sys.argv[1:]
root = ET.parse(f).getroot()
assert root.tag == "clientConfig" and root.get("version") == "1.1"
p = root.find("emailProvider")
assert p.get("id") == dom and p.findtext("domain") == dom
got = [(s.tag, s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"),
        s.findtext("authentication"), s.findtext("username")) for s in p if s.tag.endswith("Server")]
want = [("incomingServer", "imap", host, "993", "SSL"), ("incomingServer", "pop3", host, "995", "SSL"),
        ("outgoingServer", "smtp", host, "465", "SSL"), ("outgoingServer", "smtp", host, "587", "STARTTLS")]
want = [w + ("password-cleartext", "%EMAILADDRESS%") for w in want]
assert got == want, got
print("ok")' "$@"
}
expect "dns --autoconfig example.com: IMAPS 993, POP3S 995, SMTP 465 (SSL) and 587 (STARTTLS) on mail.example.com" 0 \
	'^ok$' '' -- autoconfig_is "$tmp/ac.xml" example.com mail.example.com
"$bin" --root "$tmp/root" dns --autoconfig example.net >"$tmp/ac.net.xml"
expect "dns --autoconfig of a domain without ssl: on mail.example.net" 0 '^ok$' '' -- \
	autoconfig_is "$tmp/ac.net.xml" example.net mail.example.net
expect "dns --autoconfig with a DOMAIN operand too: exit 64" 64 '' 'takes one DOMAIN' -- \
	"$bin" --root "$tmp/root" dns --autoconfig example.com example.net
expect "dns --autoconfig with --json: exit 64" 64 '' 'no --json' -- "$bin" --root "$tmp/root" dns --autoconfig example.com --json
expect "dns --autoconfig of a name that is no mail domain: exit 64" 64 '' 'is not a mail domain' -- \
	"$bin" --root "$tmp/root" dns --autoconfig 'a<b>.example'
expect "dns --autoconfig of a domain that is not live: exit 1, nothing printed" 1 '' 'not a live mail domain' -- \
	"$bin" --root "$tmp/root" dns --autoconfig nowhere.example
expect "dns --autoconfig without its DOMAIN: exit 64" 64 '' "option '--autoconfig' needs a value" -- \
	"$bin" --root "$tmp/root" dns --autoconfig

# Without a desired state, the live certificate's name is the mail host; the desired
# ssl.alias wins over it. A certificate whose CN is no host name is not used (the host name
# goes into zone and XML text as it is): mail.DOMAIN instead.
ssl=$tmp/root/etc/exim4/ssl
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=smtp.example.com \
	-keyout "$ssl/example.com.key" -out "$ssl/example.com.crt" 2>/dev/null
expect "no desired state: the SRV target is the live certificate's name" 0 \
	'^_imaps\._tcp\.example\.com\.	IN	SRV	0 1 993 smtp\.example\.com\.$' '' -- "$bin" --root "$tmp/root" dns example.com
"$bin" --root "$tmp/root" dns --autoconfig example.com >"$tmp/ac.live.xml"
expect "... and the autoconfig's host" 0 '^ok$' '' -- autoconfig_is "$tmp/ac.live.xml" example.com smtp.example.com
expect "with the desired state: its ssl.alias wins" 0 '^_imaps\._tcp\.example\.com\.	IN	SRV	0 1 993 mail\.example\.com\.$' '' -- \
	"$bin" --root "$tmp/root" dns example.com -f "$hosting"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj '/CN=evil<x>"&.example' \
	-keyout "$ssl/example.com.key" -out "$ssl/example.com.crt" 2>/dev/null
expect "a certificate whose CN is no host name: mail.DOMAIN" 0 \
	'^_imaps\._tcp\.example\.com\.	IN	SRV	0 1 993 mail\.example\.com\.$' '' -- "$bin" --root "$tmp/root" dns example.com
"$bin" --root "$tmp/root" dns --autoconfig example.com >"$tmp/ac.evil.xml"
expect "... and its autoconfig is well-formed, on mail.example.com" 0 '^ok$' '' -- \
	autoconfig_is "$tmp/ac.evil.xml" example.com mail.example.com

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
