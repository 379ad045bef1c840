#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup and stop_dovecot run from the EXIT trap
# tests/e2e/run.sh MAILRECON REPO_ROOT: the files mailrecon writes, read by the real Exim
# with contrib/exim4/exim4.conf. docs/e2e.md describes what each check proves.
#
# A sandbox root gets tests/e2e/desired.yaml applied, then exim4 runs with
# -C SANDBOX/exim4.conf -DMR_ROOT=SANDBOX: routing (-bt), SMTP sessions (-bh), real local
# deliveries into the Maildirs (-odi), and one remote delivery to a local SMTP sink that
# shows the DKIM signature and the outgoing address. No daemon is needed; the spool and the
# logs are in the sandbox. Must run as root (-C/-D of a non-default file). Nothing is
# skipped: a missing tool is a failure.
# It also starts the real dovecot on contrib/dovecot/dovecot.conf in the same sandbox, only
# for its auth-client socket (SMTP AUTH), and stops it at exit. At the end, an edited copy
# of the desired state is re-applied and the same Exim configuration sees the changes.
# Last, the same desired state goes with --layout rhel into a second sandbox, read by the
# same configuration with -DMR_RHEL.
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_args "$@"
need_exim

sbx=$(mktemp -d /tmp/mailrecon-e2e.XXXXXX)
rsbx=
cleanup() {
	stop "$sink_pid"
	stop_dovecot
	# E2E_KEEP=1 keeps the sandbox (the processes are stopped all the same)
	if [ -z "${E2E_KEEP:-}" ]; then rm -rf "$sbx" ${rsbx:+"$rsbx"}; else echo "sandbox kept: $sbx $rsbx"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
exim_sandbox "$sbx"

out=$("$bin" apply --root "$sbx" -f "$repo/tests/e2e/desired.yaml" --allow-delete 2>&1)
if [ $? -eq 0 ]; then ok "mailrecon apply writes the desired state into the sandbox"; else
	bad "mailrecon apply writes the desired state into the sandbox" "$out"
	finish
fi

# E0: the configuration as it is (its default delivery is dovecot-lda); E: with Exim's own
# Maildir delivery (appendfile), for the checks that need no Dovecot behind the delivery
E0=("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx")
E=("${E0[@]}" -DMR_DELIVERY=mr_maildir)
out=$("${E[@]}" -bV 2>&1)
if [ $? -eq 0 ]; then ok "exim4 -bV accepts contrib/exim4/exim4.conf"; else
	bad "exim4 -bV accepts contrib/exim4/exim4.conf" "$out"
	finish
fi

# ---- routing: exim4 -bt ----
bt "exim-passwd: a mailbox routes to the Maildir transport" info@example.com \
	'^info@example\.com$' 'router = mr_mailbox, transport = mr_maildir'
bt "exim-aliases ALIAS:MAIN:fwd: the alias routes to its main mailbox" sales@example.com \
	'^info@example\.com$' '<-- sales@example\.com' 'router = mr_mailbox'
bt "exim-aliases TARGET:MAIN:user: a copy to the target, and the mailbox keeps its own (no save=no)" \
	keeper@example.com '^boss@example\.com$' '^keeper@example\.com$'
bt "exim-aliases TARGET:MAIN:user with two targets: both get the copy" orders@example.com \
	'^boss@example\.com$' '^info@example\.com$'
out=$("${E[@]}" -bt orders@example.com 2>&1)
if grep -q '^orders@example\.com$' <<<"$out"; then bad "exim-passwd save=no: the mailbox's own delivery is skipped" "$out"; else
	ok "exim-passwd save=no: the mailbox's own delivery is skipped"; fi
bt "exim-passwd disabled=self: undeliverable with 5.0.0 mailbox disabled" closed@example.com \
	'^closed@example\.com is undeliverable: 5\.0\.0 mailbox disabled$'
bt "exim-domains reject (:fail: TEXT): undeliverable with the text" nobody@example.net \
	'^nobody@example\.net is undeliverable: No such user here$'
bt "exim-domains a mailbox of a reject domain is still delivered" postmaster@example.net \
	'^postmaster@example\.net$' 'router = mr_mailbox'
bt "exim-aliases: an alias in a reject domain routes to its main mailbox (removed by the re-apply below)" \
	abuse@example.net '^postmaster@example\.net$' '<-- abuse@example\.net' 'router = mr_mailbox'
bt "exim-domains discard (:blackhole:): the mail is discarded" nobody@example.info \
	'^mail to nobody@example\.info is discarded$'
bt "exim-domains forward (ADDRESS): an unknown address goes to the forward target" nobody@example.com \
	'^info@example\.com$' '<-- nobody@example\.com' 'router = mr_mailbox'
bt "exim-domains redirect_domain (@DOMAIN): the same local part at the other domain" info@example.org \
	'^info@example\.com$' '<-- info@example\.org' 'router = mr_mailbox'
bt "exim-domains redirect_domain then the target's default action" nobody@example.org \
	'<-- nobody@example\.com' '<-- nobody@example\.org' '^info@example\.com$'
bt "exim-domains disabled domain (#line): not local, routed as a remote domain" someone@old.example \
	'^someone@old\.example is undeliverable: Unrouteable address$'

# The panel's suspend comments the exim-passwd line out (docs/formats.md: read as disabled by
# the mailbox itself). mailrecon keeps such a line; Exim must refuse, not catch-all, it.
cp -p "$sbx/etc/exim4/passwd" "$sbx/passwd.orig"
echo '#suspended@example.com:owner=mailtest' >>"$sbx/etc/exim4/passwd"
bt "exim-passwd #ADDRESS line (panel suspend): undeliverable with 5.0.0, not caught by the catch-all" \
	suspended@example.com '^suspended@example\.com is undeliverable: 5\.0\.0 mailbox disabled$'
cp -p "$sbx/passwd.orig" "$sbx/etc/exim4/passwd"

# ---- SMTP: exim4 -bh (a client that is not allowed to relay) ----
rcpt "SMTP: a mailbox is accepted" info@example.com '^250 '
rcpt "SMTP: an alias is accepted" sales@example.com '^250 '
rcpt "SMTP: a disabled mailbox (disabled=self) is refused with 550 5.0.0" closed@example.com '^550 5\.0\.0 mailbox disabled$'
rcpt "SMTP: unknown address of a reject domain: 550 with the domain's text" nobody@example.net '^550 No such user here$'
rcpt "SMTP: unknown address of a discard domain is accepted (then dropped)" nobody@example.info '^250 '
rcpt "SMTP: unknown address of a forward domain is accepted" nobody@example.com '^250 '
rcpt "SMTP: unknown address of a redirect_domain domain is accepted" nobody@example.org '^250 '
rcpt "SMTP: a mailbox of a disabled domain is refused (not a local domain)" someone@old.example '^550 5\.7\.1 relay not permitted$'
rcpt "SMTP: a remote domain is not relayed for an unauthenticated client" x@remote.test '^550 5\.7\.1 relay not permitted$'

# ---- whitelists: the RCPT ACL logs what the hooks would do ----
wl "postgrey/SpamAssassin/ClamAV whitelists: a mailbox listed in all three" info@example.com \
	'info@example\.com greylisting=whitelisted spamassassin=whitelisted antivirus=whitelisted$'
wl "SpamAssassin whitelist_to is per mailbox; postgrey and ClamAV per domain" keeper@example.com \
	'keeper@example\.com greylisting=whitelisted spamassassin=on antivirus=whitelisted$'
wl "a domain in no whitelist: every check applies" postmaster@example.net \
	'postmaster@example\.net greylisting=on spamassassin=on antivirus=on$'

# ---- exim-ratelimits for an authenticated sender (-oMai) ----
# rl NAME SENDER LOG-REGEX ANSWER-REGEX
rl() {
	local name=$1 from=$2 want_log=$3 want=$4 out ans
	out=$(printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<x@remote.test>\r\nQUIT\r\n' "$from" |
		"${E[@]}" -bh 192.0.2.25 -oMai "$from" -oMaa PLAIN 2>&1 | tr -d '\r')
	ans=$(grep -E '^[245][0-9][0-9][ -]' <<<"$out" | sed -n 4p)
	if grep -Eq -- "$want_log" <<<"$out" && grep -Eq -- "$want" <<<"$ans"; then ok "$name"; else
		bad "$name" "$out"; fi
}
rl "exim-ratelimits: the mailbox's own line (info@example.com:100)" info@example.com \
	'rate limit of info@example\.com: 100/h' '^250 '
rl "exim-ratelimits: then the owner= line (mailtest:200)" keeper@example.com \
	'rate limit of keeper@example\.com: 200/h' '^250 '
rl "exim-ratelimits: then the * line (*:500)" postmaster@example.net \
	'rate limit of postmaster@example\.net: 500/h' '^250 '
rl "exim-ratelimits: 0 means the mailbox cannot send" boss@example.com \
	'rate limit of boss@example\.com: 0/h' '^550 5\.7\.1 boss@example\.com may not send mail$'
# rate_per_hour: 1 is written as it is, and means, like 0, that the mailbox cannot send
if grep -qx 'single@example\.com:1' "$sbx/etc/exim4/ratelimits"; then
	ok "exim-ratelimits: rate_per_hour 1 is written as single@example.com:1"
else
	bad "exim-ratelimits: rate_per_hour 1 is written as single@example.com:1" "$(cat "$sbx/etc/exim4/ratelimits")"
fi
rl "exim-ratelimits: 1 means the mailbox cannot send either" single@example.com \
	'rate limit of single@example\.com: 1/h' '^550 5\.7\.1 single@example\.com may not send mail$'

# ---- exim-ratelimits over time: limited@example.com has rate_per_hour 2 ----
# Each -bh session is a new Exim process; the ratelimit hints database
# (SANDBOX/var/spool/exim4/db/ratelimit) carries the count from one session to the next.
# one_rcpt SENDER: the answer to one RCPT to a remote address, as SENDER (-oMai)
one_rcpt() {
	printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<x@remote.test>\r\nQUIT\r\n' "$1" |
		"${E[@]}" -bh 192.0.2.25 -oMai "$1" -oMaa PLAIN 2>&1 | tr -d '\r' |
		grep -E '^[245][0-9][0-9][ -]' | sed -n 4p
}
a1=$(one_rcpt limited@example.com)
a2=$(one_rcpt limited@example.com)
a3=$(one_rcpt limited@example.com)
if grep -q '^250 ' <<<"$a1" && grep -q '^250 ' <<<"$a2"; then
	ok "exim-ratelimits over time: rate_per_hour 2, sessions 1 and 2 are accepted"
else
	bad "exim-ratelimits over time: rate_per_hour 2, sessions 1 and 2 are accepted" "1: $a1
2: $a2"
fi
if grep -Eq '^450 4\.7\.0 sending rate of limited@example\.com over 2 per 1h$' <<<"$a3"; then
	ok "exim-ratelimits over time: the 3rd message within the hour is refused (450 4.7.0)"
else
	bad "exim-ratelimits over time: the 3rd message within the hour is refused (450 4.7.0)" "3: $a3"
fi
a4=$(one_rcpt limited@example.com)
if grep -q '^450 4\.7\.0 ' <<<"$a4"; then ok "exim-ratelimits over time: still refused in a later session (strict)"; else
	bad "exim-ratelimits over time: still refused in a later session (strict)" "4: $a4"; fi
if [ -s "$sbx/var/spool/exim4/db/ratelimit" ]; then ok "exim-ratelimits: the hints database is in the sandbox spool"; else
	bad "exim-ratelimits: the hints database is in the sandbox spool" "$(ls -l "$sbx/var/spool/exim4/db" 2>&1)"; fi
a5=$(one_rcpt info@example.com)
if grep -q '^250 ' <<<"$a5"; then ok "exim-ratelimits: one sender over its limit does not block another (info@, 100/h)"; else
	bad "exim-ratelimits: one sender over its limit does not block another (info@, 100/h)" "$a5"; fi
# The limit counts messages, not recipients (per_mail): bulk@ (2/h) sends two messages of
# three remote recipients each, in two sessions; every recipient and both messages are
# accepted (per_rcpt would refuse the third recipient of the first). A third message, in a
# third session, is refused at its first recipient.
# three_rcpts SENDER: the answers to RCPT x1, x2, x3 and to the end of DATA, one a line
three_rcpts() {
	printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<x1@remote.test>\r\nRCPT TO:<x2@remote.test>\r\nRCPT TO:<x3@remote.test>\r\nDATA\r\nSubject: three\r\n\r\nto three\r\n.\r\nQUIT\r\n' "$1" |
		"${E[@]}" -bh 192.0.2.25 -oMai "$1" -oMaa PLAIN 2>&1 | tr -d '\r' |
		grep -E '^[2345][0-9][0-9] ' | sed -n '4,6p;8p'
}
m1=$(three_rcpts bulk@example.com)
m2=$(three_rcpts bulk@example.com)
if [ "$(grep -c '^250 ' <<<"$m1")" = 4 ] && [ "$(grep -c '^250 ' <<<"$m2")" = 4 ]; then
	ok "exim-ratelimits count messages: rate_per_hour 2, two messages of 3 recipients each are accepted"
else
	bad "exim-ratelimits count messages: rate_per_hour 2, two messages of 3 recipients each are accepted" "message 1:
$m1
message 2:
$m2"
fi
m3=$(one_rcpt bulk@example.com)
if grep -Eq '^450 4\.7\.0 sending rate of bulk@example\.com over 2 per 1h$' <<<"$m3"; then
	ok "exim-ratelimits count messages: the 3rd message (7th recipient) within the hour is refused (450 4.7.0)"
else
	bad "exim-ratelimits count messages: the 3rd message (7th recipient) within the hour is refused (450 4.7.0)" "3: $m3"
fi
a6=$(one_rcpt boss@example.com)
if grep -Eq '^550 5\.7\.1 boss@example\.com may not send mail$' <<<"$a6"; then
	ok "exim-ratelimits: rate 0 still cannot send in a later session"
else
	bad "exim-ratelimits: rate 0 still cannot send in a later session" "$a6"
fi

# ---- SMTP AUTH through Dovecot's auth-client socket ----
# The real dovecot runs on contrib/dovecot/dovecot.conf with @ROOT@ = the sandbox (so it
# reads SANDBOX/etc/dovecot/dovecot.passwd) and base_dir in the sandbox; it serves no
# protocol, only its auth sockets. Exim gets -DMR_AUTH_DOVECOT=SANDBOX/run/dovecot/auth-client.
auth_ready=
start_dovecot_auth "$sbx" mailrecon-exim-e2e && auth_ready=1
EA=("${E[@]}" -DMR_AUTH_DOVECOT="$sbx/run/dovecot/auth-client")
# smtp_auth USER PASS [MAIL-FROM]: the SMTP answers (one per line) of EHLO, AUTH PLAIN and,
# with MAIL-FROM, of MAIL and of one RCPT to a remote address, from 127.0.0.1
smtp_auth() {
	{
		printf 'EHLO client.test\r\nAUTH PLAIN %s\r\n' "$(printf '\0%s\0%s' "$1" "$2" | base64 -w0)"
		[ $# -lt 3 ] || printf 'MAIL FROM:<%s>\r\nRCPT TO:<x@remote.test>\r\n' "$3"
		printf 'QUIT\r\n'
	} | "${EA[@]}" -bh 127.0.0.1 2>&1 | tr -d '\r' | grep -E '^[2345][0-9][0-9] '
}
# auth NAME USER PASS WANT-REGEX: the answer to AUTH PLAIN
auth() {
	local name=$1 out ans
	if [ -z "$auth_ready" ]; then bad "$name" "dovecot is not running"; return; fi
	out=$(smtp_auth "$2" "$3")
	ans=$(sed -n 3p <<<"$out")
	if grep -Eq -- "$4" <<<"$ans"; then ok "$name"; else bad "$name" "AUTH PLAIN $2 answered '$ans', wanted /$4/:
$out
$(tail -n 5 "$sbx/var/log/dovecot.log" 2>/dev/null)"; fi
}
out=$(printf 'EHLO client.test\r\nQUIT\r\n' | "${EA[@]}" -bh 127.0.0.1 2>&1 | tr -d '\r')
if grep -q '^250-AUTH PLAIN LOGIN$' <<<"$out"; then ok "SMTP AUTH: Exim offers PLAIN and LOGIN (dovecot authenticators)"; else
	bad "SMTP AUTH: Exim offers PLAIN and LOGIN (dovecot authenticators)" "$out"; fi
out=$(printf 'EHLO client.test\r\nQUIT\r\n' | "${EA[@]}" -bh 192.0.2.25 2>&1 | tr -d '\r')
if grep -q '^250-AUTH' <<<"$out"; then bad "SMTP AUTH: no plain-text AUTH offered to a remote client without TLS" "$out"
else ok "SMTP AUTH: no plain-text AUTH offered to a remote client without TLS"; fi
auth "SMTP AUTH via Dovecot: a mailbox's right password gets 235" info@example.com test '^235 '
auth "SMTP AUTH via Dovecot: a wrong password gets 535" info@example.com wrong '^535 '
auth "SMTP AUTH via Dovecot: an unknown address gets 535" nobody@example.com test '^535 '
auth "SMTP AUTH via Dovecot: a disabled mailbox (right password) gets 535" closed@example.com test '^535 '
auth "SMTP AUTH via Dovecot: a mailbox of a disabled domain (right password) gets 535" someone@old.example test '^535 '
if [ -n "$auth_ready" ]; then
	# AUTH LOGIN: the user and the password on their own lines, base64
	out=$(printf 'EHLO client.test\r\nAUTH LOGIN\r\n%s\r\n%s\r\nQUIT\r\n' "$(printf info@example.com | base64 -w0)" \
		"$(printf test | base64 -w0)" | "${EA[@]}" -bh 127.0.0.1 2>&1 | tr -d '\r')
	if grep -q '^235 ' <<<"$out"; then ok "SMTP AUTH via Dovecot: AUTH LOGIN with the right password gets 235"; else
		bad "SMTP AUTH via Dovecot: AUTH LOGIN with the right password gets 235" "$out"; fi
	# the authenticated id reaches the rate limit ACL
	out=$(smtp_auth info@example.com test info@example.com)
	if [ "$(sed -n 3p <<<"$out")" = "235 Authentication succeeded" ] && grep -q '^250 Accepted$' <<<"$(sed -n 5p <<<"$out")"; then
		ok "SMTP AUTH via Dovecot: an authenticated mailbox may relay to a remote domain"
	else
		bad "SMTP AUTH via Dovecot: an authenticated mailbox may relay to a remote domain" "$out"
	fi
	out=$(smtp_auth boss@example.com test boss@example.com)
	if [ "$(sed -n 3p <<<"$out")" = "235 Authentication succeeded" ] &&
		[ "$(sed -n 5p <<<"$out")" = "550 5.7.1 boss@example.com may not send mail" ]; then
		ok "SMTP AUTH via Dovecot: rate 0 authenticates but cannot send"
	else
		bad "SMTP AUTH via Dovecot: rate 0 authenticates but cannot send" "$out"
	fi
fi

# ---- SMTP AUTH CRAM-MD5 (-DMR_AUTH_CRAM_MD5), through the same Dovecot ----
# cram@example.com has the panel's {CRAM-MD5} hash; info@ a crypt hash, which cannot answer
# a challenge. cram_md5 USER PASS [MAIL-FROM]: the SMTP answers (banner, EHLO, AUTH, the
# answer to the client's response and, after a 235 with MAIL-FROM, MAIL and one RCPT to a
# remote address) of a session from 127.0.0.1 whose client computes the response
# (HMAC-MD5 of Exim's challenge, keyed with the password; RFC 2195) from the challenge.
EC=("${EA[@]}" -DMR_AUTH_CRAM_MD5)
cram_md5() {
	"$py" - "$1" "$2" "${3:-}" "${EC[@]}" -bh 127.0.0.1 <<'EOF'
import base64, hashlib, hmac, subprocess, sys
user, pw, mailfrom = sys.argv[1:4]
p = subprocess.Popen(sys.argv[4:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
def reply():
    last = ""
    while True:
        raw = p.stdout.readline()
        if not raw:
            return last
        l = raw.decode(errors="replace").rstrip("\r\n")
        # -bh prints its own comments ("**** ...") and blank lines among the replies
        if len(l) < 4 or not l[:3].isdigit() or l[3] not in " -":
            continue
        last = l
        if l[3] == " ":
            return l
def send(s):
    p.stdin.write(s.encode() + b"\r\n")
    p.stdin.flush()
out = [reply()]
send("EHLO client.test"); out.append(reply())
send("AUTH CRAM-MD5"); r = reply(); out.append(r)
if r.startswith("334 "):
    digest = hmac.new(pw.encode(), base64.b64decode(r[4:]), hashlib.md5).hexdigest()
    send(base64.b64encode(("%s %s" % (user, digest)).encode()).decode()); r = reply(); out.append(r)
    if r.startswith("235 ") and mailfrom:
        send("MAIL FROM:<%s>" % mailfrom); out.append(reply())
        send("RCPT TO:<x@remote.test>"); out.append(reply())
send("QUIT"); reply()
p.stdin.close()
p.wait()
print("\n".join(out))
EOF
}
cram_checks=(
	"SMTP AUTH CRAM-MD5: offered with -DMR_AUTH_CRAM_MD5 (PLAIN LOGIN CRAM-MD5), and not to a remote client without TLS"
	"SMTP AUTH CRAM-MD5 via Dovecot: the right password against the {CRAM-MD5} hash gets 235, and the mailbox may relay"
	"SMTP AUTH CRAM-MD5 via Dovecot: a wrong password gets 535"
	"SMTP AUTH CRAM-MD5 via Dovecot: a mailbox with a crypt hash gets 535 (a challenge cannot be checked against it)"
	"SMTP AUTH PLAIN via Dovecot: the {CRAM-MD5} mailbox gets 235 with PLAIN too"
)
if [ -z "$auth_ready" ]; then
	for c in "${cram_checks[@]}"; do bad "$c" "dovecot is not running"; done
else
	out=$(printf 'EHLO client.test\r\nQUIT\r\n' | "${EC[@]}" -bh 127.0.0.1 2>&1 | tr -d '\r')
	out2=$(printf 'EHLO client.test\r\nQUIT\r\n' | "${EC[@]}" -bh 192.0.2.25 2>&1 | tr -d '\r')
	if grep -q '^250-AUTH PLAIN LOGIN CRAM-MD5$' <<<"$out" && ! grep -q '^250-AUTH' <<<"$out2"; then ok "${cram_checks[0]}"; else
		bad "${cram_checks[0]}" "$out
$out2"; fi
	out=$(cram_md5 cram@example.com test cram@example.com 2>&1)
	if [[ $(sed -n 3p <<<"$out") == "334 "* ]] && [ "$(sed -n 4p <<<"$out")" = "235 Authentication succeeded" ] &&
		[ "$(sed -n 6p <<<"$out")" = "250 Accepted" ]; then ok "${cram_checks[1]}"; else
		bad "${cram_checks[1]}" "$out
$(tail -n 5 "$sbx/var/log/dovecot.log" 2>/dev/null)"; fi
	out=$(cram_md5 cram@example.com wrong 2>&1)
	if [[ $(sed -n 3p <<<"$out") == "334 "* ]] && [ "$(sed -n 4p <<<"$out")" = "535 Incorrect authentication data" ]; then
		ok "${cram_checks[2]}"; else bad "${cram_checks[2]}" "$out"; fi
	out=$(cram_md5 info@example.com test 2>&1)
	if [[ $(sed -n 3p <<<"$out") == "334 "* ]] && [ "$(sed -n 4p <<<"$out")" = "535 Incorrect authentication data" ]; then
		ok "${cram_checks[3]}"; else bad "${cram_checks[3]}" "$out"; fi
	auth "${cram_checks[4]}" cram@example.com test '^235 '
fi

# ---- real deliveries: exim4 -odi ----
home=$sbx/var/www/mailtest/data/email/example.com
delivered "delivery: a mailbox gets the message in HOME/.maildir/new (home from dovecot.passwd)" \
	info@example.com +info
owner=$(stat -c %u:%g "$(ls -d "$home"/info/.maildir/new/* 2>/dev/null | head -n 1)" 2>/dev/null)
if [ "$owner" = 65534:65534 ]; then ok "delivery: the message file belongs to the dovecot.passwd uid:gid"; else
	bad "delivery: the message file belongs to the dovecot.passwd uid:gid" "owner '$owner'"; fi
delivered "delivery: an alias reaches its main mailbox" sales@example.com +info -sales
delivered "delivery: a copy reaches its target and the mailbox keeps its own" keeper@example.com +keeper +boss
delivered "delivery: keep_copy false (save=no): only the copies, not the mailbox" orders@example.com \
	+boss +info -orders
delivered "delivery: default_action forward" nobody@example.com +info
delivered "delivery: default_action redirect_domain" info@example.org +info
delivered "delivery: a disabled mailbox gets nothing" closed@example.com -closed

# ---- delivery through dovecot-lda (MR_DELIVERY=mr_dovecot_lda): the quota is enforced ----
# dovecot-lda reads the sandbox dovecot.conf (-DMR_DOVECOT_CONF) and asks the running
# dovecot's auth-userdb socket for the mailbox's userdb_quota_rule (max_size: 1M).
if [ -z "$auth_ready" ] || [ ! -x /usr/lib/dovecot/dovecot-lda ]; then
	bad "delivery via dovecot-lda: a small message reaches the Maildir of a 1M-quota mailbox" "dovecot or dovecot-lda missing"
	bad "delivery via dovecot-lda: a ~2 MB message over the 1M quota is refused (Quota exceeded) and not stored"
else
	# the configuration's default transport, with the sandbox dovecot.conf
	E=("${E0[@]}")
	deliver_args=(-DMR_DOVECOT_CONF="$sbx/etc/dovecot/dovecot.conf")
	bt "delivery: the default transport is dovecot-lda (mr_dovecot_lda)" quota@example.com \
		'^quota@example\.com$' 'router = mr_mailbox, transport = mr_dovecot_lda'
	subj=$(send quota@example.com)
	lg=$(grep -F "quota@example.com" "$sbx/var/log/exim4/mainlog" | tail -n 3)
	if has quota "$subj" && grep -q '=> quota <quota@example\.com> .*T=mr_dovecot_lda' <<<"$lg"; then
		ok "delivery via dovecot-lda: a small message reaches the Maildir of a 1M-quota mailbox"
	else
		bad "delivery via dovecot-lda: a small message reaches the Maildir of a 1M-quota mailbox" "$lg
$(tail -n 10 "$sbx/var/log/dovecot.log" 2>/dev/null)"
	fi
	subj="e2e-quota-big-$$"
	{
		printf 'From: sender@remote.test\nTo: quota@example.com\nSubject: %s\n\n' "$subj"
		head -c 1500000 /dev/urandom | base64 -w 76
	} | deliver -f sender@remote.test quota@example.com
	lg=$(grep -F "quota@example.com" "$sbx/var/log/exim4/mainlog" | tail -n 3)
	if ! has quota "$subj" && grep -q '\*\* quota@example\.com .*T=mr_dovecot_lda' <<<"$lg" &&
		grep -qi 'quota exceeded' <<<"$lg"; then
		ok "delivery via dovecot-lda: a ~2 MB message over the 1M quota is refused (Quota exceeded) and not stored"
	else
		bad "delivery via dovecot-lda: a ~2 MB message over the 1M quota is refused (Quota exceeded) and not stored" "$lg
$(tail -n 10 "$sbx/var/log/dovecot.log" 2>/dev/null)"
	fi
	deliver_args=()
	E=("${E0[@]}" -DMR_DELIVERY=mr_maildir)
fi

# ---- remote delivery: DKIM and the outgoing address (exim-domainips) ----
# One message from info@example.com to a remote address, delivered (-M) with the Python
# SMTP sink as the smarthost. Its DKIM signature is verified with python3-dkim against the
# TXT record `mailrecon dns` prints: the key Exim signs with is the one the operator is
# told to publish.
if ! start_sink "$sbx/sink"; then
	bad "the Python SMTP sink starts (Debian: /usr/bin/python3 with smtpd)" "$(cat "$sbx/sink.log" 2>/dev/null)"
	finish
fi
deliver_args=(-DMR_SMARTHOST="127.0.0.1::$sink_port")
printf 'From: info@example.com\nTo: x@remote.test\nSubject: dkim-%s\n\nsigned body\n' "$$" |
	deliver -f info@example.com x@remote.test
deliver_args=()
wait_for 30 test -f "$sbx/sink/1.eml"
# the DKIM-Signature header, unfolded
sig=$(tr -d '\r' <"$sbx/sink/1.eml" 2>/dev/null |
	awk '/^$/{exit} /^DKIM-Signature:/{h=1; printf "%s", $0; next} h && /^[ \t]/{sub(/^[ \t]+/, ""); printf "%s", $0; next} {h=0}')
if grep -Eq '(^|[; ])d=example\.com;' <<<"$sig" && grep -Eq '[; ]s=e2e;' <<<"$sig"; then
	ok "DKIM: remote mail is signed with ssl/DOMAIN.private, selector from ssl/DOMAIN.txt"
else
	bad "DKIM: remote mail is signed with ssl/DOMAIN.private, selector from ssl/DOMAIN.txt" \
		"$(cat "$sbx/sink.log" "$sbx/sink/1.eml"; tail -n 20 "$sbx/var/log/exim4/mainlog" 2>/dev/null)"
fi
if [ "$(cat "$sbx/sink/1.peer" 2>/dev/null)" = 127.0.0.2 ]; then
	ok "exim-domainips: remote mail of example.com leaves from its address (127.0.0.2)"
else
	bad "exim-domainips: remote mail of example.com leaves from its address (127.0.0.2)" "$(cat "$sbx/sink/1.peer" 2>&1)"
fi
stop "$sink_pid"
sink_pid=
dns=$("$bin" --root "$sbx" dns 2>&1)
rec_line=$(grep -E '^[^[:space:]]+\._domainkey\.example\.com\.?[[:space:]]' <<<"$dns" | head -n 1)
rec_name=${rec_line%%[[:space:]]*}
# the TXT data: its quoted strings joined
rec=$(grep -o '"[^"]*"' <<<"$rec_line" | tr -d '"\n')
# verify RECORD [tamper]: python3-dkim's verdict on the sink's message; the DNS answer is
# RECORD, given only for the record name mailrecon printed (a wrong s= or d= gets no key)
verify() {
	"$py" -W ignore - "$sbx/sink/1.eml" "$rec_name" "$1" "${2:-}" <<'EOF'
import sys, dkim
raw = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
if sys.argv[4] == "tamper":
    raw = raw.replace(b"signed body", b"signed b0dy")
msg = raw.replace(b"\n", b"\r\n")
want = sys.argv[2].rstrip(".").lower().encode()
asked = []
def dnsfunc(name, timeout=5):
    asked.append(name.decode())
    return sys.argv[3].encode() if name.rstrip(b".").lower() == want else None
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print("%s (asked for %s)" % ("pass" if ok else "fail", ", ".join(asked) or "nothing"))
sys.exit(0 if ok else 1)
EOF
}
if ! "$py" -c 'import dkim' 2>/dev/null; then
	bad "/usr/bin/python3 can import dkim (Debian: apt-get install python3-dkim)" "$("$py" -c 'import dkim' 2>&1)"
elif [ -z "$sig" ] || [ -z "$rec" ]; then
	bad "DKIM: the signature verifies against the TXT record mailrecon dns prints (python3-dkim)" "no signature or no record: $dns"
else
	if out=$(verify "$rec" 2>&1); then ok "DKIM: the signature verifies against the TXT record mailrecon dns prints (python3-dkim)"; else
		bad "DKIM: the signature verifies against the TXT record mailrecon dns prints (python3-dkim)" "$out
$sig
$rec_line"
	fi
	if ! out=$(verify "$rec" tamper 2>&1) && grep -q '^fail ' <<<"$out"; then
		ok "DKIM: a tampered body fails verification against the same record"
	else
		bad "DKIM: a tampered body fails verification against the same record" "$out"
	fi
	other=$(openssl genrsa 1024 2>/dev/null | openssl rsa -pubout -outform DER 2>/dev/null | base64 -w0)
	if [ -n "$other" ] && ! out=$(verify "v=DKIM1; h=sha256; k=rsa; s=email; p=$other" 2>&1) && grep -q '^fail ' <<<"$out"; then
		ok "DKIM: the signature does not verify against another key's record"
	else
		bad "DKIM: the signature does not verify against another key's record" "$out"
	fi
fi

# ---- a changed desired state, re-applied while nothing restarts ----
# The copy removes the alias abuse@example.net, deletes the domain example.info and
# disables keeper@example.com. The same SANDBOX/exim4.conf is used (Exim opens the lookup
# files at each lookup) and the same dovecot master keeps running.
desired2=$sbx/desired-changed.yaml
sed -e '/# run\.sh: re-apply removes this alias$/d' \
	-e 's/disabled: false  # run\.sh: re-apply disables this mailbox$/disabled: true/' \
	-e '/^  example\.info:$/,/^    default_action: discard$/d' "$repo/tests/e2e/desired.yaml" >"$desired2"
if grep -q 'abuse' "$desired2" || grep -q 'example\.info:' "$desired2" || ! grep -q '^        disabled: true$' "$desired2" ||
	[ "$(grep -c 'disabled: true' "$desired2")" -ne "$(($(grep -c 'disabled: true' "$repo/tests/e2e/desired.yaml") + 1))" ]; then
	bad "the edited copy of tests/e2e/desired.yaml has the three changes" "$(diff "$repo/tests/e2e/desired.yaml" "$desired2")"
fi
conf_sum=$(md5sum <"$sbx/exim4.conf")
out=$("$bin" apply --root "$sbx" -f "$desired2" --allow-delete 2>&1)
if [ $? -eq 0 ]; then ok "re-apply: mailrecon apply of the changed copy (alias removed, domain deleted, mailbox disabled)"; else
	bad "re-apply: mailrecon apply of the changed copy (alias removed, domain deleted, mailbox disabled)" "$out"; fi
if [ "$(md5sum <"$sbx/exim4.conf")" = "$conf_sum" ]; then ok "re-apply: the Exim configuration file is the same (no reload)"; else
	bad "re-apply: the Exim configuration file is the same (no reload)"; fi
bt "re-apply: the removed alias no longer routes, it gets the domain's default action (reject)" abuse@example.net \
	'^abuse@example\.net is undeliverable: No such user here$'
rcpt "re-apply: SMTP: the removed alias is refused with the reject domain's text" abuse@example.net '^550 No such user here$'
bt "re-apply: the alias's main mailbox still routes" postmaster@example.net \
	'^postmaster@example\.net$' 'router = mr_mailbox'
bt "re-apply: the deleted domain is no longer local (routed as remote)" nobody@example.info \
	'^nobody@example\.info is undeliverable: Unrouteable address$'
rcpt "re-apply: SMTP: the deleted domain is refused as relaying" nobody@example.info '^550 5\.7\.1 relay not permitted$'
bt "re-apply: the newly disabled mailbox is undeliverable with 5.0.0" keeper@example.com \
	'^keeper@example\.com is undeliverable: 5\.0\.0 mailbox disabled$'
rcpt "re-apply: SMTP: the newly disabled mailbox is refused with 550 5.0.0" keeper@example.com '^550 5\.0\.0 mailbox disabled$'
rcpt "re-apply: SMTP: an unchanged mailbox is still accepted" info@example.com '^250 '
if [ -n "$auth_ready" ]; then
	# Dovecot's passwd-file stats the file at most once per second
	sleep 1.1
	out=$(smtp_auth keeper@example.com test)
	if [ "$(sed -n 3p <<<"$out")" = "535 Incorrect authentication data" ] &&
		[ "$(cat "$sbx/run/dovecot/master.pid" 2>/dev/null)" = "$dovecot_pid" ]; then
		ok "re-apply: SMTP AUTH of the newly disabled mailbox gets 535 from the same running dovecot"
	else
		bad "re-apply: SMTP AUTH of the newly disabled mailbox gets 535 from the same running dovecot" "$out"
	fi
	auth "re-apply: SMTP AUTH of an unchanged mailbox still gets 235" info@example.com test '^235 '
else
	bad "re-apply: SMTP AUTH of the newly disabled mailbox gets 535 from the same running dovecot" "dovecot is not running"
fi

# ---- disabled -> enabled, through mailrecon apply, while nothing restarts ----
# A third apply: tests/e2e/desired.yaml as it is (keeper@example.com, disabled by the
# re-apply, is enabled again), with the disabled domain old.example enabled. Both were
# refused above; the same Exim configuration and the same dovecot master now accept them.
desired3=$sbx/desired-enabled.yaml
sed -e '/^  old\.example:$/,/^    mailboxes:$/s/^    disabled: true$/    disabled: false/' "$repo/tests/e2e/desired.yaml" >"$desired3"
if [ "$(diff "$repo/tests/e2e/desired.yaml" "$desired3" | grep -c '^>')" -ne 1 ] ||
	! grep -A3 '^  old\.example:$' "$desired3" | grep -q '^    disabled: false$'; then
	bad "the enabling copy of tests/e2e/desired.yaml enables old.example and nothing else" \
		"$(diff "$repo/tests/e2e/desired.yaml" "$desired3")"
fi
out=$("$bin" apply --root "$sbx" -f "$desired3" 2>&1)
if [ $? -eq 0 ]; then ok "enable: mailrecon apply enables the mailbox keeper@example.com and the domain old.example"; else
	bad "enable: mailrecon apply enables the mailbox keeper@example.com and the domain old.example" "$out"; fi
if [ "$(md5sum <"$sbx/exim4.conf")" = "$conf_sum" ]; then ok "enable: the Exim configuration file is the same (no reload)"; else
	bad "enable: the Exim configuration file is the same (no reload)"; fi
rcpt "enable: SMTP: the re-enabled mailbox is accepted again (250)" keeper@example.com '^250 '
rcpt "enable: SMTP: a mailbox of the re-enabled domain is accepted (250, a local domain again)" someone@old.example '^250 '
bt "enable: the re-enabled domain's mailbox routes to its Maildir" someone@old.example \
	'^someone@old\.example$' 'router = mr_mailbox, transport = mr_maildir'
delivered "enable: delivery: the re-enabled mailbox gets its mail and its copy to boss@ again" keeper@example.com +keeper +boss
home=$sbx/var/www/mailtest/data/email/old.example
delivered "enable: delivery: the mailbox of the re-enabled domain gets its mail" someone@old.example +someone
home=$sbx/var/www/mailtest/data/email/example.com
if [ -n "$auth_ready" ]; then
	sleep 1.1 # Dovecot's passwd-file stats the file at most once per second
	auth "enable: SMTP AUTH of the re-enabled mailbox gets 235 from the same running dovecot" keeper@example.com test '^235 '
	out=$(smtp_auth someone@old.example test someone@old.example)
	if [ "$(sed -n 3p <<<"$out")" = "235 Authentication succeeded" ] && grep -q '^250 Accepted$' <<<"$(sed -n 5p <<<"$out")" &&
		[ "$(cat "$sbx/run/dovecot/master.pid" 2>/dev/null)" = "$dovecot_pid" ]; then
		ok "enable: SMTP AUTH of the re-enabled domain's mailbox gets 235 from the same dovecot, and it may relay"
	else
		bad "enable: SMTP AUTH of the re-enabled domain's mailbox gets 235 from the same dovecot, and it may relay" "$out"
	fi
else
	bad "enable: SMTP AUTH of the re-enabled mailbox gets 235 from the same running dovecot" "dovecot is not running"
	bad "enable: SMTP AUTH of the re-enabled domain's mailbox gets 235 from the same dovecot, and it may relay" "dovecot is not running"
fi
stop_dovecot

# Each re-execution of Exim with -C logs "exim user lost privilege for using -C option" to
# the panic log: expected here (see deliver()), anything else is not.
panic=$(grep -v 'exim user lost privilege for using -C option' "$sbx/var/log/exim4/paniclog" 2>/dev/null)
if [ -z "$panic" ]; then ok "no Exim panic log entry"; else bad "no Exim panic log entry" "$panic"; fi

# ---- the RHEL layout: /etc/exim, /etc/postfix/postgrey_whitelist_recipients, user exim ----
# The same desired state applied with --layout rhel, and the same exim4.conf with -DMR_RHEL
# reading it. The binary is Debian's, so its user is Debian-exim (-DMR_EXIM_USER); the
# sandbox names that uid "exim", and mailrecon gives the files to "exim" as on RHEL.
rsbx=$(mktemp -d /tmp/mailrecon-e2e-rhel.XXXXXX)
exim_sandbox "$rsbx" rhel
out=$("$bin" apply --root "$rsbx" --layout rhel -f "$repo/tests/e2e/desired.yaml" 2>&1)
if [ $? -eq 0 ]; then ok "RHEL: mailrecon apply --layout rhel writes the desired state"; else
	bad "RHEL: mailrecon apply --layout rhel writes the desired state" "$out"; fi
missing=
for f in etc/exim/passwd etc/exim/aliases etc/exim/domains etc/exim/ratelimits etc/exim/domainips \
	etc/exim/ssl/example.com.private etc/postfix/postgrey_whitelist_recipients etc/dovecot/dovecot.passwd; do
	[ -s "$rsbx/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ] && [ ! -e "$rsbx/etc/exim4" ] && [ ! -e "$rsbx/etc/postgrey" ]; then
	ok "RHEL: the files are at the RHEL paths, none at Debian's"
else
	bad "RHEL: the files are at the RHEL paths, none at Debian's" "missing:$missing; $(cd "$rsbx" && find etc -type f | sort)"
fi
if [ "$(stat -c %G "$rsbx/etc/exim/passwd")" = "$(id -gn Debian-exim)" ] && grep -q '^exim:' "$rsbx/etc/group"; then
	ok "RHEL: exim passwd belongs to the group named exim in the sandbox"
else
	bad "RHEL: exim passwd belongs to the group named exim in the sandbox" "$(ls -l "$rsbx/etc/exim")"
fi
E0=("$exim" -C "$rsbx/exim4.conf" -DMR_ROOT="$rsbx" -DMR_RHEL -DMR_EXIM_USER=Debian-exim -DMR_EXIM_GROUP=Debian-exim)
E=("${E0[@]}" -DMR_DELIVERY=mr_maildir)
out=$("${E[@]}" -bV 2>&1)
if [ $? -eq 0 ]; then ok "RHEL: exim4 -bV accepts exim4.conf with -DMR_RHEL"; else bad "RHEL: exim4 -bV accepts exim4.conf with -DMR_RHEL" "$out"; fi
bt "RHEL: a mailbox routes to the Maildir transport" info@example.com '^info@example\.com$' 'router = mr_mailbox'
bt "RHEL: an alias routes to its main mailbox" sales@example.com '^info@example\.com$' '<-- sales@example\.com'
bt "RHEL: a copy reaches its target and the mailbox keeps its own" keeper@example.com '^boss@example\.com$' '^keeper@example\.com$'
bt "RHEL: a disabled mailbox is undeliverable with 5.0.0" closed@example.com '^closed@example\.com is undeliverable: 5\.0\.0 mailbox disabled$'
bt "RHEL: default_action discard" nobody@example.info '^mail to nobody@example\.info is discarded$'
rcpt "RHEL: SMTP: unknown address of a reject domain: 550 with the domain's text" nobody@example.net '^550 No such user here$'
wl "RHEL: the postgrey whitelist is read from /etc/postfix/postgrey_whitelist_recipients" info@example.com \
	'info@example\.com greylisting=whitelisted spamassassin=whitelisted antivirus=whitelisted$'
wl "RHEL: a domain in no whitelist: every check applies" postmaster@example.net \
	'postmaster@example\.net greylisting=on spamassassin=on antivirus=on$'
home=$rsbx/var/www/mailtest/data/email/example.com
deliver_args=()
delivered "RHEL: delivery: an alias reaches its main mailbox in the Maildir" sales@example.com +info -sales
# The default delivery, dovecot-lda at RHEL's /usr/libexec/dovecot path, which Debian does
# not have: the delivery is deferred (exit 127 is a temporary error), not bounced.
E=("${E0[@]}")
subj=$(send info@example.com)
lg=$(grep -F "info@example.com" "$rsbx/var/log/exim/mainlog" | tail -n 2)
if grep -q '== info@example\.com R=mr_mailbox T=mr_dovecot_lda defer .*returned 127' <<<"$lg" &&
	! grep -q '<= <> ' "$rsbx/var/log/exim/mainlog" && ! has info "$subj"; then
	ok "RHEL: dovecot-lda that cannot be run (not at /usr/libexec/dovecot here) defers the mail, no bounce"
else
	bad "RHEL: dovecot-lda that cannot be run (not at /usr/libexec/dovecot here) defers the mail, no bounce" "$lg"
fi
if [ -s "$rsbx/var/log/exim/mainlog" ]; then ok "RHEL: Exim logs to /var/log/exim"; else
	bad "RHEL: Exim logs to /var/log/exim" "$(ls -R "$rsbx/var/log")"; fi

finish
