#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup and the stop helpers run from the EXIT trap
# tests/e2e/filters.sh MAILRECON REPO_ROOT: the spam, virus and greylisting hooks of
# contrib/exim4/exim4.conf, proven with the real postgrey, spamd and clamd against the
# files mailrecon writes. docs/e2e.md describes each check. (run.sh verifies the DKIM
# signature.)
#
# A sandbox root gets tests/e2e/desired.yaml applied (as run.sh does). Then, in the sandbox
# and on 127.0.0.1 only:
#   - postgrey reads SANDBOX/etc/postgrey/whitelist_recipients; it is asked directly (the
#     policy protocol) and through Exim (-DMR_POSTGREY, exim4 -bh);
#   - spamd reads SANDBOX/etc/mail/spamassassin (mailrecon's local.cf; local tests only);
#     messages are received by Exim (-DMR_SPAMD, exim4 -bs, -odq) and delivered (-M);
#   - clamd loads a test signature from SANDBOX/var/lib/clamav (no freshclam, no network)
#     and scans for Exim (-DMR_CLAMD, exim4 -bh);
# Must run as root (-C/-D of a non-default file). Nothing is skipped: a missing tool is a
# failure. Every daemon is stopped at exit (EXIT trap), also after a failure.
set -u
# the daemons are in /usr/sbin, which a test runner's PATH may lack
PATH=$PATH:/usr/sbin:/sbin
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_args "$@"
# not_run WHY NAME...: checks that cannot run (a tool is missing) fail, each with its name
not_run() {
	local why=$1 name
	shift
	for name in "$@"; do bad "$name" "not run: $why"; done
}
need_exim

