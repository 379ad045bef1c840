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

# --- certificate: letsencrypt: certbot's live/ALIAS links into ../../archive/ALIAS ---
# issue LINEAGE N: a CA-signed certificate for mail.a.example, as certbot's Nth renewal
ca() { openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Test LE CA" -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null; }
issue() {
	local le=$tmp/root/etc/letsencrypt n=$1
	mkdir -p "$le/archive/mail.a.example" "$le/live/mail.a.example"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=mail.a.example" -keyout "$le/archive/mail.a.example/privkey$n.pem" \
		-out "$tmp/req.csr" 2>/dev/null
	openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -days 90 \
		-out "$le/archive/mail.a.example/cert$n.pem" 2>/dev/null
	cat "$le/archive/mail.a.example/cert$n.pem" "$tmp/ca.crt" >"$le/archive/mail.a.example/fullchain$n.pem"
	for f in fullchain privkey; do ln -sfn "../../archive/mail.a.example/$f$n.pem" "$le/live/mail.a.example/$f.pem"; done
}
new_server
ca
issue 1
cat >"$tmp/le.yaml" <<'YAML'
version: 1
users: {alice: {}}
domains:
  a.example:
    owner: alice
    ssl: {certificate: letsencrypt}
YAML
le=$tmp/root/etc/letsencrypt
expect "letsencrypt: validate reads live/ALIAS through certbot's links" 0 '^valid: ' '' -- \
	"$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
expect "letsencrypt: the plan adds the certificate from files" 0 'certificate: mail\.a\.example, from files' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/le.yaml"
expect "letsencrypt: apply" 0 'Apply complete' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/le.yaml"
check "Exim's copy is certbot's fullchain, byte for byte" cmp -s "$le/archive/mail.a.example/fullchain1.pem" "$ssl/a.example.crt"
check "... its key certbot's privkey" cmp -s "$le/archive/mail.a.example/privkey1.pem" "$ssl/a.example.key"
check "... and Dovecot has both" sh -c "cmp -s '$ssl/a.example.crt' '$tmp/root/etc/dovecot/certs/a.example.crt' && cmp -s '$ssl/a.example.key' '$tmp/root/etc/dovecot/certs/a.example.key'"
check "the copies are files, not links" sh -c "test ! -L '$ssl/a.example.crt' && test ! -L '$ssl/a.example.key'"
expect "the second apply changes nothing" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/le.yaml"

# a renewal: certbot writes fullchain2/privkey2 and moves the links
expect "a saved plan before the renewal" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/le.yaml" --out "$tmp/before-renewal.plan"
issue 2
expect "apply --plan after certbot renewed: refused (exit 3), naming the certificate" 3 '' \
	'a secret the desired state names changed since the plan: certificate of a\.example: file /etc/letsencrypt/live/mail\.a\.example/fullchain\.pem' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/before-renewal.plan"
expect "a renewal shows in the plan" 0 'certificate: mail\.a\.example, from files -> \(new content from the files\)' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/le.yaml"
expect "... and drift sees it" 2 'a\.example' '' -- "$bin" --root "$tmp/root" drift -f "$tmp/le.yaml"
expect "... and apply installs it" 0 'Apply complete: 0 added, 1 changed' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/le.yaml"
check "... the renewed fullchain" cmp -s "$le/archive/mail.a.example/fullchain2.pem" "$ssl/a.example.crt"
check "... and key" cmp -s "$le/archive/mail.a.example/privkey2.pem" "$ssl/a.example.key"
expect "after the renewal: No changes" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/le.yaml"
# no private key anywhere but the key files: not in the state repository, the audit log or a plan
"$bin" --root "$tmp/root" plan --json -f "$tmp/le.yaml" >"$tmp/plan.json" 2>&1
check "no private key in the state repository, the audit log or a plan" sh -c \
	"! git -C '$tmp/root/var/lib/mailrecon/repo' log -p --all | grep -q 'PRIVATE KEY' && \
	 ! git -C '$tmp/root/var/lib/mailrecon/repo' log --all --format= --name-only | grep -q '\\.key\$' && \
	 ! grep -rq 'PRIVATE KEY' '$tmp/root/var/log' '$tmp/out' '$tmp/plan.json'"
check "... while the repository does hold the certificate" sh -c \
	"git -C '$tmp/root/var/lib/mailrecon/repo' show HEAD:etc/exim4/ssl/a.example.crt | cmp -s - '$ssl/a.example.crt'"

# certbot's tree is followed only inside itself
cp -a "$le/live/mail.a.example" "$tmp/saved-live"
printf 'root-secret\n' >"$tmp/root/etc/secret.pem"
ln -sfn ../../../secret.pem "$le/live/mail.a.example/privkey.pem"
expect "a link out of /etc/letsencrypt is refused with the link named" 1 '' \
	"error: cannot read certificate key file: cannot resolve '[^']*/etc/letsencrypt/live/mail\.a\.example/privkey\.pem': the symbolic link '[^']*/etc/letsencrypt/live/mail\.a\.example/privkey\.pem' climbs above '[^']*/etc/letsencrypt'" -- \
	"$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
expect "... apply refuses it too, writing nothing" 1 '' 'climbs above' -- "$bin" --root "$tmp/root" apply -f "$tmp/le.yaml"
check "... and the installed key is still the renewed one" cmp -s "$le/archive/mail.a.example/privkey2.pem" "$ssl/a.example.key"
ln -sfn "$le/archive/mail.a.example/privkey2.pem" "$le/live/mail.a.example/privkey.pem"
expect "an absolute link, even into the tree, is refused" 1 '' "privkey\.pem' is absolute; only a relative link that stays in" -- \
	"$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
ln -sfn privkey.pem "$le/live/mail.a.example/privkey.pem"
expect "a link to itself is a loop" 1 '' "is met twice \(a loop\)" -- "$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
ln -sfn ../../archive/mail.a.example/privkey1.pem "$le/live/mail.a.example/privkey.pem"
expect "the previous key with the renewed certificate: not a pair, never copied" 1 '' \
	"the certificate of 'a\.example': the key is not the key of the certificate" -- \
	"$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
rm -rf "$le/live/mail.a.example"
expect "no live/ALIAS directory: a clear error" 1 '' \
	"cannot resolve '[^']*/etc/letsencrypt/live/mail\.a\.example/fullchain\.pem': '[^']*/etc/letsencrypt/live/mail\.a\.example': No such file" -- \
	"$bin" --root "$tmp/root" validate -f "$tmp/le.yaml"
mv "$tmp/saved-live" "$le/live/mail.a.example"
expect "restored: No changes" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/le.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
