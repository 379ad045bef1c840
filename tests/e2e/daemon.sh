#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup runs from the EXIT trap
# tests/e2e/daemon.sh MAILRECON REPO_ROOT: a running Exim daemon on contrib/exim4/exim4.conf
# serves the files mailrecon writes: the TLS certificate chosen by SNI through mailrecon's
# map (etc/exim4/mailrecon-sni), and SMTP sessions over that TLS; then mailrecon re-applies
# a changed desired state while the daemon keeps running, and the same daemon process
# serves the new certificate and refuses the removed alias and the disabled mailbox.
# docs/e2e.md describes each check.
#
# The daemon listens on 127.0.0.1 only, on a free port, with its spool and logs in the
# sandbox; it queues what it receives (-odq) and the test delivers as root (-M), as run.sh
# does. Must run as root. Nothing is skipped: a missing tool is a failure.
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_args "$@"
need_exim
for tool in openssl "$py"; do
	command -v "$tool" >/dev/null || { bad "$tool is installed"; finish; }
done

sbx=$(mktemp -d /tmp/mailrecon-e2e-daemon.XXXXXX)
daemon_pid=
cleanup() {
	stop_dovecot
	stop "$daemon_pid"
	# E2E_KEEP=1 keeps the sandbox (the daemon is stopped all the same)
	if [ -z "${E2E_KEEP:-}" ]; then rm -rf "$sbx"; else echo "sandbox kept: $sbx"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
exim_sandbox "$sbx"
ssl=$sbx/etc/exim4/ssl

# mailrecon's reloads are recorded, not run: the daemon must not need one
reloads=$sbx/reloads.log
export MAILRECON_RELOAD_DOVECOT="echo dovecot >>$reloads" MAILRECON_RELOAD_POSTGREY="echo postgrey >>$reloads" \
	MAILRECON_RELOAD_SPAMD="echo spamd >>$reloads"
out=$("$bin" apply --root "$sbx" -f "$repo/tests/e2e/daemon-desired.yaml" 2>&1)
if [ $? -eq 0 ]; then ok "mailrecon apply writes the desired state, two certificates and the SNI map"; else
	bad "mailrecon apply writes the desired state, two certificates and the SNI map" "$out"
	finish
fi
map=$(grep -v '^#' "$sbx/etc/exim4/mailrecon-sni" 2>&1)
want=$'other.test: other.test\nsmtp.other.test: other.test\ntls.test: tls.test\nmail.tls.test: tls.test'
if [ "$map" = "$want" ]; then ok "the SNI map names each domain with a certificate and its alias (NAME: DOMAIN)"; else
	bad "the SNI map names each domain with a certificate and its alias (NAME: DOMAIN)" "$map"; fi

# The certificate for a client that names no known server, ssl/exim.crt: mailrecon made it
# from server.ssl, the Exim user's and closed like a domain's
sub=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$ssl/exim.crt" 2>&1)
own=$(stat -c '%U:%G %a' "$ssl/exim.crt" "$ssl/exim.key" 2>&1 | sort -u)
if [ "$sub" = "subject=CN=default.invalid" ] && [ "$own" = "Debian-exim:Debian-exim 600" ] &&
	[ "$(openssl x509 -noout -pubkey -in "$ssl/exim.crt")" = "$(openssl pkey -pubout -in "$ssl/exim.key" 2>/dev/null)" ]; then
	ok "server.ssl: mailrecon wrote the default ssl/exim.crt (CN=default.invalid) and its key, Debian-exim's, 0600"
else
	bad "server.ssl: mailrecon wrote the default ssl/exim.crt (CN=default.invalid) and its key, Debian-exim's, 0600" "$sub / $own"
fi

# Dovecot's auth socket, for SMTP AUTH (the daemon runs as the Exim user, in the group that
# contrib/dovecot/dovecot.conf gives the socket to)
start_dovecot_auth "$sbx" mailrecon-exim-daemon-e2e
# The delivery is the configuration's default, dovecot-lda, with the sandbox dovecot.conf.
E=("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx" -DMR_AUTH_DOVECOT="$sbx/run/dovecot/auth-client"
	-DMR_DOVECOT_CONF="$sbx/etc/dovecot/dovecot.conf")
# contrib's own ports, before the test moves them to free loopback ports
out=$("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx" -bP daemon_smtp_ports tls_on_connect_ports 2>&1)
if [ "$out" = $'daemon_smtp_ports = 25 : 465 : 587\ntls_on_connect_ports = 465' ]; then
	ok "contrib listens on 25, 465 and 587, with TLS on connect on 465 (exim4 -bP)"
else
	bad "contrib listens on 25, 465 and 587, with TLS on connect on 465 (exim4 -bP)" "$out"
fi
# free loopback ports: port plays 25, subport 587 (submission, STARTTLS) and tlsport 465
# (TLS on connect); the configuration learns which are the client ports from its macros
port=$(free_port)
subport=$(free_port)
tlsport=$(free_port)
E+=(-DMR_SUBMISSION_PORTS="$subport" -DMR_TLS_ON_CONNECT_PORTS="$tlsport")
out=$("${E[@]}" -bd -odq -oX "127.0.0.1.$port : 127.0.0.1.$subport : 127.0.0.1.$tlsport" -oP "$sbx/exim.pid" 2>&1)
wait_for 10 tcp_open "$port"
wait_for 5 tcp_open "$subport"
wait_for 5 tcp_open "$tlsport"
daemon_pid=$(cat "$sbx/exim.pid" 2>/dev/null)
if [ -n "$daemon_pid" ] && alive "$daemon_pid" && tcp_open "$port" && tcp_open "$subport" && tcp_open "$tlsport"; then
	ok "the Exim daemon listens on 127.0.0.1:$port, :$subport (submission) and :$tlsport (TLS on connect) with contrib/exim4/exim4.conf"
else
	bad "the Exim daemon listens on 127.0.0.1:$port, :$subport (submission) and :$tlsport (TLS on connect) with contrib/exim4/exim4.conf" "$out
$(cat "$sbx/var/log/exim4/mainlog" "$sbx/var/log/exim4/paniclog" 2>/dev/null)"
	finish
fi

# fp_file FILE / fp_sni NAME: the SHA-256 fingerprint of a certificate file, and of the
# certificate the daemon presents after STARTTLS to a client asking for NAME ("" = no SNI)
fp_file() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null; }
fp_sni() {
	local sni=(-servername "$1")
	[ -n "$1" ] || sni=(-noservername)
	openssl s_client -connect "127.0.0.1:$port" -starttls smtp "${sni[@]}" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
# served NAME SNI FILE: the daemon presents FILE's certificate to a client asking for SNI
served() {
	local want got
	want=$(fp_file "$3")
	got=$(fp_sni "$2")
	if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$1"; else
		bad "$1" "wanted $3: '$want', got '$got'
$(tail -n 5 "$sbx/var/log/exim4/mainlog" 2>/dev/null)"
	fi
}
served "TLS by SNI: the alias (mail.tls.test) gets ssl/tls.test.crt" mail.tls.test "$ssl/tls.test.crt"
served "TLS by SNI: the domain's own name (tls.test) gets ssl/tls.test.crt" tls.test "$ssl/tls.test.crt"
served "TLS by SNI: another domain's alias (smtp.other.test) gets ssl/other.test.crt" smtp.other.test "$ssl/other.test.crt"
served "TLS by SNI: upper case is the same name (MAIL.TLS.TEST)" MAIL.TLS.TEST "$ssl/tls.test.crt"
served "TLS by SNI: a name without a certificate gets the default ssl/exim.crt" unknown.test "$ssl/exim.crt"
served "TLS by SNI: a domain without ssl (plain.test) gets the default ssl/exim.crt" plain.test "$ssl/exim.crt"
served "TLS without SNI: the default ssl/exim.crt, server.ssl's (fingerprint of the file mailrecon wrote)" "" "$ssl/exim.crt"

# session SNI RCPT...: an SMTP session with the daemon over STARTTLS asking for SNI; prints
# "STARTTLS yes|no", "CERT <sha256>", one "RCPT ADDRESS CODE TEXT" per recipient, and, when
# the first recipient was accepted, "DATA CODE TEXT" for a small message. With SRC set, the
# client connects from that address; with USER and PASS set, it prints "AUTH before TLS:
# yes|no" and "AUTH in TLS: yes|no" (whether AUTH PLAIN is offered) and "LOGIN CODE TEXT",
# and sends as USER.
cat >"$sbx/session.py" <<'EOF'
import hashlib, os, smtplib, ssl, sys
port, sni, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
src, user, pw = os.environ.get("SRC"), os.environ.get("USER"), os.environ.get("PASS")
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30,
                 source_address=(src, 0) if src else None)