sbx=$(mktemp -d /tmp/mailrecon-filters.XXXXXX)
grey_pid=
spamd_pid=
clamd_pid=
mute_pid=
cleanup() {
	stop "$mute_pid"
	stop "$grey_pid"
	stop "$spamd_pid"
	stop "$clamd_pid"
	# E2E_KEEP=1 keeps the sandbox (the daemons are stopped all the same)
	if [ -z "${E2E_KEEP:-}" ]; then rm -rf "$sbx"; else echo "sandbox kept: $sbx"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# ---- the sandbox root (as run.sh; postgrey, as postgrey, must reach it too) ----
exim_sandbox "$sbx"
mkdir -p "$sbx/run" "$sbx/tmp"
# SpamAssassin's site configuration directory holds the packaged *.pre files (they load
# the plugins, among them Check, without which spamd cannot scan) next to local.cf. The
# sandbox gets copies of Debian's (/etc/spamassassin, read only), as a real host has them.
mkdir -p "$sbx/etc/mail/spamassassin"
sa_pre_ok=
if cp /etc/spamassassin/*.pre "$sbx/etc/mail/spamassassin/" 2>/dev/null &&
	[ -f "$sbx/etc/mail/spamassassin/v320.pre" ]; then sa_pre_ok=1; fi

if out=$("$bin" apply --root "$sbx" -f "$repo/tests/e2e/desired.yaml" --allow-delete 2>&1); then ok "mailrecon apply writes the desired state into the sandbox"; else
	bad "mailrecon apply writes the desired state into the sandbox" "$out"
	finish
fi
# what desired.yaml puts in the three lists (the checks below depend on it)
wl_grey=$sbx/etc/postgrey/whitelist_recipients
wl_sa=$sbx/etc/mail/spamassassin/local.cf
wl_av=$sbx/etc/clamav.whitelist
if grep -qx 'example\.com' "$wl_grey" && ! grep -q 'example\.net' "$wl_grey" &&
	grep -qx 'whitelist_to info@example\.com' "$wl_sa" && ! grep -q 'keeper@' "$wl_sa" &&
	grep -qx 'example\.com' "$wl_av" && ! grep -q 'example\.net' "$wl_av"; then
	ok "mailrecon writes the three whitelists: example.com (postgrey, ClamAV), info@example.com only (SpamAssassin)"
else
	bad "mailrecon writes the three whitelists: example.com (postgrey, ClamAV), info@example.com only (SpamAssassin)" \
		"$(head -n 20 "$wl_grey" "$wl_sa" "$wl_av" 2>&1)"
fi

# The seeds' opt-outs, applied later while postgrey runs (before spamd starts): a copy of
# desired.yaml where optout@example.net has greylisting: false in a domain that keeps it
# (postmaster@example.net stays greylisted), and a new domain quiet.example has
# spamassassin: false (its mailbox desk@ has no setting of its own).
desired_opt=$sbx/desired-optouts.yaml
pw='        password: {hash: "{SHA512-CRYPT}$6$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0"}'
{
	awk -v pw="$pw" '/^  [^ ]/{d = ($0 == "  example.net:")} {print} d && /^    mailboxes:$/{print "      optout:"; print pw; print "        greylisting: false"; d = 0}' \
		"$repo/tests/e2e/desired.yaml"
	printf '  quiet.example:\n    owner: mailtest\n    spamassassin: false\n    mailboxes:\n      desk:\n%s\n' "$pw"
} >"$desired_opt"
if [ "$(diff "$repo/tests/e2e/desired.yaml" "$desired_opt" | grep -c '^>')" -ne 9 ] ||
	! sed -n '/^  example\.net:$/,/^  [^ ]/p' "$desired_opt" | grep -q '^      optout:$'; then
	bad "the opt-out copy of tests/e2e/desired.yaml adds optout@example.net and quiet.example" \
		"$(diff "$repo/tests/e2e/desired.yaml" "$desired_opt")"
fi
optouts_applied=
# apply_optouts: apply that copy (postgrey, when it runs, is sent its HUP by mailrecon's
# reload); prints apply's output, status 0 when it applied
apply_optouts() {
	optouts_applied=1
	if [ -n "${grey_pid:-}" ]; then
		MAILRECON_RELOAD_POSTGREY="kill -HUP $grey_pid" "$bin" apply --root "$sbx" -f "$desired_opt" 2>&1
	else
		"$bin" apply --root "$sbx" -f "$desired_opt" 2>&1
	fi
}

# No DNS: a fixed primary_hostname (Exim would look its own name up), and -oMs gives the
# client's host name (the postgrey request names $sender_host_name, which Exim would
# otherwise look up in the DNS).
E=("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx" -DMR_PRIMARY_HOSTNAME=mx.mailrecon.test -DMR_DELIVERY=mr_maildir)
if out=$("${E[@]}" -DMR_POSTGREY=127.0.0.1:10023 -DMR_SPAMD="127.0.0.1 783" -DMR_CLAMD="$sbx/run/clamd.ctl" -bV 2>&1); then ok "exim4 -bV accepts contrib/exim4/exim4.conf with MR_POSTGREY, MR_SPAMD and MR_CLAMD"; else
	bad "exim4 -bV accepts contrib/exim4/exim4.conf with MR_POSTGREY, MR_SPAMD and MR_CLAMD" "$out"
	finish
fi

# answer N: the Nth SMTP answer line (of the last reply of each command) in the output
answer() { tr -d '\r' | grep -E '^[2345][0-9][0-9] ' | sed -n "$1p"; }

# =====================================================================================
# postgrey: greylisting except for the recipients in whitelist_recipients
# =====================================================================================
grey_delay=2
grey_checks=(
	"postgrey answers DUNNO for a recipient in mailrecon's whitelist_recipients (recipient whitelist)"
	"postgrey answers DEFER_IF_PERMIT for a recipient not in whitelist_recipients"
	"postgrey answers PREPEND X-Greylist for the same triplet after the delay"
	"greylisting: a whitelisted recipient (domain in whitelist_recipients) gets 250 at once"
	"greylisting: the first RCPT for a recipient not in whitelist_recipients gets 451 4.7.1 greylisted"
	"greylisting: after the delay the retry is accepted (postgrey's PREPEND answer passes)"
	"greylisting: later retries are accepted too (postgrey's DUNNO answer passes)"
	"greylisting: a postgrey that is down (connection refused) lets the mail through (250)"
	"greylisting: a postgrey that does not answer within 5 s lets the mail through (250)"
	"re-apply: greylisting turned off for a domain reaches the running postgrey through mailrecon's reload (HUP)"
	"greylisting: false on a mailbox: mailrecon lists optout@example.net in whitelist_recipients, not its domain"
	"greylisting: false on a mailbox: the running postgrey (HUP) answers DUNNO for it, DEFER_IF_PERMIT for postmaster@ of the same domain"
	"greylisting: false on a mailbox: in one SMTP session, postmaster@example.net gets 451 greylisted, optout@example.net 250 at the first try"
)
if ! command -v postgrey >/dev/null || ! getent passwd postgrey >/dev/null || ! getent group postgrey >/dev/null; then
	bad "postgrey and its user postgrey exist (Debian: apt-get install postgrey)"
	not_run "postgrey missing" "${grey_checks[@]}"
else
	grey_port=$(free_port)
	mkdir -p "$sbx/var/lib/postgrey"
	chown postgrey:postgrey "$sbx/var/lib/postgrey"
	: >"$sbx/etc/postgrey/whitelist_clients"
	# in the foreground (its log goes to stderr, not to syslog), as our child
	postgrey -v --inet="127.0.0.1:$grey_port" --dbdir="$sbx/var/lib/postgrey" \
		--whitelist-recipients="$wl_grey" --whitelist-clients="$sbx/etc/postgrey/whitelist_clients" \
		--delay="$grey_delay" --pidfile="$sbx/run/postgrey.pid" --user=postgrey --group=postgrey \
		>"$sbx/var/log/postgrey.log" 2>&1 &
	grey_pid=$!
	if wait_for 30 tcp_open "$grey_port" && alive "$grey_pid"; then
		ok "postgrey starts on 127.0.0.1:$grey_port with mailrecon's whitelist_recipients"
	else
		bad "postgrey starts on 127.0.0.1:$grey_port with mailrecon's whitelist_recipients" "$(cat "$sbx/var/log/postgrey.log")"
		not_run "postgrey did not start" "${grey_checks[@]}"
		grey_port=
	fi
fi
if [ -n "${grey_port:-}" ]; then
	# policy RECIPIENT SENDER: postgrey's answer to the request the ACL's readsocket sends
	# (Postfix policy protocol: attribute lines, an empty line; the answer "action=...")
	policy() {
		local ans=
		{ exec 3<>"/dev/tcp/127.0.0.1/$grey_port"; } 2>/dev/null || return 0
		printf 'request=smtpd_access_policy\nclient_address=192.0.2.25\nclient_name=\nsender=%s\nrecipient=%s\n\n' \
			"$2" "$1" >&3
		IFS= read -r -t 10 ans <&3
		exec 3<&-
		printf '%s\n' "$ans"
	}
	glog() { cat "$sbx/var/log/postgrey.log"; }
	a=$(policy info@example.com direct-$$@remote.test)
	if [ "$a" = "action=DUNNO" ] &&
		glog | grep -q "action=pass, reason=recipient whitelist, .*recipient=info@example\.com"; then
		ok "${grey_checks[0]}"
	else
		bad "${grey_checks[0]}" "answer '$a'
$(glog | tail -n 5)"
	fi
	a=$(policy postmaster@example.net direct-$$@remote.test)
	if [[ $a == "action=DEFER_IF_PERMIT "* ]]; then ok "${grey_checks[1]}"; else
		bad "${grey_checks[1]}" "answer '$a'
$(glog | tail -n 5)"
	fi

	# through Exim: exim4 -bh from 192.0.2.25, -DMR_POSTGREY
	# grcpt SENDER RCPT [PORT]: the answer to RCPT TO
	grcpt() {
		printf 'HELO client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$1" "$2" |
			"${E[@]}" -DMR_POSTGREY="127.0.0.1:${3:-$grey_port}" -oMs client.test -bh 192.0.2.25 2>&1 | answer 4
	}
	a=$(grcpt grey-$$@remote.test info@example.com)
	if [[ $a == "250 "* ]] && ! glog | grep -q "sender=grey-$$@remote.test, recipient=info@example\.com"; then
		ok "${grey_checks[3]}"
	else
		bad "${grey_checks[3]}" "RCPT answered '$a' (or postgrey was asked)
$(glog | tail -n 5)"
	fi
	a=$(grcpt grey-$$@remote.test postmaster@example.net)
	if [ "$a" = "451 4.7.1 greylisted, please try again later" ] &&
		glog | grep -q "action=greylist, reason=new, .*sender=grey-$$@remote.test, recipient=postmaster@example\.net"; then
		ok "${grey_checks[4]}"
	else
		bad "${grey_checks[4]}" "RCPT answered '$a'
$(glog | tail -n 5)"
	fi

	# Greylisting is a wait: retry until postgrey stops deferring (an early retry keeps the
	# triplet's first-seen time), then check the answer and that the delay had passed.
	# delayed_pass SENDER: postgrey's log has the pass with "delay=N" (its PREPEND answer),
	# N >= the delay
	delayed_pass() {
		local d
		d=$(glog | sed -n "s/.*action=pass, reason=triplet found, delay=\([0-9]*\), .*sender=$1, recipient=postmaster@example\.net.*/\1/p" | head -n 1)
		[ -n "$d" ] && [ "$d" -ge "$grey_delay" ]
	}
	direct_retry() { a=$(policy postmaster@example.net direct-$$@remote.test); [[ $a != "action=DEFER"* ]]; }
	wait_for $((grey_delay + 30)) direct_retry
	if [[ $a == "action=PREPEND X-Greylist: delayed "* ]] && delayed_pass "direct-$$@remote\.test"; then
		ok "${grey_checks[2]}"
	else
		bad "${grey_checks[2]}" "answer '$a'
