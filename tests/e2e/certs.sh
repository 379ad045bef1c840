# shellcheck shell=bash
# Certificates for the e2e scripts (sourced by daemon.sh and imap.sh): a throwaway CA, a
# CA-signed pair in files, and certbot's layout (live/NAME links into ../../archive/NAME).
# RSA 2048 keys; each call takes a fraction of a second.

# ca_make DIR: DIR/ca.crt and DIR/ca.key, "CN=mailrecon e2e CA"
ca_make() {
	mkdir -p "$1"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mailrecon e2e CA" \
		-keyout "$1/ca.key" -out "$1/ca.crt" >/dev/null 2>&1
}

# ca_sign CADIR CN CRT KEY: a new key in KEY and a certificate for CN (also its SAN) in CRT,
# signed by the CA
ca_sign() {
	local csr
	csr=$(mktemp)
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$4" -out "$csr" >/dev/null 2>&1 &&
		openssl x509 -req -in "$csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" -CAcreateserial -days 2 \
			-extfile <(printf 'subjectAltName=DNS:%s\n' "$2") -out "$3" >/dev/null 2>&1
	local rc=$?
	rm -f "$csr"
	return $rc
}

# le_issue CADIR ROOT NAME N: what certbot's Nth issue (or renewal) of NAME leaves below
# ROOT/etc/letsencrypt: archive/NAME/{cert,chain,fullchain,privkey}N.pem, and live/NAME/*.pem
# as relative links to them
le_issue() {
	local le=$2/etc/letsencrypt name=$3 n=$4
	local a=$le/archive/$name
	mkdir -p "$a" "$le/live/$name" &&
		ca_sign "$1" "$name" "$a/cert$n.pem" "$a/privkey$n.pem" &&
		cp "$1/ca.crt" "$a/chain$n.pem" &&
		cat "$a/cert$n.pem" "$a/chain$n.pem" >"$a/fullchain$n.pem" || return 1
	chmod 0600 "$a/privkey$n.pem"
	local f
	for f in cert chain fullchain privkey; do
		ln -sfn "../../archive/$name/$f$n.pem" "$le/live/$name/$f.pem" || return 1
	done
}
