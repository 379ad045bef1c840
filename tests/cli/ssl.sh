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

# --- server.ssl: the server's default certificate, Exim's ssl/exim.crt + exim.key and
# Dovecot's private/dovecot.pem + .key (on Debian root's links to the snakeoil pair) ---
new_server
dov=$tmp/root/etc/dovecot/private
mkdir -p "$dov" "$tmp/root/etc/ssl/certs" "$tmp/root/etc/ssl/private"
printf 'snakeoil certificate\n' >"$tmp/root/etc/ssl/certs/ssl-cert-snakeoil.pem"
printf 'snakeoil key\n' >"$tmp/root/etc/ssl/private/ssl-cert-snakeoil.key"
ln -s /etc/ssl/certs/ssl-cert-snakeoil.pem "$dov/dovecot.pem"
ln -s /etc/ssl/private/ssl-cert-snakeoil.key "$dov/dovecot.key"
cat >"$tmp/srv.yaml" <<'YAML'
version: 1
server:
  ssl: {alias: mx.example.net, email: hostmaster@example.net}
users: {alice: {}}
domains:
  a.example: {owner: alice}
YAML
printf 'version: 1\nserver:\n  ssl: true\n' >"$tmp/srv-true.yaml"
expect "server.ssl: true is an error at its value: the server's certificate needs a name" 1 '' \
	"srv-true\.yaml:3:8: error: 'ssl: true' gives the server's certificate no name: write \{alias: NAME\}" -- \
	"$bin" validate -f "$tmp/srv-true.yaml"
expect "server.ssl: the plan creates the server's certificate" 0 \
	'^  \+ certificate server$' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/srv.yaml"
check "... self-signed for its alias, with the email" grep -q '^      certificate: mx\.example\.net, self-signed, hostmaster@example\.net$' "$tmp/out"
check "... Exim's pair is made" grep -q '^  + /etc/exim4/ssl/exim\.key (made at apply)$' "$tmp/out"
check "... and Dovecot's links are replaced (~, they exist)" grep -q '^  ~ /etc/dovecot/private/dovecot\.pem (made at apply)$' "$tmp/out"
expect "server.ssl: --json names it certificate 'server' of no domain" 0 \
	'"action":"create","object":"certificate","id":"server","domain":null,"attributes":\[\{"name":"certificate","old":null,"new":"mx\.example\.net, self-signed, hostmaster@example\.net"\}\]' '' -- \
	"$bin" --root "$tmp/root" plan --json -f "$tmp/srv.yaml"
expect "server.ssl: apply makes it (the links are not recorded: not mailrecon's)" 0 'Apply complete: 3 added' \
	"dovecot/private/dovecot\.pem' is not recorded in the state repository: it is a symbolic link" -- "$bin" --root "$tmp/root" apply -f "$tmp/srv.yaml"
expect "... exim.crt is for the alias, with the email" 0 '^subject=emailAddress=hostmaster@example\.net,CN=mx\.example\.net$' '' -- \
	subject "$ssl/exim.crt"
check "... Dovecot's links are regular files now, copies of Exim's pair" sh -c \
	"[ -f '$dov/dovecot.pem' ] && [ ! -L '$dov/dovecot.pem' ] && [ ! -L '$dov/dovecot.key' ] &&
	 cmp -s '$dov/dovecot.pem' '$ssl/exim.crt' && cmp -s '$dov/dovecot.key' '$ssl/exim.key'"