$(glog | tail -n 5)"
	fi
	exim_retry() { a=$(grcpt grey-$$@remote.test postmaster@example.net); [[ $a != "451 "* ]]; }
	wait_for $((grey_delay + 30)) exim_retry
	if [[ $a == "250 "* ]] && delayed_pass "grey-$$@remote\.test"; then
		ok "${grey_checks[5]}"
	else
		bad "${grey_checks[5]}" "RCPT answered '$a'
$(glog | tail -n 5)"
	fi
	a=$(grcpt grey-$$@remote.test postmaster@example.net)
	if [[ $a == "250 "* ]] &&
		glog | grep -Eq "action=pass, reason=triplet found, (client_name=[^,]*, )?client_address=192\.0\.2\.25, sender=grey-$$@remote\.test, recipient=postmaster@example\.net"; then
		ok "${grey_checks[6]}"
	else
		bad "${grey_checks[6]}" "RCPT answered '$a'
$(glog | tail -n 5)"
	fi

	# A re-apply that turns greylisting off for example.net, with mailrecon's reload of
	# postgrey pointed at this postgrey (the default sends SIGHUP through systemd): the
	# running postgrey re-reads the file on the HUP and stops greylisting the domain.
	sed -e 's/^  example\.net:$/  example.net:\n    greylisting: false/' "$repo/tests/e2e/desired.yaml" >"$sbx/desired-grey.yaml"
	out=$(MAILRECON_RELOAD_POSTGREY="kill -HUP $grey_pid" "$bin" apply --root "$sbx" -f "$sbx/desired-grey.yaml" 2>&1)
	rc=$?
	wait_for 30 tcp_open "$grey_port"
	a=$(policy postmaster@example.net reload-$$@remote.test)
	if [ $rc -eq 0 ] && grep -qx 'example\.net' "$wl_grey" && grep -q '^reloaded postgrey' <<<"$out" &&
		[ "$a" = "action=DUNNO" ] && alive "$grey_pid" &&
		glog | grep -q "action=pass, reason=recipient whitelist, .*recipient=postmaster@example\.net"; then
		ok "${grey_checks[9]}"
	else
		bad "${grey_checks[9]}" \
			"apply exit $rc: $out