s.ehlo()
print("STARTTLS", "yes" if s.has_extn("starttls") else "no")
plain = lambda: "yes" if "PLAIN" in (s.esmtp_features.get("auth") or "").split() else "no"
if user:
    print("AUTH before TLS:", plain())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s._host = sni  # smtplib sends its connect host as the SNI
s.starttls(context=ctx)
print("CERT", hashlib.sha256(s.sock.getpeercert(binary_form=True)).hexdigest())
s.ehlo()
sender = "sender@remote.test"
if user:
    print("AUTH in TLS:", plain())
    try:
        code, text = s.login(user, pw)
    except smtplib.SMTPAuthenticationError as e:
        code, text = e.smtp_code, e.smtp_error
    print("LOGIN", code, text.decode())
    sender = user
s.mail(sender)
first = None
for r in rcpts:
    code, text = s.rcpt(r)
    print("RCPT", r, code, text.decode())
    if first is None:
        first = code
if first == 250:
    code, text = s.data(b"From: sender@remote.test\r\nTo: %s\r\nSubject: daemon-%d\r\n\r\nover TLS\r\n" % (rcpts[0].encode(), port))
    print("DATA", code, text.decode())
s.quit()
EOF
# der_sha256 FILE: the certificate's SHA-256 as python prints it
der_sha256() { openssl x509 -in "$1" -outform der 2>/dev/null | sha256sum | cut -d' ' -f1; }
sess=$("$py" "$sbx/session.py" "$port" mail.tls.test info@tls.test sales@tls.test desk@tls.test nobody@tls.test 2>&1)
if grep -qx 'STARTTLS yes' <<<"$sess"; then ok "SMTP: the daemon offers STARTTLS"; else bad "SMTP: the daemon offers STARTTLS" "$sess"; fi
if grep -qx "CERT $(der_sha256 "$ssl/tls.test.crt")" <<<"$sess"; then
	ok "SMTP over TLS by SNI: the session runs on the alias's certificate"
