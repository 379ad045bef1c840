# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154  # variables set here are used by the sourcing script; repo and home come from it
# Shared by the Exim end-to-end scripts (run.sh, daemon.sh, filters.sh; sourced): the check
# counters, the tools they need, a sandbox root laid out for Exim, and Exim sessions.

# e2e_args "$@": the scripts' arguments, MAILRECON REPO_ROOT, into bin and repo
e2e_args() {
	if [ $# -ne 2 ]; then
		echo "usage: $0 MAILRECON REPO_ROOT" >&2
		exit 64
	fi
	bin=$1
	repo=$(cd "$2" && pwd)
}

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
# bad NAME [DETAIL]: a failed check; the detail is shown indented (Exim's expected
# "lost privilege for using -C" complaint left out)
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

# need_exim: sets exim to the binary; a missing exim4, a non-root run or a missing system
# user is a failure (and the end of the script), never a skip.
need_exim() {
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
}

# exim_sandbox DIR [rhel]: a sandbox root for Exim in DIR (which exists): etc/passwd and
# etc/group with the Exim user (named exim in the RHEL layout, with Debian-exim's ids: the
# exim4 binary is Debian's) and the owners mailtest and mailother (uid/gid of nobody:
# Exim never delivers as root), the spool and log directories (exim_spool and exim_log are
# set to them), and DIR/exim4.conf, a
# root-owned copy of contrib/exim4/exim4.conf (Exim refuses one that others can write).
exim_sandbox() {
	local dir=$1 layout=${2:-debian} user=Debian-exim etc=etc/exim4 spool=var/spool/exim4 log=var/log/exim4
	local exim_uid exim_gid dovecot_gid
	dovecot_gid=$(getent group dovecot | cut -d: -f3)
	dovecot_gid=${dovecot_gid:-0}
	exim_uid=$(id -u Debian-exim)
	exim_gid=$(id -g Debian-exim)
	if [ "$layout" = rhel ]; then
		user=exim etc=etc/exim spool=var/spool/exim log=var/log/exim
	fi
	# Exim's delivery processes run as nobody and Debian-exim: they must reach the sandbox.
	chmod 755 "$dir"
	mkdir -p "$dir/$etc" "$dir/$spool" "$dir/$log"
	cat >"$dir/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/bash
$user:x:$exim_uid:$exim_gid::/$spool:/usr/sbin/nologin
mailtest:x:65534:65534::/var/www/mailtest:/usr/sbin/nologin
mailother:x:65534:65534::/var/www/mailother:/usr/sbin/nologin
EOF
	cat >"$dir/etc/group" <<EOF
root:x:0:
$user:x:$exim_gid:
dovecot:x:$dovecot_gid:
nogroup:x:65534:
EOF
	chown -R Debian-exim:Debian-exim "$dir/$spool" "$dir/$log"
	exim_spool=$dir/$spool
	exim_log=$dir/$log
	install -m 0644 -o root -g root "$repo/contrib/exim4/exim4.conf" "$dir/exim4.conf"
}

# ---- processes and ports ----
# alive PID: the process exists and is not a zombie
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}
# stop PID: TERM, wait up to 10 s, then KILL; reaps it when it is our child
stop() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	for _ in $(seq 100); do alive "$1" || break; sleep 0.1; done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
# free_port: a TCP port on 127.0.0.1 that nothing listens on
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds or SECONDS pass
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Debian's python3: python3-dkim installs for it, and a python3 earlier in PATH (pyenv, a
# venv) may not see it. The SMTP sink needs its smtpd module (Python <= 3.11, Debian 12).
py=/usr/bin/python3
# start_sink DIR: a Python SMTP sink on a free 127.0.0.1 port (sink_port; its pid in
# sink_pid, its log in DIR.log). Each message is stored as DIR/N.eml, the bytes as
# received, with the client's address in DIR/N.peer. Status 0 when it listens.
sink_pid=
start_sink() {
	mkdir -p "$1"
	sink_port=$(free_port) || return 1
	"$py" -W ignore - "$sink_port" "$1" >"$1.log" 2>&1 <<'EOF' &
import asyncore, os, smtpd, sys
class Sink(smtpd.SMTPServer):
    n = 0
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        Sink.n += 1
        p = os.path.join(sys.argv[2], "%d" % Sink.n)
        with open(p + ".peer", "w") as f:
            f.write(peer[0] + "\n")
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.rename(p + ".tmp", p + ".eml")
Sink(("127.0.0.1", int(sys.argv[1])), None, decode_data=False)
asyncore.loop()
EOF
	sink_pid=$!
	wait_for 30 tcp_open "$sink_port"
}