answer '$a'
$(glog | tail -n 5)"
	fi
	# back to the desired state the checks below expect (example.net greylisted)
	MAILRECON_RELOAD_POSTGREY="kill -HUP $grey_pid" "$bin" apply --root "$sbx" -f "$repo/tests/e2e/desired.yaml" >/dev/null 2>&1 ||
		bad "re-apply of tests/e2e/desired.yaml after the greylisting change"
	wait_for 30 tcp_open "$grey_port"

	# greylisting: false on one mailbox of a greylisted domain (the opt-out copy)
	out=$(apply_optouts)
	rc=$?
	wait_for 30 tcp_open "$grey_port"
	if [ $rc -eq 0 ] && grep -qx 'optout@example\.net' "$wl_grey" && ! grep -qx 'example\.net' "$wl_grey" &&
		! grep -q 'postmaster@example\.net' "$wl_grey" && grep -q '^reloaded postgrey' <<<"$out"; then
		ok "${grey_checks[10]}"
	else
		bad "${grey_checks[10]}" "apply exit $rc: $out
$(cat "$wl_grey")"
	fi
	a=$(policy optout@example.net optdirect-$$@remote.test)
	b=$(policy postmaster@example.net optdirect-$$@remote.test)
	if [ "$a" = "action=DUNNO" ] && [[ $b == "action=DEFER_IF_PERMIT "* ]] && alive "$grey_pid" &&
		glog | grep -q "action=pass, reason=recipient whitelist, .*sender=optdirect-$$@remote\.test, recipient=optout@example\.net" &&
		glog | grep -q "action=greylist, reason=new, .*sender=optdirect-$$@remote\.test, recipient=postmaster@example\.net"; then
		ok "${grey_checks[11]}"
	else
		bad "${grey_checks[11]}" "optout@: '$a', postmaster@: '$b'
$(glog | tail -n 5)"
	fi
	# one session, one sender, two recipients of example.net: the greylisted one first
	out=$(printf 'HELO client.test\r\nMAIL FROM:<opt-%s@remote.test>\r\nRCPT TO:<postmaster@example.net>\r\nRCPT TO:<optout@example.net>\r\nQUIT\r\n' "$$" |
		"${E[@]}" -DMR_POSTGREY="127.0.0.1:$grey_port" -oMs client.test -bh 192.0.2.25 2>&1 | tr -d '\r')
	a=$(answer 4 <<<"$out")
	b=$(answer 5 <<<"$out")
	if [ "$a" = "451 4.7.1 greylisted, please try again later" ] && [[ $b == "250 "* ]] &&
		glog | grep -q "action=greylist, reason=new, .*sender=opt-$$@remote\.test, recipient=postmaster@example\.net" &&
		grep -q '^LOG: mailrecon: optout@example\.net greylisting=whitelisted ' <<<"$out"; then
		ok "${grey_checks[12]}"
	else
		bad "${grey_checks[12]}" "postmaster@: '$a', optout@: '$b'
$out
$(glog | tail -n 5)"
	fi

	# postgrey stopped: nothing listens on its port any more
	stop "$grey_pid"
	grey_pid=
	if tcp_open "$grey_port"; then
		bad "${grey_checks[7]}" "something still listens on 127.0.0.1:$grey_port"
	else
		a=$(grcpt down-$$@remote.test postmaster@example.net)
		if [[ $a == "250 "* ]]; then ok "${grey_checks[7]}"; else bad "${grey_checks[7]}" "RCPT answered '$a'"; fi
	fi
	# a listener that never answers (the connection is made, in its backlog): readsocket's
	# 5 s timeout
	if [ ! -x "$py" ]; then
		not_run "/usr/bin/python3 missing (the silent listener)" "${grey_checks[8]}"
	else
		mute_port=$(free_port)
		"$py" -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(5)
