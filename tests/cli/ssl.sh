#!/usr/bin/env bash
# TLS certificates (issue 16): ssl: true and the default alias mail.DOMAIN, certbot's
# /etc/letsencrypt layout read through the confinement layer, renewals, and the server's
# default certificate. Real applies on sandbox roots; certificates are read back with openssl.
# Usage: ssl.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live

check() { # check NAME COMMAND...: the command succeeds
	local name=$1
	shift
	if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
subject() { openssl x509 -noout -subject -nameopt RFC2253 -in "$1"; }
new_server() {
	tree debian/empty
	printf 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin\n' >>"$tmp/root/etc/passwd"
}
ssl=$tmp/root/etc/exim4/ssl

# --- ssl: true = a self-signed certificate for mail.DOMAIN; a mapping without alias too ---
new_server
cat >"$tmp/true.yaml" <<'YAML'
version: 1
users: {alice: {}}
domains:
  a.example: {owner: alice, ssl: true}
  b.example: {owner: alice, ssl: {email: admin@b.example}}
YAML
expect "ssl: true validates" 0 '^valid: 1 user, 2 domains' '' -- "$bin" validate -f "$tmp/true.yaml"
expect "the plan shows the default alias mail.DOMAIN, self-signed" 0 \
	'certificate: mail\.a\.example, self-signed' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/true.yaml"
check "... and for a mapping without alias, with its email" grep -q 'certificate: mail\.b\.example, self-signed, admin@b\.example' "$tmp/out"
expect "apply makes both certificates" 0 'Apply complete' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/true.yaml"
expect "a.example's certificate is for mail.a.example" 0 '^subject=CN=mail\.a\.example$' '' -- subject "$ssl/a.example.crt"
expect "b.example's certificate is for mail.b.example with the email" 0 \
	'^subject=emailAddress=admin@b\.example,CN=mail\.b\.example$' '' -- subject "$ssl/b.example.crt"
expect "Exim's SNI map routes the default alias" 0 '^mail\.a\.example: a\.example$' '' -- cat "$tmp/root/etc/exim4/mailrecon-sni"
expect "the second apply changes nothing" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/true.yaml"
expect "import writes the alias out" 0 'alias: mail\.a\.example' '' -- "$bin" --root "$tmp/root" import
sed 's/ssl: true/ssl: {alias: mail.a.example, certificate: self-signed}/' "$tmp/true.yaml" >"$tmp/explicit.yaml"
expect "ssl: true is the same as {alias: mail.DOMAIN, certificate: self-signed}" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/explicit.yaml"
cat >"$tmp/taken.yaml" <<'YAML'
version: 1
users: {alice: {}}
domains:
  a.example: {owner: alice, ssl: true}
  mail.a.example: {owner: alice}
YAML
expect "a default alias that is a declared domain's name is an error at the ssl value" 1 '' \
	"taken\.yaml:4:34: error: ssl alias 'mail\.a\.example' of 'a\.example' is the name of the declared domain 'mail\.a\.example'" -- \
	"$bin" validate -f "$tmp/taken.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