else
	bad "SMTP over TLS by SNI: the session runs on the alias's certificate" "$sess"
fi
# rcpt_ans NAME ADDRESS REGEX: the answer to RCPT ADDRESS in $sess
rcpt_ans() {
	if grep -Eq "^RCPT $2 $3" <<<"$sess"; then ok "$1"; else bad "$1" "$sess"; fi
}
rcpt_ans "SMTP over TLS: a mailbox is accepted" info@tls.test '250 '
rcpt_ans "SMTP over TLS: an alias is accepted" sales@tls.test '250 '
rcpt_ans "SMTP over TLS: a second mailbox (disabled by the re-apply) is accepted" desk@tls.test '250 '
rcpt_ans "SMTP over TLS: an unknown address of a reject domain is refused" nobody@tls.test '550 '
id=$(sed -n 's/^DATA 250 OK id=\([A-Za-z0-9-]*\)$/\1/p' <<<"$sess")
if [ -n "$id" ]; then
	ok "SMTP over TLS: the daemon accepts the message (DATA 250, queued as $id)"
	"${E[@]}" -M "$id" >/dev/null 2>&1
	maildir=$sbx/var/www/mailtest/data/email/tls.test/info/.maildir/new
	if grep -lqs "^Subject: daemon-$port\$" "$maildir"/* 2>/dev/null &&
		grep -q "$id => .*T=mr_dovecot_lda" "$sbx/var/log/exim4/mainlog"; then
		ok "delivery: the message the daemon received reaches info@tls.test's Maildir (through dovecot-lda)"
	else
		bad "delivery: the message the daemon received reaches info@tls.test's Maildir (through dovecot-lda)" \
			"$(tail -n 10 "$sbx/var/log/exim4/mainlog"; tail -n 5 "$sbx/var/log/dovecot.log")"
	fi
else
	bad "SMTP over TLS: the daemon accepts the message (DATA 250)" "$sess"
fi

# SMTP AUTH over TCP from 127.0.0.2, a "remote" client for the configuration (only 127.0.0.1
# and ::1 are local): plain-text AUTH only inside TLS, then checked by Dovecot.
sess=$(SRC=127.0.0.2 USER=info@tls.test PASS=test "$py" "$sbx/session.py" "$port" mail.tls.test x@remote.test 2>&1)
if grep -qx 'AUTH before TLS: no' <<<"$sess" && grep -qx 'AUTH in TLS: yes' <<<"$sess"; then
	ok "SMTP AUTH: a remote client is offered AUTH PLAIN only after STARTTLS"
else
	bad "SMTP AUTH: a remote client is offered AUTH PLAIN only after STARTTLS" "$sess"
fi
if grep -q '^LOGIN 235 ' <<<"$sess" && grep -q '^RCPT x@remote.test 250 ' <<<"$sess"; then
	ok "SMTP AUTH over TLS via Dovecot: the right password gets 235, and the mailbox may relay"
else
	bad "SMTP AUTH over TLS via Dovecot: the right password gets 235, and the mailbox may relay" "$sess
$(tail -n 5 "$sbx/var/log/dovecot.log" 2>/dev/null)"
fi
# The sandbox has no domainips and no ratelimits file (nothing declares them): the relay
# above passed the rate-limit lookups; the queued message's delivery must now get past the
# transport's interface lookup to the connection (to a closed port: deferred).
id=$(sed -n 's/^DATA 250 OK id=\([A-Za-z0-9-]*\)$/\1/p' <<<"$sess")
closed=$(free_port)
[ -z "$id" ] || "${E[@]}" -DMR_SMARTHOST="127.0.0.1::$closed" -M "$id" >/dev/null 2>&1
lg=$(grep -F "$id" "$sbx/var/log/exim4/mainlog" 2>/dev/null)
if [ -n "$id" ] && grep -q "== x@remote\.test R=mr_smarthost T=remote_smtp defer .*Connection refused" <<<"$lg" &&
	! grep -qi 'failed to expand' <<<"$lg"; then
	ok "no domainips file: remote mail leaves from the default address (the lookup of a missing file is no error)"
else
	bad "no domainips file: remote mail leaves from the default address (the lookup of a missing file is no error)" "$sess
$lg"
fi
sess=$(SRC=127.0.0.2 USER=info@tls.test PASS=wrong "$py" "$sbx/session.py" "$port" mail.tls.test x@remote.test 2>&1)
if grep -q '^LOGIN 535 ' <<<"$sess" && grep -q '^RCPT x@remote.test 550 5\.7\.1 relay not permitted' <<<"$sess"; then
	ok "SMTP AUTH over TLS via Dovecot: a wrong password gets 535, and relaying is refused"
else
	bad "SMTP AUTH over TLS via Dovecot: a wrong password gets 535, and relaying is refused" "$sess"
fi

sess=$(SRC=127.0.0.2 USER=postmaster@other.test PASS=test "$py" "$sbx/session.py" "$port" smtp.other.test info@gone.test 2>&1)
if grep -q '^LOGIN 235 ' <<<"$sess"; then ok "SMTP AUTH: postmaster@other.test's password (changed by the re-apply) gets 235"; else
	bad "SMTP AUTH: postmaster@other.test's password (changed by the re-apply) gets 235" "$sess"; fi
rcpt_ans "SMTP over TLS: a mailbox of gone.test (deleted by the re-apply) is accepted" info@gone.test '250 '

# ---- the mail client ports: submission (587, STARTTLS) and TLS on connect (465) ----
# fp_tls PORT NAME: the certificate presented on the TLS-on-connect port to a client asking for NAME
fp_tls() {
	openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
fp_sub() {
	openssl s_client -connect "127.0.0.1:$1" -starttls smtp -servername "$2" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
# served_on NAME FN PORT SNI FILE: FN (fp_tls or fp_sub) on PORT gets FILE's certificate
served_on() {
	local want got
	want=$(fp_file "$5")
	got=$("$2" "$3" "$4")
	if [ -n "$want" ] && [ "$got" = "$want" ]; then ok "$1"; else bad "$1" "wanted $5: '$want', got '$got'"; fi
}
served_on "port 465 (TLS on connect) by SNI: mail.tls.test gets ssl/tls.test.crt" fp_tls "$tlsport" mail.tls.test "$ssl/tls.test.crt"
served_on "port 465 (TLS on connect) by SNI: smtp.other.test gets ssl/other.test.crt" fp_tls "$tlsport" smtp.other.test "$ssl/other.test.crt"
served_on "port 465 (TLS on connect) by SNI: an unknown name gets the default ssl/exim.crt" fp_tls "$tlsport" unknown.test "$ssl/exim.crt"
served_on "port 587 (STARTTLS) by SNI: smtp.other.test gets ssl/other.test.crt" fp_sub "$subport" smtp.other.test "$ssl/other.test.crt"
subj=$(openssl s_client -connect "127.0.0.1:$tlsport" -servername mail.tls.test </dev/null 2>/dev/null |
	openssl x509 -noout -subject -ext subjectAltName -nameopt RFC2253 2>/dev/null | tr '\n' ' ')
if grep -q 'subject=CN=mail\.tls\.test' <<<"$subj"; then ok "port 465: the certificate's subject is the domain's alias (CN=mail.tls.test)"; else
	bad "port 465: the certificate's subject is the domain's alias (CN=mail.tls.test)" "$subj"; fi
# The submission port through session.py, from 127.0.0.2 (a remote client): STARTTLS, AUTH
# only inside it, then a relay
sess=$(SRC=127.0.0.2 USER=info@tls.test PASS=test "$py" "$sbx/session.py" "$subport" mail.tls.test x@remote.test 2>&1)
if grep -qx 'STARTTLS yes' <<<"$sess" && grep -qx 'AUTH before TLS: no' <<<"$sess" && grep -qx 'AUTH in TLS: yes' <<<"$sess" &&
	grep -qx "CERT $(der_sha256 "$ssl/tls.test.crt")" <<<"$sess"; then
	ok "port 587: STARTTLS on the alias's certificate, AUTH offered only after it"
else
	bad "port 587: STARTTLS on the alias's certificate, AUTH offered only after it" "$sess"
fi
if grep -q '^LOGIN 235 ' <<<"$sess" && grep -q '^RCPT x@remote.test 250 ' <<<"$sess" && grep -q '^DATA 250 ' <<<"$sess"; then
	ok "port 587: AUTH PLAIN gets 235 and the message is accepted"
else
	bad "port 587: AUTH PLAIN gets 235 and the message is accepted" "$sess"
fi
# curl as a mail client: it asks for mail.tls.test (SNI) and verifies the certificate against
# the file mailrecon wrote (--cacert) and the name against it, so exit 0 is the domain's
# certificate; 60 is a certificate refused.
# client_send NAME URL-SCHEME PORT SNI CACERT [CURL-ARGS...]: curl's exit status; its -v log in
# $sbx/curl.log; the message's Message-ID is <NAME-tag@client.test>, in $msgid
client_send() {
	local tag=$1 scheme=$2 p=$3 name=$4 ca=$5
	shift 5
	msgid="$tag-$RANDOM@client.test"
	printf 'From: info@tls.test\r\nTo: x@remote.test\r\nSubject: %s\r\nMessage-ID: <%s>\r\n\r\nfrom a mail client\r\n' \
		"$tag" "$msgid" >"$sbx/client.eml"
	curl -sv --max-time 20 --interface 127.0.0.2 --resolve "$name:$p:127.0.0.1" --cacert "$ca" \
		--mail-from info@tls.test --mail-rcpt x@remote.test -T "$sbx/client.eml" "$@" \
		"$scheme://$name:$p/client.test" >"$sbx/curl.log" 2>&1
}
# received MSGID: the mainlog's reception line of that message, authenticated, over TLS
received() { grep -E "<= info@tls\.test .*P=esmtpsa X=TLS.* A=dovecot_(plain|login):info@tls\.test .*id=$1" "$sbx/var/log/exim4/mainlog"; }
client_send sub smtp "$subport" mail.tls.test "$ssl/tls.test.crt" --ssl-reqd -u info@tls.test:test
rc=$?
if [ "$rc" = 0 ] && received "$msgid" >/dev/null; then
	ok "port 587: curl submits with STARTTLS and AUTH, verifying mail.tls.test's certificate; Exim logs P=esmtpsa"
else
	bad "port 587: curl submits with STARTTLS and AUTH, verifying mail.tls.test's certificate; Exim logs P=esmtpsa" "curl exit $rc
$(tail -n 15 "$sbx/curl.log")
$(tail -n 3 "$sbx/var/log/exim4/mainlog")"
fi
client_send tls smtps "$tlsport" mail.tls.test "$ssl/tls.test.crt" -u info@tls.test:test
rc=$?
if [ "$rc" = 0 ] && received "$msgid" >/dev/null; then
	ok "port 465: curl submits over TLS on connect with AUTH, verifying mail.tls.test's certificate; Exim logs P=esmtpsa"
else
	bad "port 465: curl submits over TLS on connect with AUTH, verifying mail.tls.test's certificate; Exim logs P=esmtpsa" "curl exit $rc
$(tail -n 15 "$sbx/curl.log")
$(tail -n 3 "$sbx/var/log/exim4/mainlog")"
fi
client_send tls2 smtps "$tlsport" smtp.other.test "$ssl/other.test.crt" -u info@tls.test:test
rc=$?
if [ "$rc" = 0 ]; then ok "port 465: a client asking for smtp.other.test verifies other.test's certificate"; else
	bad "port 465: a client asking for smtp.other.test verifies other.test's certificate" "curl exit $rc
$(tail -n 15 "$sbx/curl.log")"
fi
# the --cacert check can fail: the default certificate is not tls.test's
client_send bad smtps "$tlsport" unknown.test "$ssl/tls.test.crt" -u info@tls.test:test
rc=$?
if [ "$rc" = 60 ]; then ok "port 465: the client refuses the default certificate for another name (curl exit 60)"; else
	bad "port 465: the client refuses the default certificate for another name (curl exit 60)" "curl exit $rc"; fi
# AUTH is required on the client ports, even for a local mailbox (which port 25 accepts)
for cp in "smtp $subport 587 --ssl-reqd" "smtps $tlsport 465"; do
	read -r scheme p name extra <<<"$cp"
	# shellcheck disable=SC2086
	client_send noauth "$scheme" "$p" mail.tls.test "$ssl/tls.test.crt" $extra
	if grep -q '< 530 5\.7\.0 authentication required' "$sbx/curl.log" && ! received "$msgid" >/dev/null &&
		! grep -q "id=$msgid" "$sbx/var/log/exim4/mainlog"; then
		ok "port $name: MAIL FROM without AUTH is refused (530 5.7.0)"
	else
		bad "port $name: MAIL FROM without AUTH is refused (530 5.7.0)" "$(tail -n 12 "$sbx/curl.log")"
	fi
done
client_send wrongpw smtps "$tlsport" mail.tls.test "$ssl/tls.test.crt" -u info@tls.test:wrong
rc=$?
if [ "$rc" = 67 ] && grep -q '< 535 ' "$sbx/curl.log"; then ok "port 465: a wrong password gets 535"; else
	bad "port 465: a wrong password gets 535" "curl exit $rc
$(tail -n 8 "$sbx/curl.log")"
fi

# ---- re-apply while the daemon runs ----
# The copy removes the alias sales@tls.test, disables desk@tls.test, gives plain.test a
# certificate (alias mail.plain.test), changes the password of postmaster@other.test to
# "changed", and deletes the domain gone.test.
desired2=$sbx/desired-changed.yaml
changed='$6$mailreconE2Esalt$lIO0oB1tt3l96OP9QYyNnqS38mr1Q.OKDxla/ezpLQ7WF2Aqx7P1r5vQrG7vgaJvHugNlw6M3Q7sJqjFkVIrr.'
sed -e 's/^        aliases: \[sales\]  # daemon\.sh: .*$//' \
	-e 's/disabled: false  # daemon\.sh: .*$/disabled: true/' \
	-e 's/^  plain\.test:$/  plain.test:\n    ssl: {alias: mail.plain.test, certificate: self-signed}/' \
	-e "/# daemon\.sh: the second apply changes this password/{n;s|{SHA512-CRYPT}[^\"]*|{SHA512-CRYPT}$changed|}" \
	-e '/# daemon\.sh: the second apply deletes this domain/,$d' \
	"$repo/tests/e2e/daemon-desired.yaml" >"$desired2"
if grep -q 'sales' "$desired2" || ! grep -q 'disabled: true' "$desired2" || ! grep -q 'mail\.plain\.test' "$desired2" ||
	! grep -qF "$changed" "$desired2" || grep -q 'gone\.test' "$desired2"; then
	bad "the edited copy of tests/e2e/daemon-desired.yaml has the five changes" "$(diff "$repo/tests/e2e/daemon-desired.yaml" "$desired2")"
fi
: >"$reloads"
out=$("$bin" apply --root "$sbx" -f "$desired2" --allow-delete 2>&1)
if [ $? -eq 0 ]; then ok "re-apply: mailrecon apply of the changed copy (alias removed, mailbox disabled, new certificate, password changed, domain deleted)"; else
	bad "re-apply: mailrecon apply of the changed copy (alias removed, mailbox disabled, new certificate, password changed, domain deleted)" "$out"; fi
if grep -qx 'mail.plain.test: plain.test' "$sbx/etc/exim4/mailrecon-sni"; then
	ok "re-apply: the SNI map has the new certificate's names"
else
	bad "re-apply: the SNI map has the new certificate's names" "$(cat "$sbx/etc/exim4/mailrecon-sni")"
fi
# (mailrecon has no Exim reload at all: this checks that only Dovecot's ran)
if [ "$(cat "$reloads")" = dovecot ]; then ok "re-apply: mailrecon reloads only Dovecot (a certificate changed)"; else
	bad "re-apply: mailrecon reloads only Dovecot (a certificate changed)" "$(cat "$reloads")"; fi
served "re-apply: the running daemon serves the new certificate for its alias (mail.plain.test)" mail.plain.test "$ssl/plain.test.crt"
served "re-apply: the running daemon still serves mail.tls.test's certificate" mail.tls.test "$ssl/tls.test.crt"
sess=$("$py" "$sbx/session.py" "$port" mail.tls.test nobody@tls.test sales@tls.test desk@tls.test info@tls.test 2>&1)
rcpt_ans "re-apply: the running daemon refuses the removed alias (the domain's reject)" sales@tls.test '550 '
rcpt_ans "re-apply: the running daemon refuses the newly disabled mailbox with 550 5.0.0" desk@tls.test '550 5\.0\.0 mailbox disabled'
rcpt_ans "re-apply: the running daemon still accepts an unchanged mailbox" info@tls.test '250 '
sess=$("$py" "$sbx/session.py" "$port" mail.tls.test info@gone.test 2>&1)
rcpt_ans "re-apply: the running daemon refuses the deleted domain (no longer local)" info@gone.test '550 5\.7\.1 relay not permitted'
# Dovecot's passwd-file stats the file at most once per second
sleep 1.1
sess=$(SRC=127.0.0.2 USER=desk@tls.test PASS=test "$py" "$sbx/session.py" "$port" mail.tls.test x@remote.test 2>&1)
if grep -q '^LOGIN 535 ' <<<"$sess"; then ok "re-apply: SMTP AUTH of the newly disabled mailbox gets 535 over TLS"; else
	bad "re-apply: SMTP AUTH of the newly disabled mailbox gets 535 over TLS" "$sess"; fi
sess=$(SRC=127.0.0.2 USER=postmaster@other.test PASS=changed "$py" "$sbx/session.py" "$port" smtp.other.test x@remote.test 2>&1)
if grep -q '^LOGIN 235 ' <<<"$sess"; then ok "re-apply: SMTP AUTH with the changed password gets 235"; else
	bad "re-apply: SMTP AUTH with the changed password gets 235" "$sess"; fi
sess=$(SRC=127.0.0.2 USER=postmaster@other.test PASS=test "$py" "$sbx/session.py" "$port" smtp.other.test x@remote.test 2>&1)
if grep -q '^LOGIN 535 ' <<<"$sess"; then ok "re-apply: SMTP AUTH with the old password gets 535"; else
	bad "re-apply: SMTP AUTH with the old password gets 535" "$sess"; fi
if [ "$(cat "$sbx/exim.pid" 2>/dev/null)" = "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null &&
	[ "$(grep -c 'daemon started' "$sbx/var/log/exim4/mainlog")" -eq 1 ]; then
	ok "re-apply: the same daemon process served all of it (no restart, started once)"
else
	bad "re-apply: the same daemon process served all of it (no restart, started once)" "$(grep 'daemon' "$sbx/var/log/exim4/mainlog")"
fi

# ---- rollback while the daemon runs ----
# A third apply removes other.test's certificate (its files go; the keys are kept in the
# state directory), then `mailrecon rollback` to the revision before brings them back, with
# the owners apply gives them: the Exim user for ssl/, root:dovecot for Dovecot's copies.
# The running daemon serves the certificate again.
rev2=$("$bin" --root "$sbx" log -n 1 --json 2>/dev/null | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' | head -n 1)
sed -e 's/^    ssl: {alias: smtp\.other\.test, certificate: self-signed}$//' "$desired2" >"$sbx/desired-nocert.yaml"
out=$("$bin" apply --root "$sbx" -f "$sbx/desired-nocert.yaml" --allow-delete 2>&1)
if [ $? -eq 0 ] && [ ! -e "$ssl/other.test.key" ] && ! grep -q 'smtp\.other\.test' "$sbx/etc/exim4/mailrecon-sni"; then
	served "rollback: with other.test's certificate removed, smtp.other.test gets the default" smtp.other.test "$ssl/exim.crt"
else
	bad "rollback: with other.test's certificate removed, smtp.other.test gets the default" "$out"
fi
out=$("$bin" --root "$sbx" rollback "$rev2" 2>&1)
owners=$(stat -c '%U:%G %a' "$ssl/other.test.key" "$ssl/other.test.crt" "$sbx/etc/dovecot/certs/other.test.key" 2>&1 | tr '\n' ' ')
if [ -n "$rev2" ] && [ "$owners" = "Debian-exim:Debian-exim 600 Debian-exim:Debian-exim 600 root:dovecot 600 " ]; then
	ok "rollback: the certificate and keys come back with apply's owners (Exim user; root:dovecot)"
else
	bad "rollback: the certificate and keys come back with apply's owners (Exim user; root:dovecot)" "revision '$rev2': $owners
$out"
fi
served "rollback: the running daemon serves other.test's certificate again" smtp.other.test "$ssl/other.test.crt"
# a mapped name whose key file is missing gets the default certificate, not a failed
# handshake (the map and the files disagree only after a hand edit or a partial restore)
mv "$ssl/other.test.key" "$sbx/other.test.key.aside"
served "TLS by SNI: a mapped name whose key file is missing gets the default ssl/exim.crt" smtp.other.test "$ssl/exim.crt"
mv "$sbx/other.test.key.aside" "$ssl/other.test.key"

# ---- certificates from files and from certbot's layout, served by the running daemon ----
# files.test names a CA-signed pair by path (below --root); le.test says certificate:
# letsencrypt, read from etc/letsencrypt/live/mail.le.test, whose files are certbot's relative
# links into ../../archive/. Exim reads the files at each handshake: no reload.
# shellcheck source=tests/e2e/certs.sh
. "$repo/tests/e2e/certs.sh"
ca_make "$sbx/ca"
mkdir -p "$sbx/srv/certs"
ca_sign "$sbx/ca" mail.files.test "$sbx/srv/certs/files.test.crt" "$sbx/srv/certs/files.test.key"
le_issue "$sbx/ca" "$sbx" mail.le.test 1
desired3=$sbx/desired-files.yaml
{ cat "$desired2"; printf '%s\n' '  files.test:' '    owner: mailtest' \
	'    ssl: {alias: mail.files.test, certificate: {cert: /srv/certs/files.test.crt, key: /srv/certs/files.test.key}}' \
	'  le.test:' '    owner: mailtest' '    ssl: {alias: mail.le.test, certificate: letsencrypt}'; } >"$desired3"
out=$("$bin" apply --root "$sbx" -f "$desired3" 2>&1)
if [ $? -eq 0 ]; then ok "files: apply of a certificate from files and one from certbot's layout"; else
	bad "files: apply of a certificate from files and one from certbot's layout" "$out"; fi
served "files: STARTTLS by SNI: mail.files.test gets the file-based certificate" mail.files.test "$sbx/srv/certs/files.test.crt"
served_on "files: port 465 by SNI: mail.files.test gets the file-based certificate" fp_tls "$tlsport" mail.files.test "$sbx/srv/certs/files.test.crt"
served_on "files: port 587 by SNI: mail.le.test gets certbot's certificate" fp_sub "$subport" mail.le.test "$sbx/etc/letsencrypt/archive/mail.le.test/cert1.pem"
served_on "files: port 465 by SNI: mail.le.test gets certbot's certificate" fp_tls "$tlsport" mail.le.test "$sbx/etc/letsencrypt/archive/mail.le.test/cert1.pem"
# verified_chain PORT NAME: a client that trusts only the CA verifies the chain and the name
verified_chain() {
	openssl s_client -connect "127.0.0.1:$1" -servername "$2" -CAfile "$sbx/ca/ca.crt" -verify_hostname "$2" \
		-verify_return_error -showcerts </dev/null 2>&1
}
chain=$(verified_chain "$tlsport" mail.le.test)
if grep -q 'Verify return code: 0 (ok)' <<<"$chain" && [ "$(grep -c 'BEGIN CERTIFICATE' <<<"$chain")" = 2 ]; then
	ok "files: port 465 serves certbot's full chain (2 certificates), verified against the CA for mail.le.test"
else
	bad "files: port 465 serves certbot's full chain (2 certificates), verified against the CA for mail.le.test" "$(grep -E 'Verify|depth' <<<"$chain")"
fi
le_issue "$sbx/ca" "$sbx" mail.le.test 2
out=$("$bin" plan --root "$sbx" -f "$desired3" 2>&1)
if grep -q 'certificate: mail\.le\.test, from files -> (new content from the files)' <<<"$out"; then
	ok "files: certbot's renewal (new archive files, links moved) shows in the plan"
else bad "files: certbot's renewal (new archive files, links moved) shows in the plan" "$out"; fi
out=$("$bin" apply --root "$sbx" -f "$desired3" 2>&1)
if [ $? -eq 0 ] && cmp -s "$ssl/le.test.crt" "$sbx/etc/letsencrypt/archive/mail.le.test/fullchain2.pem"; then
	ok "files: apply installs the renewal"
else bad "files: apply installs the renewal" "$out"; fi
served_on "files: the running daemon serves the renewed certificate on port 465" fp_tls "$tlsport" mail.le.test "$sbx/etc/letsencrypt/archive/mail.le.test/cert2.pem"
served "files: ... and after STARTTLS" mail.le.test "$sbx/etc/letsencrypt/archive/mail.le.test/cert2.pem"

# Exim logs "exim user lost privilege for using -C option" to the panic log for each -C
# re-execution: expected here (see run.sh's deliver()), anything else is not.
panic=$(grep -v 'exim user lost privilege for using -C option' "$sbx/var/log/exim4/paniclog" 2>/dev/null)
if [ -z "$panic" ]; then ok "no Exim panic log entry"; else bad "no Exim panic log entry" "$panic"; fi
finish