time.sleep(60)' "$mute_port" >"$sbx/mute.log" 2>&1 &
		mute_pid=$!
		wait_for 30 tcp_open "$mute_port"
		alive "$mute_pid" || echo "(the listener has exited)" >>"$sbx/mute.log"
		t=$SECONDS
		a=$(grcpt mute-$$@remote.test postmaster@example.net "$mute_port")
		t=$((SECONDS - t))
		stop "$mute_pid"
		mute_pid=
		# the RCPT waited for the timeout (so the listener was reached), then passed
		if [[ $a == "250 "* ]] && [ "$t" -ge 4 ]; then ok "${grey_checks[8]}"; else
			bad "${grey_checks[8]}" "RCPT answered '$a' after ${t} s (port $mute_port)
$(cat "$sbx/mute.log")"
		fi
	fi
fi

# =====================================================================================
# SpamAssassin: scanned unless every recipient is whitelisted (whitelist_to)
# =====================================================================================
home=$sbx/var/www/mailtest/data/email/example.com
gtube='XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X'
n=0
# smtp_in EXIM-ARGS... -- RCPT... <MESSAGE: one SMTP session (exim4 -bs, as from
# 192.0.2.25, so the RCPT and DATA ACLs run as for a remote client) that queues the message
# (-odq); the message is then delivered at once as root (-M ID, as run.sh's deliver()).
# Prints the SMTP answers.
smtp_in() {
	local args=() r out id
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	out=$({
		printf 'HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\n'
		for r; do printf 'RCPT TO:<%s>\r\n' "$r"; done
		printf 'DATA\r\n'
		sed 's/$/\r/'
		printf '.\r\nQUIT\r\n'
	} | "${E[@]}" "${args[@]}" -odq -oMa 192.0.2.25 -oMs client.test -bs 2>&1 | tr -d '\r')
	printf '%s\n' "$out"
	id=$(sed -n 's/^250 OK id=//p' <<<"$out")
	[ -z "$id" ] || "${E[@]}" "${args[@]}" -M "$id" >/dev/null 2>&1
}
# msg MAILBOX SUBJECT: the file of the message with that subject in MAILBOX's Maildir
msg() { grep -ls "^Subject: $2\$" "$home/$1/.maildir/new/"* 2>/dev/null | head -n 1; }
# mail TO SUBJECT BODY: a message (headers as a real client sends them)
mail() {
	printf 'From: sender@remote.test\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s@remote.test>\n\n%s\n' \
		"$1" "$2" "$(date -R)" "$2" "$3"
}
# a header field of a message file, unfolded ("" when absent)
header() { awk -v h="$2" '/^$/{exit} f && /^[ \t]/{printf " %s", $0; next} {f=0} tolower($0) ~ "^" tolower(h) ":"{f=1; printf "%s", $0}' "$1"; }

sa_checks=(
	"SpamAssassin: a message to a mailbox not in whitelist_to is scanned by spamd (X-Spam-Score with GTUBE's high score)"
	"SpamAssassin: a message only to whitelist_to mailboxes is not scanned (no X-Spam-Score, spamd not asked)"
	"SpamAssassin: a message with a whitelisted and a non-whitelisted recipient is scanned (both copies get X-Spam-Score)"
	"SpamAssassin: spamd reads mailrecon's local.cf (whitelist_to info@example.com hits USER_IN_WELCOMELIST_TO)"
	"spamassassin: false on a domain: a message to its mailbox is not scanned (no X-Spam headers, spamd not asked), another domain's is"
	"spamassassin: false on a domain: with another domain's recipient the message is scanned, and spamd's report lists USER_IN_WELCOMELIST_TO from whitelist_to *@quiet.example"
)
# the opt-out copy (applied in the postgrey part when postgrey runs): quiet.example
if [ -z "$optouts_applied" ]; then
	out=$(apply_optouts) || bad "mailrecon apply of the opt-out copy of tests/e2e/desired.yaml" "$out"
fi
if ! command -v spamd >/dev/null; then
	bad "spamd is installed (Debian: apt-get install spamassassin spamd)"
	not_run "spamd missing" "${sa_checks[@]}"
elif [ -z "$sa_pre_ok" ]; then
	bad "SpamAssassin's *.pre files exist in /etc/spamassassin (Debian: spamassassin)" "$(ls -l /etc/spamassassin 2>&1)"
	not_run "no *.pre files" "${sa_checks[@]}"
