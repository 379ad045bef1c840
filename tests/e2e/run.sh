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
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 MAILRECON REPO_ROOT" >&2
	exit 64
fi
bin=$1
repo=$(cd "$2" && pwd)
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	[ $# -lt 2 ] || printf '%s\n' "$2" | grep -v 'lost privilege for using -C' | head -n 25 | sed 's/^/     /'
}
finish() {
	echo "e2e: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

exim=$(command -v exim4 || command -v exim || true)
[ -n "$exim" ] || [ ! -x /usr/sbin/exim4 ] || exim=/usr/sbin/exim4
if [ -z "$exim" ]; then
	bad "exim4 is installed (Debian: apt-get install exim4-daemon-heavy)"
	finish
fi
if [ "$(id -u)" -ne 0 ]; then
	bad "the test runs as root (exim4 -C with a non-default file and -D keep root only for root)"
	finish
fi
if ! getent passwd Debian-exim >/dev/null || ! getent passwd 65534 >/dev/null; then
	bad "the users Debian-exim and nobody (65534) exist"
	finish
fi

sbx=$(mktemp -d /tmp/mailrecon-e2e.XXXXXX)
sink_pid=
dovecot_pid=
stop_dovecot() {
	[ -n "$dovecot_pid" ] || return 0
	kill "$dovecot_pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$dovecot_pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$dovecot_pid" 2>/dev/null
	dovecot_pid=
}
cleanup() {
	[ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null
	stop_dovecot
	# E2E_KEEP=1 keeps the sandbox (the processes are stopped all the same)
	if [ -z "${E2E_KEEP:-}" ]; then rm -rf "$sbx"; else echo "sandbox kept: $sbx"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Exim's delivery processes run as nobody and Debian-exim: they must reach the sandbox.
chmod 755 "$sbx"

# ---- the sandbox root ----
exim_uid=$(id -u Debian-exim)
exim_gid=$(id -g Debian-exim)
mkdir -p "$sbx/etc/exim4" "$sbx/var/spool/exim4" "$sbx/var/log/exim4"
cat >"$sbx/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/bash
Debian-exim:x:$exim_uid:$exim_gid::/var/spool/exim4:/usr/sbin/nologin
mailtest:x:65534:65534::/var/www/mailtest:/usr/sbin/nologin
mailother:x:65534:65534::/var/www/mailother:/usr/sbin/nologin
EOF
cat >"$sbx/etc/group" <<EOF
root:x:0:
Debian-exim:x:$exim_gid:
dovecot:x:$(getent group dovecot | cut -d: -f3 || echo 0):
nogroup:x:65534:
EOF
chown -R Debian-exim:Debian-exim "$sbx/var/spool/exim4" "$sbx/var/log/exim4"
# Exim refuses a configuration that root does not own or others can write.
install -m 0644 -o root -g root "$repo/contrib/exim4/exim4.conf" "$sbx/exim4.conf"

out=$("$bin" apply --root "$sbx" -f "$repo/tests/e2e/desired.yaml" --allow-delete 2>&1)
if [ $? -eq 0 ]; then ok "mailrecon apply writes the desired state into the sandbox"; else
	bad "mailrecon apply writes the desired state into the sandbox" "$out"
	finish
fi

E=("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx")
out=$("${E[@]}" -bV 2>&1)
if [ $? -eq 0 ]; then ok "exim4 -bV accepts contrib/exim4/exim4.conf"; else
	bad "exim4 -bV accepts contrib/exim4/exim4.conf" "$out"
	finish
fi

# ---- routing: exim4 -bt ----
# bt NAME ADDRESS REGEX...: every REGEX (grep -E, multi-line output) must match
bt() {
	local name=$1 addr=$2 out re
	shift 2
	out=$("${E[@]}" -bt "$addr" 2>&1)
	for re in "$@"; do
		if ! grep -Eq -- "$re" <<<"$out"; then
			bad "$name" "exim4 -bt $addr: no match for /$re/ in:
$out"
			return
		fi
	done
	ok "$name"
}
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
# rcpt NAME RCPT WANT-REGEX [EXTRA-EXIM-ARGS...]: the answer to RCPT TO
rcpt() {
	local name=$1 to=$2 want=$3 out ans
	shift 3
	out=$(printf 'HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$to" |
		"${E[@]}" "$@" -bh 192.0.2.25 2>&1 | tr -d '\r')
	ans=$(grep -E '^[245][0-9][0-9][ -]' <<<"$out" | sed -n 4p)
	if grep -Eq -- "$want" <<<"$ans"; then ok "$name"; else bad "$name" "RCPT TO:<$to> answered '$ans', wanted /$want/:
$out"; fi
}
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
# wl NAME RCPT REGEX: the "mailrecon:" log line of the RCPT must match
wl() {
	local name=$1 to=$2 want=$3 out
	out=$(printf 'HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$to" |
		"${E[@]}" -bh 192.0.2.25 2>&1 | grep '^LOG: mailrecon: ')
	if grep -Eq -- "$want" <<<"$out"; then ok "$name"; else bad "$name" "wanted /$want/, got: $out"; fi
}
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
if ! command -v dovecot >/dev/null || ! command -v openssl >/dev/null || ! getent passwd dovenull >/dev/null ||
	! getent passwd dovecot >/dev/null; then
	bad "dovecot, openssl and the users dovecot and dovenull exist (Debian: dovecot-core)"
else
	mkdir -p "$sbx/etc/dovecot/private" "$sbx/run" "$sbx/var/lib/dovecot"
	# only so that the ssl_cert/ssl_key lines parse; ssl = no below
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$sbx/etc/dovecot/private/dovecot.key" \
		-out "$sbx/etc/dovecot/private/dovecot.pem" >/dev/null 2>&1
	dconf=$sbx/etc/dovecot/dovecot.conf
	sed -e "s|@ROOT@|$sbx|g" -e "s|@EXIM_GROUP@|Debian-exim|g" "$repo/contrib/dovecot/dovecot.conf" >"$dconf"
	cat >>"$dconf" <<EOF

# ---- tests/e2e/run.sh overrides: a private instance, auth sockets only ----
instance_name = mailrecon-exim-e2e
base_dir = $sbx/run/dovecot
state_dir = $sbx/var/lib/dovecot
log_path = $sbx/var/log/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
protocols =
ssl = no
# Refusals are part of the test: no delay after each, and no per-IP penalty (anvil would
# delay every later AUTH from 127.0.0.1 by up to 15 s).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
# dovecot-lda, run by Exim as the mailbox owner (nobody here), asks auth-userdb for the
# quota rule and reports to stats-writer.
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
# its log goes to stderr, which Exim's pipe transport puts in the mainlog (log_output)
protocol lda {
  log_path = /dev/stderr
  info_log_path = /dev/stderr
}
EOF
	# to a file: dovecot's master and log processes keep their stderr open
	dovecot -c "$dconf" >"$sbx/dovecot.start" 2>&1
	out=$(cat "$sbx/dovecot.start")
	for _ in $(seq 50); do [ -S "$sbx/run/dovecot/auth-client" ] && break; sleep 0.1; done
	dovecot_pid=$(cat "$sbx/run/dovecot/master.pid" 2>/dev/null)
	if [ -n "$dovecot_pid" ] && [ -S "$sbx/run/dovecot/auth-client" ]; then
		ok "dovecot starts on contrib/dovecot/dovecot.conf with its auth-client socket in the sandbox"
		auth_ready=1
	else
		bad "dovecot starts on contrib/dovecot/dovecot.conf with its auth-client socket in the sandbox" \
			"$out
$(tail -n 20 "$sbx/var/log/dovecot.log" 2>/dev/null)"
	fi
fi
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

# ---- real deliveries: exim4 -odi ----
home=$sbx/var/www/mailtest/data/email/example.com
# deliver EXIM-ARGS... <MESSAGE: receive the message into the queue (-odq), then deliver it
# at once as root (-M). "-odi" would not do: after the reception, Exim re-executes itself
# to regain root, and with -C of a file not in TRUSTED_CONFIG_LIST it loses root there
# ("exim user lost privilege for using -C option"), so it could not become the owner.
deliver() {
	local before after id
	before=$(ls "$sbx/var/spool/exim4/input" 2>/dev/null)
	"${E[@]}" -odq -oi "$@" >/dev/null 2>&1
	after=$(ls "$sbx/var/spool/exim4/input" 2>/dev/null)
	for id in $(comm -13 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) | sed -n 's/-H$//p'); do
		"${E[@]}" "${deliver_args[@]}" -M "$id" >/dev/null 2>&1
	done
}
deliver_args=()
n=0
# send ADDRESS: a message with a unique subject; prints the subject
send() {
	n=$((n + 1))
	local subj="e2e-$n-$$"
	printf 'From: sender@remote.test\nTo: %s\nSubject: %s\n\nbody %s\n' "$1" "$subj" "$n" |
		deliver -f sender@remote.test "$1"
	echo "$subj"
}
# has MAILBOX SUBJECT: the mailbox's Maildir has the message in new/
has() { grep -lqs "^Subject: $2\$" "$home/$1/.maildir/new/"* 2>/dev/null; }
# delivered NAME ADDRESS +MAILBOX... -MAILBOX...
delivered() {
	local name=$1 addr=$2 subj m why=
	shift 2
	subj=$(send "$addr")
	for m in "$@"; do
		case $m in
		+*) has "${m#+}" "$subj" || why="$why no message in ${m#+}/.maildir/new;" ;;
		-*) ! has "${m#-}" "$subj" || why="$why a message in ${m#-}/.maildir/new;" ;;
		esac
	done
	if [ -z "$why" ]; then ok "$name"; else
		bad "$name" "$why
$(tail -n 20 "$sbx/var/log/exim4/mainlog" 2>/dev/null)
$(tail -n 20 "$sbx/var/log/exim4/paniclog" 2>/dev/null)"
	fi
}
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
	deliver_args=(-DMR_DELIVERY=mr_dovecot_lda -DMR_DOVECOT_CONF="$sbx/etc/dovecot/dovecot.conf")
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
fi