check "... what the links pointed at is untouched" sh -c \
	"[ \"\$(cat '$tmp/root/etc/ssl/certs/ssl-cert-snakeoil.pem')\" = 'snakeoil certificate' ] &&
	 [ \"\$(cat '$tmp/root/etc/ssl/private/ssl-cert-snakeoil.key')\" = 'snakeoil key' ]"
check "... the keys are 0600" sh -c "[ \"\$(stat -c %a '$ssl/exim.key' '$dov/dovecot.key' | sort -u)\" = 600 ]"
check "... the key is a key of the certificate" sh -c \
	"[ \"\$(openssl x509 -noout -pubkey -in '$ssl/exim.crt')\" = \"\$(openssl pkey -pubout -in '$ssl/exim.key')\" ]"
expect "server.ssl: the second apply changes nothing" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/srv.yaml"
repo=$tmp/root/var/lib/mailrecon/repo
check "server.ssl: the state repository records both certificates and the keys' fingerprints" sh -c \
	"git -C '$repo' ls-tree -r --name-only HEAD | grep -Fx -e etc/exim4/ssl/exim.crt -e etc/exim4/ssl/exim.key.fingerprint \
	 -e etc/dovecot/private/dovecot.pem -e etc/dovecot/private/dovecot.key.fingerprint | wc -l | grep -qx 4"
check "... and no private key, in any revision" sh -c \
	"! git -C '$repo' log --all -p | grep -q 'PRIVATE KEY' && ! git -C '$repo' ls-tree -r --name-only HEAD | grep -q '\.key$'"
cp "$ssl/exim.crt" "$tmp/exim.crt.applied"
printf 'version: 1\nusers: {alice: {}}\ndomains:\n  a.example: {owner: alice}\n' >"$tmp/srv-out.yaml"
expect "server.ssl left out: unmanaged, no change (never a deletion)" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/srv-out.yaml"
check "... exim.crt stays" cmp -s "$tmp/exim.crt.applied" "$ssl/exim.crt"
expect "server.ssl: import writes it back" 0 '^  ssl:$' '' -- "$bin" --root "$tmp/root" import
check "... with its alias, self-signed and its email" sh -c \
	"grep -A4 '^server:' '$tmp/out' | tr -d '\n' | grep -q 'ssl:    alias: mx\.example\.net    certificate: self-signed    email: hostmaster@example\.net'"
cp "$tmp/out" "$tmp/imported.yaml"
expect "... and the import plans no change" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
printf 'not the certificate\n' >"$dov/dovecot.pem"
expect "server.ssl: a Dovecot copy that differs is a change of its own" 0 '^      dovecot copy: \(different\) -> \(rewritten\)$' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/srv.yaml"
check "... only Dovecot's pair is written" sh -c "! grep -q exim4/ssl/exim '$tmp/out' && grep -q 'dovecot\.key (made at apply)' '$tmp/out'"
expect "... apply copies Exim's live pair" 0 'Apply complete: 0 added, 1 changed' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/srv.yaml"
check "... which is unchanged" sh -c "cmp -s '$tmp/exim.crt.applied' '$ssl/exim.crt' && cmp -s '$dov/dovecot.pem' '$ssl/exim.crt'"
sed 's/mx\.example\.net/mx2.example.net/' "$tmp/srv.yaml" >"$tmp/srv2.yaml"
expect "server.ssl: a new alias replaces the certificate" 0 \
	'certificate: mx\.example\.net, self-signed, hostmaster@example\.net -> mx2\.example\.net, self-signed, hostmaster@example\.net' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/srv2.yaml"
check "... the replaced key is kept in STATE_DIR/keys" sh -c \
	"ls '$tmp/root/var/lib/mailrecon/keys' | grep -qx \"\$(git -C '$repo' show HEAD~1:etc/exim4/ssl/exim.key.fingerprint | sed -n 's/^sha256 //p')\""
expect "server.ssl: rollback to the revision before restores the old certificate and key" 0 'Rollback complete|complete' '' -- \
	"$bin" --root "$tmp/root" rollback HEAD~1 --yes
check "... exim.crt and Dovecot's copy are the old certificate" sh -c \
	"cmp -s '$tmp/exim.crt.applied' '$ssl/exim.crt' && cmp -s '$tmp/exim.crt.applied' '$dov/dovecot.pem'"
check "... with its own key" sh -c \
	"[ \"\$(openssl x509 -noout -pubkey -in '$ssl/exim.crt')\" = \"\$(openssl pkey -pubout -in '$dov/dovecot.key')\" ]"

# a --scope other than an admin's may not declare it
printf 'version: 1\nserver:\n  ssl: {alias: evil.example.net}\nusers: {alice: {}}\ndomains:\n  a.example: {owner: alice}\n' \
	>"$tmp/srv-scope.yaml"
expect "server.ssl in alice's --scope file: refused (exit 3) at its place" 3 '' \
	"srv-scope\.yaml:3:8: error: the server's certificate \(server\.ssl\) is the default of every domain: only an admin's scope may declare it, not 'alice' \(user\)" -- \
	"$bin" --root "$tmp/root" plan --scope alice -f "$tmp/srv-scope.yaml"

# certificate files: pinned in a plan file; a renewal after the plan makes it stale
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mx.example.net" -keyout "$tmp/srv.key" -out "$tmp/srv.crt" 2>/dev/null
printf 'version: 1\nserver:\n  ssl: {alias: mx.example.net, certificate: {cert: srv.crt, key: srv.key}}\nusers: {alice: {}}\ndomains:\n  a.example: {owner: alice}\n' \
	>"$tmp/srv-files.yaml"
expect "server.ssl from files: planned with a plan file" 0 'certificate: mx\.example\.net, self-signed, hostmaster@example\.net -> mx\.example\.net, from files' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/srv-files.yaml" --out "$tmp/srv.plan"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mx.example.net" -keyout "$tmp/srv.key" -out "$tmp/srv.crt" 2>/dev/null
expect "... renewed after the plan: apply --plan refuses it (exit 3), naming the file" 3 '' 'certificate of the server' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/srv.plan"
expect "... applied anew, the files are copied" 0 'Apply complete' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/srv-files.yaml"
check "... to Exim and Dovecot" sh -c "cmp -s '$tmp/srv.crt' '$ssl/exim.crt' && cmp -s '$tmp/srv.key' '$dov/dovecot.key'"
expect "... and nothing changes after" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/srv-files.yaml"

# confinement: links planted in Exim's ssl/ or for Dovecot by someone else are never followed
printf 'outside\n' >"$tmp/outside"
mv "$ssl/exim.crt" "$tmp/exim.crt.moved"
ln -s "$tmp/outside" "$ssl/exim.crt"
expect "a link at ssl/exim.crt: a finding, and apply refuses to write through it (exit 1)" 1 \
	"/etc/exim4/ssl/exim\.crt: warning: '[^']*/etc/exim4/ssl/exim\.crt' is a symbolic link; refused" \
	"exim4/ssl/exim\.crt' is a symbolic link; refused" -- "$bin" --root "$tmp/root" apply -f "$tmp/srv-files.yaml"
check "... what it points at is untouched" sh -c "[ \"\$(cat '$tmp/outside')\" = outside ] && [ -L '$ssl/exim.crt' ]"
rm "$ssl/exim.crt"
mv "$tmp/exim.crt.moved" "$ssl/exim.crt"
rm "$dov/dovecot.key"
ln -s "$tmp/outside" "$dov/dovecot.key"
chown -h nobody "$dov/dovecot.key"
expect "a link for Dovecot's key that root did not make: refused, not replaced" 1 'dovecot copy: \(a symbolic link\)' \
	"dovecot/private/dovecot\.key' is a symbolic link; refused" -- "$bin" --root "$tmp/root" apply -f "$tmp/srv-files.yaml"
check "... and not followed" sh -c "[ \"\$(cat '$tmp/outside')\" = outside ] && [ -L '$dov/dovecot.key' ]"
rm "$dov/dovecot.key"
cp "$tmp/srv.key" "$dov/dovecot.key"
mv "$ssl" "$tmp/ssl.real"
mkdir -p "$tmp/evil-ssl"
ln -s "$tmp/evil-ssl" "$ssl"
chown -h nobody "$ssl"
expect "a tenant's link in place of the ssl directory: a finding, and apply refuses it" 1 \
	"exim\.crt' is reached through the symbolic link '[^']*/etc/exim4/ssl'; refused" \
	"/etc/exim4/ssl' is a symbolic link; refused \(mailrecon never follows one\); nothing was changed" -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/srv-files.yaml"
check "... and writes nothing where it points" sh -c "[ -z \"\$(ls -A '$tmp/evil-ssl')\" ]"
rm "$ssl"
mv "$tmp/ssl.real" "$ssl"
expect "restored: No changes" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/srv-files.yaml"

# a self-signed server certificate that expires within 30 days is renewed, as a domain's
new_server
mkdir -p "$ssl"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.example.net" -keyout "$ssl/exim.key" \
	-out "$ssl/exim.crt" 2>/dev/null
mkdir -p "$tmp/root/etc/dovecot/private"
cp "$ssl/exim.crt" "$tmp/root/etc/dovecot/private/dovecot.pem"
cp "$ssl/exim.key" "$tmp/root/etc/dovecot/private/dovecot.key"
printf 'version: 1\nserver:\n  ssl: {alias: mx.example.net}\nusers: {alice: {}}\ndomains:\n  a.example: {owner: alice}\n' \
	>"$tmp/srv-renew.yaml"
expect "server.ssl: a self-signed certificate expiring within 30 days is renewed" 0 \
	'^      certificate: mx\.example\.net, self-signed, expires [0-9-]+ -> \(renewed: a new self-signed certificate\)$' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/srv-renew.yaml"
expect "... apply renews it for 825 days" 0 'Apply complete' '' -- "$bin" --root "$tmp/root" apply -f "$tmp/srv-renew.yaml"
check "... Exim's and Dovecot's" sh -c "openssl x509 -checkend $((800 * 86400)) -noout -in '$ssl/exim.crt' >/dev/null &&
	cmp -s '$ssl/exim.crt' '$tmp/root/etc/dovecot/private/dovecot.pem'"

# the RHEL layout: Exim's pair is /etc/exim/ssl/exim.crt and exim.key
rm -rf "$tmp/root"
mkdir -p "$tmp/root/etc/exim"
printf 'root:x:0:0::/root:/bin/sh\nalice:x:1001:1001::/var/www/alice:/usr/sbin/nologin\n' >"$tmp/root/etc/passwd"
expect "server.ssl in the RHEL layout: /etc/exim/ssl/exim.crt and Dovecot's pair" 0 'Apply complete' '' -- \
	"$bin" --root "$tmp/root" apply -f "$tmp/srv-renew.yaml"
check "... both written, the same certificate" sh -c "cmp -s '$tmp/root/etc/exim/ssl/exim.crt' '$tmp/root/etc/dovecot/private/dovecot.pem' &&
	[ ! -e '$tmp/root/etc/exim4' ] && [ \"\$(stat -c %a '$tmp/root/etc/dovecot/private')\" = 700 ]"
expect "... and nothing changes after" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/srv-renew.yaml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