else
	spam_port=$(free_port)
	mkdir -p "$sbx/var/lib/spamd"
	chown nobody "$sbx/var/lib/spamd"
	# local tests only (-L: no DNS, no network), no per-user configuration (-x), the site
	# configuration of the sandbox, HOME in the sandbox, in the foreground as our child
	HOME=$sbx/var/lib/spamd spamd -L -x -u nobody -H "$sbx/var/lib/spamd" --siteconfigpath="$sbx/etc/mail/spamassassin" \
		-i "127.0.0.1:$spam_port" -A 127.0.0.1 -m 2 -r "$sbx/run/spamd.pid" \
		-s "$sbx/var/log/spamd.log" >"$sbx/var/log/spamd.out" 2>&1 &
	spamd_pid=$!
	# spamd_ping: the spamd protocol's PING gets PONG
	spamd_ping() {
		local l=
		{ exec 4<>"/dev/tcp/127.0.0.1/$spam_port"; } 2>/dev/null || return 1
		printf 'PING SPAMC/1.5\r\n\r\n' >&4
		IFS= read -r -t 5 l <&4
		exec 4<&-
		[[ $l == *" PONG"* ]]
	}
	if wait_for 120 spamd_ping && alive "$spamd_pid"; then
		ok "spamd starts on 127.0.0.1:$spam_port with the sandbox's site configuration (mailrecon's local.cf)"
	else
		bad "spamd starts on 127.0.0.1:$spam_port with the sandbox's site configuration (mailrecon's local.cf)" \
			"$(cat "$sbx/var/log/spamd.out"; tail -n 20 "$sbx/var/log/spamd.log" 2>/dev/null)"
		not_run "spamd did not start" "${sa_checks[@]}"
		spam_port=
	fi
fi
if [ -n "${spam_port:-}" ]; then
	S=(-DMR_SPAMD="127.0.0.1 $spam_port")
	evidence() {
		printf '%s\n' "$1"
		tail -n 6 "$sbx/var/log/exim4/mainlog" 2>/dev/null
		tail -n 4 "$sbx/var/log/spamd.log" 2>/dev/null
	}

	# three messages, then the checks (spamd logs each scan with the Message-ID: mid=<...>)
	n=$((n + 1)); subj_k="e2e-spam-$n-$$"
	out_k=$(mail keeper@example.com "$subj_k" "$gtube" | smtp_in "${S[@]}" -- keeper@example.com)
	n=$((n + 1)); subj_i="e2e-spam-$n-$$"
	out_i=$(mail info@example.com "$subj_i" "$gtube" | smtp_in "${S[@]}" -- info@example.com)
	n=$((n + 1)); subj_m="e2e-spam-$n-$$"
	out_m=$(mail "info@example.com, keeper@example.com" "$subj_m" "$gtube" |
		smtp_in "${S[@]}" -- info@example.com keeper@example.com)
	# spamassassin: false on the domain quiet.example: alone, then with keeper@example.com
	n=$((n + 1)); subj_q="e2e-spam-$n-$$"
	out_q=$(mail desk@quiet.example "$subj_q" "$gtube" | smtp_in "${S[@]}" -- desk@quiet.example)
	n=$((n + 1)); subj_qm="e2e-spam-$n-$$"
	out_qm=$(mail "desk@quiet.example, keeper@example.com" "$subj_qm" "$gtube" |
		smtp_in "${S[@]}" -- desk@quiet.example keeper@example.com)
	scanned() { grep -qF "mid=<$1@remote.test>" "$sbx/var/log/spamd.log" 2>/dev/null; }
	# the later scans are in spamd's log, so a scan of the whitelisted message would be too
	wait_for 10 scanned "$subj_k"
	wait_for 10 scanned "$subj_m"
	wait_for 10 scanned "$subj_qm"

	f=$(msg keeper "$subj_k")
	score=$([ -z "$f" ] || header "$f" X-Spam-Score | sed -n 's/^X-Spam-Score: *//p')
	report_keeper=$([ -z "$f" ] || header "$f" X-Spam-Report)
	if [ -n "$score" ] && awk -v s="$score" 'BEGIN{exit !(s + 0 >= 500)}' && grep -q ' GTUBE ' <<<"$report_keeper" &&
		scanned "$subj_k"; then
		ok "${sa_checks[0]}"
	else
		bad "${sa_checks[0]}" "$(evidence "$out_k
delivered: ${f:-nothing}, X-Spam-Score: '$score'")"
	fi

	f=$(msg info "$subj_i")
	if [ -n "$f" ] && [ -z "$(header "$f" X-Spam-Score)" ] && [ -z "$(header "$f" X-Spam-Report)" ] &&
		! scanned "$subj_i"; then
		ok "${sa_checks[1]}"
	else
		bad "${sa_checks[1]}" "$(evidence "$out_i
delivered: ${f:-nothing}
$([ -z "$f" ] || head -n 20 "$f")")"
	fi

	fi_=$(msg info "$subj_m")
	fk=$(msg keeper "$subj_m")
	si=$([ -z "$fi_" ] || header "$fi_" X-Spam-Score | sed -n 's/^X-Spam-Score: *//p')
	sk=$([ -z "$fk" ] || header "$fk" X-Spam-Score | sed -n 's/^X-Spam-Score: *//p')
	if [ -n "$si" ] && [ "$si" = "$sk" ] && awk -v s="$si" 'BEGIN{exit !(s + 0 >= 500)}' && scanned "$subj_m"; then
		ok "${sa_checks[2]}"
	else
		bad "${sa_checks[2]}" "$(evidence "$out_m