# ---- remote delivery: DKIM and the outgoing address (exim-domainips) ----
if ! command -v python3 >/dev/null; then
	bad "python3 is installed (the SMTP sink of the DKIM test)"
	finish
fi
port=$((20000 + RANDOM % 20000))
deliver_args=(-DMR_SMARTHOST="127.0.0.1::$port")
python3 -W ignore - "$port" >"$sbx/sink.out" 2>&1 <<'EOF' &
import asyncore, smtpd, sys
class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        if isinstance(data, bytes):
            data = data.decode("latin-1")
        print("PEER %s" % peer[0])
        print(data)
        print("END")
        sys.stdout.flush()
Sink(("127.0.0.1", int(sys.argv[1])), None)
asyncore.loop()
EOF
sink_pid=$!
for _ in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done
printf 'From: info@example.com\nTo: x@remote.test\nSubject: dkim-%s\n\nsigned body\n' "$$" |
	deliver -DMR_SMARTHOST="127.0.0.1::$port" -f info@example.com x@remote.test
for _ in $(seq 30); do grep -q '^END' "$sbx/sink.out" && break; sleep 0.1; done
# the DKIM-Signature header, unfolded
sig=$(tr -d '\r' <"$sbx/sink.out" | awk '/^DKIM-Signature:/{h=1; printf "%s", $0; next} h && /^[ \t]/{sub(/^[ \t]+/, ""); printf "%s", $0; next} {h=0}')
if grep -Eq '(^|[; ])d=example\.com;' <<<"$sig" && grep -Eq '[; ]s=e2e;' <<<"$sig"; then
	ok "DKIM: remote mail is signed with ssl/DOMAIN.private, selector from ssl/DOMAIN.txt"
else
	bad "DKIM: remote mail is signed with ssl/DOMAIN.private, selector from ssl/DOMAIN.txt" \
		"$(cat "$sbx/sink.out"; tail -n 20 "$sbx/var/log/exim4/mainlog" 2>/dev/null)"
fi
if grep -q '^PEER 127\.0\.0\.2$' "$sbx/sink.out"; then
	ok "exim-domainips: remote mail of example.com leaves from its address (127.0.0.2)"
else
	bad "exim-domainips: remote mail of example.com leaves from its address (127.0.0.2)" "$(cat "$sbx/sink.out")"
fi
kill "$sink_pid" 2>/dev/null
wait "$sink_pid" 2>/dev/null
sink_pid=

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
stop_dovecot

# Each re-execution of Exim with -C logs "exim user lost privilege for using -C option" to
# the panic log: expected here (see deliver()), anything else is not.
panic=$(grep -v 'exim user lost privilege for using -C option' "$sbx/var/log/exim4/paniclog" 2>/dev/null)
if [ -z "$panic" ]; then ok "no Exim panic log entry"; else bad "no Exim panic log entry" "$panic"; fi

finish