# ---- Exim sessions; E is the exim4 command line (binary, -C, -D...) ----
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
# wl NAME RCPT REGEX: the "mailrecon:" log line of the RCPT must match
wl() {
	local name=$1 to=$2 want=$3 out
	out=$(printf 'HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\nRCPT TO:<%s>\r\nQUIT\r\n' "$to" |
		"${E[@]}" -bh 192.0.2.25 2>&1 | grep '^LOG: mailrecon: ')
	if grep -Eq -- "$want" <<<"$out"; then ok "$name"; else bad "$name" "wanted /$want/, got: $out"; fi
}
# deliver EXIM-ARGS... <MESSAGE: receive the message into the queue (-odq), then deliver it
# at once as root (-M). "-odi" would not do: after the reception, Exim re-executes itself
# to regain root, and with -C of a file not in TRUSTED_CONFIG_LIST it loses root there
# ("exim user lost privilege for using -C option"), so it could not become the owner.
deliver() {
	local before after id
	before=$(ls "$exim_spool/input" 2>/dev/null)
	"${E[@]}" -odq -oi "$@" >/dev/null 2>&1
	after=$(ls "$exim_spool/input" 2>/dev/null)
	for id in $(comm -13 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) | sed -n 's/-H$//p'); do
		"${E[@]}" "${deliver_args[@]}" -M "$id" >/dev/null 2>&1
	done
}
deliver_args=()
# send ADDRESS: a message with a unique subject; prints the subject. (It runs in a command
# substitution, so a shell counter would not survive the call: the subject is made of the
# clock in nanoseconds instead.)
send() {
	local subj
	subj="e2e-$(date +%s%N)-$$"
	printf 'From: sender@remote.test\nTo: %s\nSubject: %s\n\nbody\n' "$1" "$subj" |
		deliver -f sender@remote.test "$1"
	echo "$subj"
}
# has MAILBOX SUBJECT: the Maildir of $home/MAILBOX has the message in new/
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
$(tail -n 20 "$exim_log/mainlog" 2>/dev/null)
$(tail -n 20 "$exim_log/paniclog" 2>/dev/null)"
	fi
}

# ---- Dovecot, for SMTP AUTH ----
# start_dovecot_auth DIR NAME: the real dovecot on contrib/dovecot/dovecot.conf with @ROOT@ =
# DIR (so it reads DIR/etc/dovecot/dovecot.passwd), base_dir DIR/run/dovecot and instance
# NAME. It serves no protocol, only its auth sockets (Exim: -DMR_AUTH_DOVECOT=
# DIR/run/dovecot/auth-client). A check says whether it started; the status is 0 when it
# did, and dovecot_pid is its master. stop_dovecot stops it (call it from the EXIT trap).
dovecot_pid=
stop_dovecot() {
	stop "$dovecot_pid"
	dovecot_pid=
}
start_dovecot_auth() {
	local dir=$1 name=$2 dconf out
	if ! command -v dovecot >/dev/null || ! command -v openssl >/dev/null || ! getent passwd dovenull >/dev/null ||
		! getent passwd dovecot >/dev/null; then
		bad "dovecot, openssl and the users dovecot and dovenull exist (Debian: dovecot-core)"
		return 1
	fi
	mkdir -p "$dir/etc/dovecot/private" "$dir/run" "$dir/var/lib/dovecot"
	# only so that the ssl_cert/ssl_key lines parse; ssl = no below
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$dir/etc/dovecot/private/dovecot.key" \
		-out "$dir/etc/dovecot/private/dovecot.pem" >/dev/null 2>&1
	dconf=$dir/etc/dovecot/dovecot.conf
	# without the SNI include: it names the real /etc/dovecot/certs (imap.sh tests it), and
	# this instance has no TLS
	sed -e "s|@ROOT@|$dir|g" -e "s|@EXIM_GROUP@|Debian-exim|g" -e '/^!include_try conf\.d\/99-mailrecon-sni\.conf$/d' \
		"$repo/contrib/dovecot/dovecot.conf" >"$dconf"
	cat >>"$dconf" <<EOF

# ---- tests/e2e/lib.sh overrides: a private instance, auth sockets only ----
instance_name = $name
base_dir = $dir/run/dovecot
state_dir = $dir/var/lib/dovecot
log_path = $dir/var/log/dovecot.log
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
# quota rule (0666 is Dovecot's default; contrib opens stats-writer too).
service auth {
  unix_listener auth-userdb {
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
	dovecot -c "$dconf" >"$dir/dovecot.start" 2>&1
	out=$(cat "$dir/dovecot.start")
	for _ in $(seq 50); do [ -S "$dir/run/dovecot/auth-client" ] && break; sleep 0.1; done
	dovecot_pid=$(cat "$dir/run/dovecot/master.pid" 2>/dev/null)
	if [ -n "$dovecot_pid" ] && [ -S "$dir/run/dovecot/auth-client" ]; then
		ok "dovecot starts on contrib/dovecot/dovecot.conf with its auth-client socket in the sandbox"
		return 0
	fi
	bad "dovecot starts on contrib/dovecot/dovecot.conf with its auth-client socket in the sandbox" \
		"$out
$(tail -n 20 "$dir/var/log/dovecot.log" 2>/dev/null)"
	return 1
}