info: ${fi_:-nothing} X-Spam-Score '$si'; keeper: ${fk:-nothing} X-Spam-Score '$sk'")"
	fi
	# the same spamd, the same rules: only the whitelisted recipient in To: makes the difference
	report_mixed=$([ -z "$fi_" ] || header "$fi_" X-Spam-Report)
	if grep -Eq 'USER_IN_(WELCOMELIST|WHITELIST)_TO' <<<"$report_mixed" &&
		[ -n "$report_keeper" ] && ! grep -Eq 'USER_IN_(WELCOMELIST|WHITELIST)_TO' <<<"$report_keeper"; then
		ok "${sa_checks[3]}"
	else
		bad "${sa_checks[3]}" "report (info+keeper): $report_mixed
report (keeper only): $report_keeper"
	fi

	qhome=$sbx/var/www/mailtest/data/email/quiet.example
	fq=$(grep -ls "^Subject: $subj_q\$" "$qhome/desk/.maildir/new/"* 2>/dev/null | head -n 1)
	fk=$(msg keeper "$subj_k")
	if grep -qxF 'whitelist_to *@quiet.example' "$wl_sa" && [ -n "$fq" ] && [ -z "$(header "$fq" X-Spam-Score)" ] &&
		[ -z "$(header "$fq" X-Spam-Report)" ] && ! scanned "$subj_q" &&
		[ -n "$fk" ] && [ -n "$(header "$fk" X-Spam-Score)" ] && scanned "$subj_k"; then
		ok "${sa_checks[4]}"
	else
		bad "${sa_checks[4]}" "$(evidence "$out_q
local.cf: $(grep quiet "$wl_sa")
delivered: ${fq:-nothing}
$([ -z "$fq" ] || head -n 20 "$fq")")"
	fi
	fq=$(grep -ls "^Subject: $subj_qm\$" "$qhome/desk/.maildir/new/"* 2>/dev/null | head -n 1)
	fk=$(msg keeper "$subj_qm")
	sq=$([ -z "$fq" ] || header "$fq" X-Spam-Score | sed -n 's/^X-Spam-Score: *//p')
	sk=$([ -z "$fk" ] || header "$fk" X-Spam-Score | sed -n 's/^X-Spam-Score: *//p')
	report_q=$([ -z "$fq" ] || header "$fq" X-Spam-Report)
	if [ -n "$sq" ] && [ "$sq" = "$sk" ] && scanned "$subj_qm" &&
		grep -Eq 'USER_IN_(WELCOMELIST|WHITELIST)_TO' <<<"$report_q"; then
		ok "${sa_checks[5]}"
	else
		bad "${sa_checks[5]}" "$(evidence "$out_qm
desk: ${fq:-nothing} X-Spam-Score '$sq'; keeper: ${fk:-nothing} X-Spam-Score '$sk'
report: $report_q")"
	fi
	stop "$spamd_pid"
	spamd_pid=
fi

# =====================================================================================
# ClamAV: scanned unless every recipient's domain is in clamav.whitelist
# =====================================================================================
marker="MAILRECON-E2E-TEST-VIRUS-$$-7f3a9c"
av_checks=(
	"ClamAV: a message with a test signature to a domain not in clamav.whitelist is refused at DATA (550 5.7.1 virus)"
	"ClamAV: the same message to a domain in clamav.whitelist is accepted without a scan"
	"ClamAV: a message for a whitelisted and a non-whitelisted domain is scanned (refused)"
	"ClamAV: a clean message to a domain not in clamav.whitelist is scanned by clamd and accepted"
)
if ! command -v clamd >/dev/null && [ ! -x /usr/sbin/clamd ]; then
	bad "clamd is installed (Debian: apt-get install clamav-daemon)"
	not_run "clamd missing" "${av_checks[@]}"
elif [ ! -x "$py" ]; then
	not_run "/usr/bin/python3 missing (asks clamd for PONG)" "${av_checks[@]}"
else
	clamd_bin=$(command -v clamd || echo /usr/sbin/clamd)
	# No internet, so no freshclam: a database with one signature, the hex of the marker
	# in any file (target type 0, any offset).
	mkdir -p "$sbx/var/lib/clamav"
	printf 'Mailrecon.Test.Marker:0:*:%s\n' "$(printf %s "$marker" | od -An -tx1 | tr -d ' \n')" \
		>"$sbx/var/lib/clamav/mailrecon-test.ndb"
	cat >"$sbx/etc/clamd.conf" <<EOF
LocalSocket $sbx/run/clamd.ctl
LocalSocketMode 666
DatabaseDirectory $sbx/var/lib/clamav
TemporaryDirectory $sbx/tmp
LogFile $sbx/var/log/clamd.log
LogClean yes
LogTime yes
Foreground yes
User root
EOF
	"$clamd_bin" --config-file="$sbx/etc/clamd.conf" >"$sbx/var/log/clamd.out" 2>&1 &
	clamd_pid=$!
	# clamd_ping: clamd answers PONG on its socket
	clamd_ping() {
		"$py" - "$sbx/run/clamd.ctl" 2>/dev/null <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"zPING\0")
sys.exit(0 if s.recv(16).startswith(b"PONG") else 1)
EOF
	}
	if wait_for 120 clamd_ping && alive "$clamd_pid" && grep -q 'Loaded 1 signature' "$sbx/var/log/clamd.log"; then
		ok "clamd starts on SANDBOX/run/clamd.ctl with the test signature database (no freshclam)"
		clamd_ready=1
	else
		bad "clamd starts on SANDBOX/run/clamd.ctl with the test signature database (no freshclam)" \
			"$(tail -n 20 "$sbx/var/log/clamd.out" "$sbx/var/log/clamd.log" 2>/dev/null)"
		not_run "clamd did not start" "${av_checks[@]}"
	fi
fi
if [ -n "${clamd_ready:-}" ]; then
	# adata BODY RCPT...: exim4 -bh from 192.0.2.25 with -DMR_CLAMD, one message; prints
	# the answer to the end of DATA, then the message id. -bh receives the data into the
	# spool (its scan directory) and runs the DATA ACL, malware condition included, before
	# it discards the message.
	adata() {
		local body=$1 r out
		shift
		out=$({
			printf 'HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\n'
			for r; do printf 'RCPT TO:<%s>\r\n' "$r"; done
			printf 'DATA\r\nFrom: sender@remote.test\r\nTo: %s\r\nSubject: e2e-av-%s\r\n\r\n%s\r\n.\r\nQUIT\r\n' "$1" "$$" "$body"
		} | "${E[@]}" -DMR_CLAMD="$sbx/run/clamd.ctl" -oMs client.test -bh 192.0.2.25 2>&1 | tr -d '\r')
		# 220, HELO, MAIL, one per RCPT, 354, then the end of DATA
		answer $(($# + 5)) <<<"$out"
		sed -n 's/^250 OK id=//p; s/^LOG: \([^ ]*\) .*rejected after DATA.*/\1/p' <<<"$out" | head -n 1
	}
	clog() { cat "$sbx/var/log/clamd.log"; }
	# clamd's verdict on the spool file of message ID (scan/ID/ID.eml): "OK", "NAME FOUND" or ""
	verdict() { clog | sed -n "s|.*/var/spool/exim4/scan/$1/[^ ]*: ||p" | tail -n 1; }
	verdict_logged() { [ -n "$(verdict "$1")" ]; }
	{ read -r a1; read -r id1; } < <(adata "infected $marker here" postmaster@example.net)
	{ read -r a2; read -r id2; } < <(adata "infected $marker here" info@example.com)
	{ read -r a3; read -r id3; } < <(adata "infected $marker here" info@example.com postmaster@example.net)
	{ read -r a4; read -r id4; } < <(adata "a clean message" postmaster@example.net)
	# the later scans are in clamd's log, so a scan of the whitelisted message would be too
	[ -z "$id1" ] || wait_for 10 verdict_logged "$id1"
	[ -z "$id4" ] || wait_for 10 verdict_logged "$id4"
	if [[ $a1 == "550 5.7.1 message contains a virus (Mailrecon.Test.Marker"*")" ]] && [ -n "$id1" ] &&
		[[ $(verdict "$id1") == "Mailrecon.Test.Marker"*" FOUND" ]]; then
		ok "${av_checks[0]}"
	else
		bad "${av_checks[0]}" "end of DATA answered '$a1' (message ${id1:-?}), clamd: '$(verdict "${id1:-none}")'
$(clog | tail -n 3)"
	fi
	if [[ $a2 == "250 "* ]] && [ -n "$id2" ] && [ -z "$(verdict "$id2")" ]; then ok "${av_checks[1]}"; else
		bad "${av_checks[1]}" "end of DATA answered '$a2' (message ${id2:-?}), clamd: '$(verdict "${id2:-none}")'"
	fi
	if [[ $a3 == "550 5.7.1 message contains a virus (Mailrecon.Test.Marker"*")" ]]; then ok "${av_checks[2]}"; else
		bad "${av_checks[2]}" "end of DATA answered '$a3' (message ${id3:-?})
$(clog | tail -n 3)"
	fi
	if [[ $a4 == "250 "* ]] && [ -n "$id4" ] && [ "$(verdict "$id4")" = OK ]; then ok "${av_checks[3]}"; else
		bad "${av_checks[3]}" "end of DATA answered '$a4' (message ${id4:-?}), clamd: '$(verdict "${id4:-none}")'
$(clog | tail -n 3)"
	fi
	stop "$clamd_pid"
	clamd_pid=
fi

# Each re-execution of Exim with -C logs "exim user lost privilege for using -C option" to
# the panic log: expected here (see run.sh's deliver()), anything else is not.
panic=$(grep -v 'exim user lost privilege for using -C option' "$sbx/var/log/exim4/paniclog" 2>/dev/null)
if [ -z "$panic" ]; then ok "no Exim panic log entry"; else bad "no Exim panic log entry" "$panic"; fi

finish
