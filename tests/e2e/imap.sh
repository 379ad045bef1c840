#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are called indirectly (check, trap)
# End-to-end: the real Dovecot reads what `mailrecon apply` writes.
#
#   tests/e2e/imap.sh MAILRECON REPO_ROOT
#
# Builds a sandbox root, applies tests/e2e/imap-desired.yaml into it, starts the real
# dovecot on contrib/dovecot/dovecot.conf (with @ROOT@ = the sandbox and a few test
# overrides: loopback listeners on free ports -- IMAP, and contrib's IMAPS and POP3S --,
# base_dir/state_dir/log in the sandbox, the SNI include with sandbox paths; ssl = yes as
# in contrib), and proves with curl (IMAP, IMAPS, POP3S), doveadm, dovecot-lda and openssl
# s_client that logins, disabled mailboxes, quota, live re-applies and the SNI certificate
# choice behave as docs/formats.md says.
#
# Needs root (dovecot drops to the mailbox owner's uid), dovecot-core, dovecot-imapd,
# dovecot-pop3d and curl with IMAPS and POP3S. A missing tool is a FAIL, never a skip. Touches nothing outside the
# sandbox (a mktemp directory, removed at exit; set KEEP=1 to keep it).
set -u

MAILRECON=${1:?usage: imap.sh MAILRECON REPO_ROOT}
REPO=${2:?usage: imap.sh MAILRECON REPO_ROOT}
MAILRECON=$(cd "$(dirname "$MAILRECON")" && pwd)/$(basename "$MAILRECON")
REPO=$(cd "$REPO" && pwd)

LDA=/usr/lib/dovecot/dovecot-lda
PASS=0
FAILED=0
ROOT=
CONF=
DOVECOT_STARTED=0

ok()   { echo "ok $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
# check NAME CMD...: ok when CMD exits 0.
check() { local n=$1; shift; if "$@"; then ok "$n"; else fail "$n"; fi; }

finish() {
    echo "# $PASS passed, $FAILED failed"
    if [ "$FAILED" -ne 0 ]; then exit 1; fi
    exit 0
}

stop_dovecot() {
    [ "$DOVECOT_STARTED" = 1 ] || return 0
    local pid
    pid=$(cat "$ROOT/run/dovecot/master.pid" 2>/dev/null) || pid=
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    fi
    DOVECOT_STARTED=0
}

cleanup() {
    stop_dovecot
    if [ -n "$ROOT" ] && [ -d "$ROOT" ]; then
        if [ "$FAILED" -ne 0 ] && [ -f "$ROOT/var/log/dovecot.log" ]; then
            echo "# --- dovecot.log (last 40 lines) ---"
            tail -n 40 "$ROOT/var/log/dovecot.log" | sed 's/^/# /'
        fi
        if [ "${KEEP:-0}" = 1 ]; then echo "# sandbox kept: $ROOT"; else rm -rf "$ROOT"; fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- prerequisites
missing=0
if [ "$(id -u)" -ne 0 ]; then
    fail "prereq-root" "dovecot must start as root to switch to the mailbox owner"; missing=1
fi
for tool in dovecot doveadm doveconf curl openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then fail "prereq-$tool" "not installed"; missing=1; fi
done
if [ ! -x "$LDA" ]; then fail "prereq-dovecot-lda" "$LDA not found"; missing=1; fi
if [ ! -x /usr/lib/dovecot/imap ]; then fail "prereq-dovecot-imapd" "not installed"; missing=1; fi
if [ ! -x /usr/lib/dovecot/pop3 ]; then fail "prereq-dovecot-pop3d" "not installed"; missing=1; fi
if command -v curl >/dev/null 2>&1 && ! curl --version | grep -q '^Protocols:.* imaps.* pop3s'; then
    fail "prereq-curl-imaps-pop3s" "curl without IMAPS or POP3S"; missing=1
fi
if [ ! -x "$MAILRECON" ]; then fail "prereq-mailrecon" "$MAILRECON"; missing=1; fi
for u in dovecot dovenull nobody; do
    getent passwd "$u" >/dev/null || { fail "prereq-user-$u" "no such account"; missing=1; }
done
[ "$missing" = 0 ] || finish

# ---------------------------------------------------------------- sandbox
ROOT=$(mktemp -d /tmp/mailrecon-imap.XXXXXX)
chmod 0755 "$ROOT"          # dovecot's auth process (user dovecot) must reach etc/dovecot
mkdir -p "$ROOT/etc/exim4" "$ROOT/etc/mailrecon" "$ROOT/etc/dovecot/private" \
         "$ROOT/var/log" "$ROOT/var/lib/dovecot" "$ROOT/run"

# The owner of the domain is a real unprivileged uid (nobody's), so the mail processes
# that dovecot starts as that uid can use the homes mailrecon creates.
OWNER_UID=$(id -u nobody)
OWNER_GID=$(id -g nobody)
DOVECOT_GID=$(getent group dovecot | cut -d: -f3)
if getent group Debian-exim >/dev/null; then EXIM_GROUP=Debian-exim; else EXIM_GROUP=root; fi
EXIM_GID=$(getent group "$EXIM_GROUP" | cut -d: -f3)
cat >"$ROOT/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/bash
mailtest:x:$OWNER_UID:$OWNER_GID:mailrecon imap test:/var/www/mailtest:/usr/sbin/nologin
EOF
cat >"$ROOT/etc/group" <<EOF
root:x:0:
dovecot:x:$DOVECOT_GID:
Debian-exim:x:$EXIM_GID:
mailtest:x:$OWNER_GID:
EOF

PWFILE="$ROOT/etc/mailrecon/imap-clear.pass"
printf 'Clear-Pass-1\n' >"$PWFILE"
chmod 0600 "$PWFILE"

DESIRED="$REPO/tests/e2e/imap-desired.yaml"
DESIRED2="$ROOT/imap-desired-phase2.yaml"
sed 's/disabled: false  # imap.sh: phase 2/disabled: true/' "$DESIRED" >"$DESIRED2"
if cmp -s "$DESIRED" "$DESIRED2"; then fail "fixture-phase2-marker" "marker not found in $DESIRED"; fi

# The default that Dovecot presents when no SNI name matches: as on stock Debian, root's
# links to the snakeoil pair, which apply replaces by server.ssl's certificate (the links
# themselves; their targets stay as they are)
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/etc/ssl/private"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=snakeoil.test -keyout "$ROOT/etc/ssl/private/ssl-cert-snakeoil.key" \
    -out "$ROOT/etc/ssl/certs/ssl-cert-snakeoil.pem" >/dev/null 2>&1 \
    || fail "test-certificate" "openssl req failed"
rm -f "$ROOT/etc/dovecot/private/dovecot.pem" "$ROOT/etc/dovecot/private/dovecot.key"
ln -s /etc/ssl/certs/ssl-cert-snakeoil.pem "$ROOT/etc/dovecot/private/dovecot.pem"
ln -s /etc/ssl/private/ssl-cert-snakeoil.key "$ROOT/etc/dovecot/private/dovecot.key"
SNAKEOIL_FP=$(openssl x509 -noout -fingerprint -sha256 -in "$ROOT/etc/ssl/certs/ssl-cert-snakeoil.pem")

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

write_conf() {
    CONF="$ROOT/etc/dovecot/dovecot.conf"
    # The SNI include that mailrecon writes names /etc/dovecot/certs/...; the test
    # includes a copy with the sandbox prefix instead (written after apply 1).
    sed -e "s|@ROOT@|$ROOT|g" -e "s|@EXIM_GROUP@|$EXIM_GROUP|g" \
        -e "s|^!include_try conf.d/99-mailrecon-sni.conf\$|!include_try conf.d/99-mailrecon-sni.sandbox|" \
        "$REPO/contrib/dovecot/dovecot.conf" >"$CONF"
    cat >>"$CONF" <<EOF

# ---- tests/e2e/imap.sh overrides: a private instance on the loopback ----
instance_name = mailrecon-imap-test
base_dir = $ROOT/run/dovecot
state_dir = $ROOT/var/lib/dovecot
log_path = $ROOT/var/log/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
protocols = imap pop3
listen = 127.0.0.1
# ssl = yes as in contrib: STARTTLS on the plain listener (127.0.0.1 counts as secured,
# so the plain-text logins below still work without TLS).
# Refusals are part of the test: no 2 s delay after each, and no per-IP penalty
# (anvil would delay every later login from 127.0.0.1 by up to 15 s).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  # contrib's 993 (TLS on connect), on a free loopback port
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  # contrib's 995 (TLS on connect), on a free loopback port
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
  }
}
EOF
}

# ---------------------------------------------------------------- apply 1
APPLY_OUT="$ROOT/apply.out"
if MAILRECON_RELOAD_DOVECOT=true "$MAILRECON" apply --root "$ROOT" -f "$DESIRED" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1; then
    ok "apply-writes-sandbox"
else
    fail "apply-writes-sandbox" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
    finish
fi

PWD_FILE="$ROOT/etc/dovecot/dovecot.passwd"
check "passwd-clear-hashed-sha512-crypt" \
    grep -q "^clear@imap.test:{SHA512-CRYPT}\\\$6\\\$[^:]*:$OWNER_UID:$OWNER_GID::/var/www/mailtest/data/email/imap.test/clear::" "$PWD_FILE"
check "passwd-disabled-line-commented-out" grep -q '^#off@imap.test:' "$PWD_FILE"
check "passwd-quota-field-written" grep -q '^small@imap.test:.*::userdb_quota_rule=\*:bytes=1M$' "$PWD_FILE"
check "passwd-disabled-domain-mailbox-commented-out" grep -q '^#user@off.test:' "$PWD_FILE"

# The SNI certificate and include (docs/formats.md "Dovecot SNI include").
SNI_INC="$ROOT/etc/dovecot/conf.d/99-mailrecon-sni.conf"
SNI_COPY="$ROOT/etc/dovecot/conf.d/99-mailrecon-sni.sandbox"
check "sni-cert-and-key-written" test -s "$ROOT/etc/dovecot/certs/sni.test.crt" -a -s "$ROOT/etc/dovecot/certs/sni.test.key"
check "sni-include-local-name-block" grep -Eq '^local_name mail\.imap\.test \{' "$SNI_INC"
check "sni-include-absolute-cert-paths" grep -q '^  ssl_cert = </etc/dovecot/certs/sni\.test\.crt$' "$SNI_INC"
check "sni-include-absolute-key-paths" grep -q '^  ssl_key = </etc/dovecot/certs/sni\.test\.key$' "$SNI_INC"
sed "s|</etc/dovecot/certs/|<$ROOT/etc/dovecot/certs/|g" "$SNI_INC" >"$SNI_COPY" 2>/dev/null

# ---------------------------------------------------------------- start dovecot
started=0
for attempt in 1 2 3; do
    PORT=$(free_port)
    IMAPS_PORT=$(free_port)
    POP3S_PORT=$(free_port)
    write_conf
    if [ "$attempt" = 1 ]; then
        if doveconf -c "$CONF" -n >"$ROOT/doveconf.out" 2>&1; then
            ok "contrib-config-parses"
        else
            fail "contrib-config-parses" "$(head -n 3 "$ROOT/doveconf.out" | tr '\n' ' ')"
        fi
    fi
    if dovecot -c "$CONF" >"$ROOT/dovecot.start" 2>&1; then
        DOVECOT_STARTED=1
        for _ in $(seq 50); do
            if curl -s --max-time 2 "imap://127.0.0.1:$PORT/" -X CAPABILITY >/dev/null 2>&1 \
               || (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
                started=1; break
            fi
            sleep 0.1
        done
        if [ "$started" = 1 ]; then
            started=0
            for _ in $(seq 50); do
                if (exec 3<>"/dev/tcp/127.0.0.1/$IMAPS_PORT") 2>/dev/null \
                   && (exec 3<>"/dev/tcp/127.0.0.1/$POP3S_PORT") 2>/dev/null; then
                    started=1; break
                fi
                sleep 0.1
            done
        fi
        [ "$started" = 1 ] && break
        stop_dovecot
    fi
done
if [ "$started" = 1 ]; then
    ok "dovecot-starts-on-contrib-config"
else
    fail "dovecot-starts-on-contrib-config" "$(head -n 3 "$ROOT/dovecot.start" 2>/dev/null | tr '\n' ' ')"
    finish
fi
MASTER_PID=$(cat "$ROOT/run/dovecot/master.pid")

# ---------------------------------------------------------------- helpers
# imap_login ADDR PASS [MECH]: curl's exit status (0 = logged in, 67 = login denied).
imap_login() {
    local opts=()
    [ -n "${3:-}" ] && opts=(--login-options "AUTH=$3")
    curl -s --max-time 10 -u "$1:$2" "${opts[@]}" "imap://127.0.0.1:$PORT/" >/dev/null 2>&1
}
login_ok()      { imap_login "$@"; }
login_refused() { imap_login "$@"; [ $? -eq 67 ]; }
auth_ok()       { doveadm -c "$CONF" auth test "$1" "$2" >/dev/null 2>&1; }
auth_refused()  { ! doveadm -c "$CONF" auth test "$1" "$2" >/dev/null 2>&1; }
D=imap.test

# ---------------------------------------------------------------- TLS: SNI
check "contrib-config-includes-sni-file" \
    grep -q '^!include_try conf.d/99-mailrecon-sni.conf$' "$REPO/contrib/dovecot/dovecot.conf"
check "test-config-includes-sandbox-sni-copy" \
    grep -q '^!include_try conf.d/99-mailrecon-sni.sandbox$' "$CONF"
# tls_subject SERVERNAME: the subject of the certificate dovecot presents after STARTTLS.
tls_subject() {
    openssl s_client -connect "127.0.0.1:$PORT" -starttls imap -servername "$1" </dev/null 2>/dev/null \
        | openssl x509 -noout -subject -nameopt RFC2253 2>/dev/null
}
SUBJ=$(tls_subject mail.imap.test)
if [ "$SUBJ" = "subject=CN=mail.imap.test" ]; then ok "tls-sni-alias-gets-mailrecon-certificate"
else fail "tls-sni-alias-gets-mailrecon-certificate" "got '$SUBJ'"; fi
SUBJ=$(tls_subject other.test)
if [ "$SUBJ" = "subject=CN=default.test" ]; then ok "tls-sni-other-name-gets-default-certificate"
else fail "tls-sni-other-name-gets-default-certificate" "got '$SUBJ'"; fi
# server.ssl: the links are files now, mailrecon's certificate, served to a client that
# names no server; the snakeoil pair they pointed at is untouched
DEF="$ROOT/etc/dovecot/private/dovecot.pem"
if [ -f "$DEF" ] && [ ! -L "$DEF" ] && [ ! -L "$ROOT/etc/dovecot/private/dovecot.key" ] &&
    cmp -s "$DEF" "$ROOT/etc/exim4/ssl/exim.crt" &&
    [ "$(openssl x509 -noout -fingerprint -sha256 -in "$ROOT/etc/ssl/certs/ssl-cert-snakeoil.pem")" = "$SNAKEOIL_FP" ]; then
    ok "server-ssl-replaces-the-snakeoil-links-with-exims-copy"
else
    fail "server-ssl-replaces-the-snakeoil-links-with-exims-copy" "$(ls -l "$ROOT/etc/dovecot/private" | tr '\n' ' ')"
fi
DEF_FP=$(openssl x509 -noout -fingerprint -sha256 -in "$DEF" 2>/dev/null)
SUBJ=$(openssl s_client -connect "127.0.0.1:$PORT" -starttls imap -noservername </dev/null 2>/dev/null \
    | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
if [ -n "$DEF_FP" ] && [ "$SUBJ" = "$DEF_FP" ]; then ok "tls-no-sni-gets-server-ssl-certificate"
else fail "tls-no-sni-gets-server-ssl-certificate" "got '$SUBJ', file '$DEF_FP'"; fi
SUBJ=$(openssl x509 -noout -subject -nameopt RFC2253 -in "$ROOT/etc/dovecot/certs/sni.test.crt" 2>/dev/null)
if [ "$SUBJ" = "subject=CN=mail.imap.test" ]; then ok "sni-cert-file-cn-is-alias"
else fail "sni-cert-file-cn-is-alias" "got '$SUBJ'"; fi
# The certificate served is byte-for-byte the file mailrecon wrote.
served_fp() {
    openssl s_client -connect "127.0.0.1:$PORT" -starttls imap -servername mail.imap.test </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
FP_FILE=$(openssl x509 -noout -fingerprint -sha256 -in "$ROOT/etc/dovecot/certs/sni.test.crt" 2>/dev/null)
FP_SERVED=$(served_fp)
if [ -n "$FP_FILE" ] && [ "$FP_FILE" = "$FP_SERVED" ]; then ok "tls-sni-serves-mailrecon-cert-file"
else fail "tls-sni-serves-mailrecon-cert-file" "file '$FP_FILE' served '$FP_SERVED'"; fi

# ---------------------------------------------------------------- logins
check "imap-login-yaml-sha512-hash-plain"      login_ok "hashed@$D" test PLAIN
check "imap-login-yaml-sha512-hash-login"      login_ok "hashed@$D" test LOGIN
check "imap-login-mailrecon-hashed-clear"      login_ok "clear@$D" Clear-Pass-1 PLAIN
check "imap-login-cram-md5-hash-plain"         login_ok "cram@$D" test PLAIN
check "imap-login-cram-md5-hash-auth-cram-md5" login_ok "cram@$D" test CRAM-MD5
check "imap-login-username-case-insensitive"   login_ok "Hashed@IMAP.Test" test PLAIN
# CRAM-MD5 needs the {CRAM-MD5} (or clear) hash: a crypt hash cannot answer it. Clients
# that pick the "best" advertised mechanism (curl does: CRAM-MD5 before PLAIN) must be
# set to PLAIN/LOGIN for such mailboxes.
check "imap-cram-md5-mech-refused-for-crypt-hash" login_refused "hashed@$D" test CRAM-MD5
check "imap-login-wrong-password-refused"      login_refused "hashed@$D" wrong PLAIN
check "imap-login-wrong-password-cram-refused" login_refused "cram@$D" wrong CRAM-MD5
check "imap-login-disabled-mailbox-refused"    login_refused "off@$D" test PLAIN
check "imap-login-unknown-mailbox-refused"     login_refused "nobody@$D" test PLAIN
check "imap-login-disabled-domain-mailbox-refused" login_refused "user@off.test" test PLAIN
check "imap-login-later-before-disable"        login_ok "later@$D" test PLAIN

check "doveadm-auth-yaml-sha512-hash"     auth_ok "hashed@$D" test
check "doveadm-auth-mailrecon-hashed"     auth_ok "clear@$D" Clear-Pass-1
check "doveadm-auth-cram-md5-hash"        auth_ok "cram@$D" test
check "doveadm-auth-wrong-password-refused" auth_refused "hashed@$D" wrong
check "doveadm-auth-disabled-refused"     auth_refused "off@$D" test
check "doveadm-auth-disabled-domain-refused" auth_refused "user@off.test" test

# ---------------------------------------------------------------- userdb / quota
USER_OUT=$(doveadm -c "$CONF" user "small@$D" 2>&1)
if printf '%s\n' "$USER_OUT" | grep -q 'quota_rule[[:space:]]*\*:bytes=1M' \
   && printf '%s\n' "$USER_OUT" | grep -q "uid[[:space:]]*$OWNER_UID\$" \
   && printf '%s\n' "$USER_OUT" | grep -q "home[[:space:]]*/var/www/mailtest/data/email/$D/small\$"; then
    ok "doveadm-user-shows-quota-rule-uid-home"
else
    fail "doveadm-user-shows-quota-rule-uid-home" "$(printf '%s' "$USER_OUT" | tr '\n' ' ')"
fi
if doveadm -c "$CONF" user "hashed@$D" 2>&1 | grep -q quota_rule; then
    fail "doveadm-user-no-quota-rule-without-max-size"
else
    ok "doveadm-user-no-quota-rule-without-max-size"
fi
check "doveadm-user-disabled-unknown" bash -c "! doveadm -c '$CONF' user 'off@$D' >/dev/null 2>&1"

SMALL_MSG="$ROOT/small.eml"
BIG_MSG="$ROOT/big.eml"
printf 'From: e2e@example.org\nTo: small@%s\nSubject: small\n\nhello\n' "$D" >"$SMALL_MSG"
{
    printf 'From: e2e@example.org\nTo: small@%s\nSubject: big\n\n' "$D"
    head -c 1500000 /dev/urandom | base64 -w 76      # ~2 MB of text
} >"$BIG_MSG"

maildir_count() {  # maildir_count MAILBOX: messages in new/ + cur/
    local dir="$ROOT/var/www/mailtest/data/email/$D/$1/.maildir"
    find "$dir/new" "$dir/cur" -type f 2>/dev/null | wc -l
}

lda() {  # lda ADDR FILE: runs dovecot-lda, stderr in $ROOT/lda.err
    "$LDA" -c "$CONF" -e -f e2e@example.org -d "$1" <"$2" 2>"$ROOT/lda.err" >/dev/null
}

if lda "small@$D" "$SMALL_MSG" && [ "$(maildir_count small)" = 1 ]; then
    ok "lda-small-message-accepted-under-quota"
else
    fail "lda-small-message-accepted-under-quota" "$(tr '\n' ' ' <"$ROOT/lda.err")"
fi
lda "small@$D" "$BIG_MSG"; rc=$?
if [ "$rc" -ne 0 ] && grep -qi 'quota exceeded' "$ROOT/lda.err" && [ "$(maildir_count small)" = 1 ]; then
    ok "lda-2mb-message-refused-quota-exceeded"
else
    fail "lda-2mb-message-refused-quota-exceeded" "rc=$rc $(tr '\n' ' ' <"$ROOT/lda.err")"
fi
if lda "hashed@$D" "$BIG_MSG" && [ "$(maildir_count hashed)" = 1 ]; then
    ok "lda-2mb-message-accepted-without-max-size"
else
    fail "lda-2mb-message-accepted-without-max-size" "$(tr '\n' ' ' <"$ROOT/lda.err")"
fi
if lda "off@$D" "$SMALL_MSG"; then
    fail "lda-disabled-mailbox-not-delivered"
else
    ok "lda-disabled-mailbox-not-delivered"
fi
# The delivered message is seen over IMAP by its owner.
if curl -s --max-time 10 -u "small@$D:test" --login-options AUTH=PLAIN \
        "imap://127.0.0.1:$PORT/INBOX" -X 'STATUS INBOX (MESSAGES)' 2>/dev/null \
        | grep -q 'MESSAGES 1'; then
    ok "imap-sees-delivered-message"
else
    fail "imap-sees-delivered-message"
fi

# ---------------------------------------------------------------- IMAPS 993 / POP3S 995
# contrib's TLS-on-connect listeners (on free loopback ports here). curl asks for
# mail.imap.test (sent as SNI, resolved to 127.0.0.1) and verifies the certificate against
# the very file mailrecon wrote (--cacert) and that name against its subject, so a login
# that works was made over the domain's certificate.
CERT="$ROOT/etc/dovecot/certs/sni.test.crt"
# tls_on_connect PORT SERVERNAME: what openssl x509 OPTS... says of the certificate served
tls_on_connect() {
    local port=$1 name=$2; shift 2
    openssl s_client -connect "127.0.0.1:$port" -servername "$name" </dev/null 2>/dev/null \
        | openssl x509 -noout "$@" 2>/dev/null
}
# tls_client PROTO PORT NAME CURL-ARGS...: curl's exit status (0 ok, 60 certificate refused,
# 67 login denied) for PROTO://NAME:PORT/ with the certificate checked against $CERT
tls_client() {
    local proto=$1 port=$2 name=$3; shift 3
    curl -s --max-time 10 --resolve "$name:$port:127.0.0.1" --cacert "$CERT" "$@" "$proto://$name:$port/" \
        >"$ROOT/tls_client.out" 2>&1
}
for svc in imaps:$IMAPS_PORT pop3s:$POP3S_PORT; do
    p=${svc%%:*} port=${svc#*:}
    SUBJ=$(tls_on_connect "$port" mail.imap.test -subject -nameopt RFC2253)
    FP=$(tls_on_connect "$port" mail.imap.test -fingerprint -sha256)
    if [ "$SUBJ" = "subject=CN=mail.imap.test" ] && [ -n "$FP_FILE" ] && [ "$FP" = "$FP_FILE" ]; then
        ok "$p-sni-alias-gets-mailrecon-certificate"
    else
        fail "$p-sni-alias-gets-mailrecon-certificate" "got '$SUBJ' '$FP', file '$FP_FILE'"
    fi
    SUBJ=$(tls_on_connect "$port" other.test -subject -nameopt RFC2253)
    if [ "$SUBJ" = "subject=CN=default.test" ]; then ok "$p-sni-other-name-gets-default-certificate"
    else fail "$p-sni-other-name-gets-default-certificate" "got '$SUBJ'"; fi
    FP=$(openssl s_client -connect "127.0.0.1:$port" -noservername </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
    if [ -n "$DEF_FP" ] && [ "$FP" = "$DEF_FP" ]; then ok "$p-no-sni-gets-server-ssl-certificate"
    else fail "$p-no-sni-gets-server-ssl-certificate" "got '$FP', file '$DEF_FP'"; fi
    # the --cacert check can fail: another name gets the default certificate, which curl refuses
    tls_client "$p" "$port" other.test -u "hashed@$D:test"; rc=$?
    if [ "$rc" = 60 ]; then ok "$p-client-refuses-a-certificate-not-the-domains"
    else fail "$p-client-refuses-a-certificate-not-the-domains" "curl exit $rc: $(head -c 300 "$ROOT/tls_client.out")"; fi
done
if tls_client imaps "$IMAPS_PORT" mail.imap.test -u "small@$D:test" --login-options AUTH=PLAIN \
        -X 'STATUS INBOX (MESSAGES)' && grep -q 'MESSAGES 1' "$ROOT/tls_client.out"; then
    ok "imaps-login-on-domain-certificate-sees-delivered-message"
else
    fail "imaps-login-on-domain-certificate-sees-delivered-message" "$(head -c 300 "$ROOT/tls_client.out")"
fi
tls_client imaps "$IMAPS_PORT" mail.imap.test -u "hashed@$D:wrong" --login-options AUTH=PLAIN; rc=$?
if [ "$rc" = 67 ]; then ok "imaps-wrong-password-refused"; else fail "imaps-wrong-password-refused" "curl exit $rc"; fi
# POP3 LIST: "1 SIZE", one line a message
if tls_client pop3s "$POP3S_PORT" mail.imap.test -u "small@$D:test" \
        && [ "$(grep -cE '^[0-9]+ [0-9]+' "$ROOT/tls_client.out")" = 1 ]; then
    ok "pop3s-login-on-domain-certificate-lists-delivered-message"
else
    fail "pop3s-login-on-domain-certificate-lists-delivered-message" "$(head -c 300 "$ROOT/tls_client.out")"
fi
tls_client pop3s "$POP3S_PORT" mail.imap.test -u "hashed@$D:wrong"; rc=$?
if [ "$rc" = 67 ]; then ok "pop3s-wrong-password-refused"; else fail "pop3s-wrong-password-refused" "curl exit $rc"; fi
tls_client pop3s "$POP3S_PORT" mail.imap.test -u "off@$D:test"; rc=$?
if [ "$rc" = 67 ]; then ok "pop3s-disabled-mailbox-refused"; else fail "pop3s-disabled-mailbox-refused" "curl exit $rc"; fi
tls_client pop3s "$POP3S_PORT" mail.imap.test -u "user@off.test:test"; rc=$?
if [ "$rc" = 67 ]; then ok "pop3s-disabled-domain-mailbox-refused"; else fail "pop3s-disabled-domain-mailbox-refused" "curl exit $rc"; fi

# ---------------------------------------------------------------- apply 2: live changes
printf 'Clear-Pass-2\n' >"$PWFILE"
if MAILRECON_RELOAD_DOVECOT=true "$MAILRECON" apply --root "$ROOT" -f "$DESIRED2" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1; then
    ok "reapply-password-change-and-disable"
else
    fail "reapply-password-change-and-disable" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi
check "passwd-later-commented-out-after-reapply" grep -q "^#later@$D:" "$PWD_FILE"
# Dovecot's passwd-file stats the file at most once per second (db-passwd-file.c:
# last_sync_time == ioloop_time), so a change is seen from the next second on.
sleep 1.1

check "running-dovecot-accepts-new-password"   login_ok "clear@$D" Clear-Pass-2 PLAIN
check "running-dovecot-refuses-old-password"   login_refused "clear@$D" Clear-Pass-1 PLAIN
check "doveadm-auth-new-password"              auth_ok "clear@$D" Clear-Pass-2
check "doveadm-auth-old-password-refused"      auth_refused "clear@$D" Clear-Pass-1
check "running-dovecot-refuses-newly-disabled" login_refused "later@$D" test PLAIN
check "doveadm-auth-newly-disabled-refused"    auth_refused "later@$D" test
check "other-mailboxes-unaffected-by-reapply"  login_ok "hashed@$D" test PLAIN
if [ "$(cat "$ROOT/run/dovecot/master.pid" 2>/dev/null)" = "$MASTER_PID" ] \
   && kill -0 "$MASTER_PID" 2>/dev/null; then
    ok "no-dovecot-restart-needed"
else
    fail "no-dovecot-restart-needed" "master pid changed or gone"
fi

# A third apply of the same state changes nothing.
if MAILRECON_RELOAD_DOVECOT=true "$MAILRECON" apply --root "$ROOT" -f "$DESIRED2" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1 && grep -q 'No changes' "$APPLY_OUT"; then
    ok "reapply-same-state-no-changes"
else
    fail "reapply-same-state-no-changes" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- apply 4: a new certificate
# A new domain with a certificate (alias mail2.imap.test). Dovecot reads the SNI include
# only at start and reload, so apply's Dovecot reload is what makes it served. The reload
# command rewrites the sandbox copy of the include first (the include mailrecon writes
# names the real /etc/dovecot/certs), then runs doveadm reload.
DESIRED3="$ROOT/imap-desired-phase3.yaml"
{ cat "$DESIRED2"; printf '  sni2.test:\n    owner: mailtest\n    ssl: {alias: mail2.imap.test, certificate: self-signed}\n'; } >"$DESIRED3"
SUBJ=$(tls_subject mail2.imap.test)
if [ "$SUBJ" = "subject=CN=default.test" ]; then ok "tls-sni-new-name-gets-default-before-apply"
else fail "tls-sni-new-name-gets-default-before-apply" "got '$SUBJ'"; fi
RELOAD="sed 's|</etc/dovecot/certs/|<$ROOT/etc/dovecot/certs/|g' '$SNI_INC' >'$SNI_COPY' && doveadm -c '$CONF' reload"
if MAILRECON_RELOAD_DOVECOT="$RELOAD" "$MAILRECON" apply --root "$ROOT" -f "$DESIRED3" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1 && grep -q '^reloaded dovecot' "$APPLY_OUT"; then
    ok "reapply-new-certificate-reloads-dovecot"
else
    fail "reapply-new-certificate-reloads-dovecot" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi
check "sni-include-has-new-name" grep -Eq '^local_name mail2\.imap\.test \{' "$SNI_INC"
# the reload is asynchronous: poll for the new certificate
SUBJ=
for _ in $(seq 50); do
    SUBJ=$(tls_subject mail2.imap.test)
    [ "$SUBJ" = "subject=CN=mail2.imap.test" ] && break
    sleep 0.2
done
if [ "$SUBJ" = "subject=CN=mail2.imap.test" ]; then ok "tls-sni-new-certificate-served-after-reload"
else fail "tls-sni-new-certificate-served-after-reload" "got '$SUBJ'"; fi
SUBJ=$(tls_subject mail.imap.test)
if [ "$SUBJ" = "subject=CN=mail.imap.test" ]; then ok "tls-sni-old-certificate-still-served"
else fail "tls-sni-old-certificate-still-served" "got '$SUBJ'"; fi
if [ "$(cat "$ROOT/run/dovecot/master.pid" 2>/dev/null)" = "$MASTER_PID" ] && kill -0 "$MASTER_PID" 2>/dev/null; then
    ok "new-certificate-reload-not-restart"
else
    fail "new-certificate-reload-not-restart" "master pid changed or gone"
fi

# ---------------------------------------------------------------- apply 5: disabled -> enabled
# The mailbox later@ (disabled by apply 2) and the domain off.test (disabled from the start,
# refused above) are enabled again through mailrecon apply; the running Dovecot (same master,
# no reload) lets both log in, and dovecot-lda delivers to the domain's mailbox.
DESIRED4="$ROOT/imap-desired-phase5.yaml"
{ sed 's/disabled: true  # imap.sh: apply 5 enables this domain$/disabled: false/' "$DESIRED"
  sed -n '/^  sni2\.test:$/,$p' "$DESIRED3"; } >"$DESIRED4"
if [ "$(diff "$DESIRED3" "$DESIRED4" | grep -c '^>')" != 2 ] || ! grep -q '^        disabled: false  # imap.sh: phase 2$' "$DESIRED4"; then
    fail "fixture-phase5" "$(diff "$DESIRED3" "$DESIRED4" | tr '\n' ' ')"
fi
check "imap-login-later-refused-before-enable" login_refused "later@$D" test PLAIN
if MAILRECON_RELOAD_DOVECOT=true "$MAILRECON" apply --root "$ROOT" -f "$DESIRED4" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1; then
    ok "reapply-enables-mailbox-and-domain"
else
    fail "reapply-enables-mailbox-and-domain" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi
check "passwd-enabled-lines-uncommented" grep -q "^later@$D:" "$PWD_FILE"
check "passwd-enabled-domain-line-uncommented" grep -q '^user@off.test:' "$PWD_FILE"
sleep 1.1
check "running-dovecot-accepts-re-enabled-mailbox"         login_ok "later@$D" test PLAIN
check "running-dovecot-accepts-mailbox-of-re-enabled-domain" login_ok "user@off.test" test PLAIN
check "doveadm-auth-re-enabled-domain"                     auth_ok "user@off.test" test
if lda "user@off.test" "$SMALL_MSG" \
   && curl -s --max-time 10 -u "user@off.test:test" --login-options AUTH=PLAIN \
        "imap://127.0.0.1:$PORT/INBOX" -X 'STATUS INBOX (MESSAGES)' 2>/dev/null | grep -q 'MESSAGES 1'; then
    ok "re-enabled-domain-mailbox-gets-mail-seen-over-imap"
else
    fail "re-enabled-domain-mailbox-gets-mail-seen-over-imap" "$(tr '\n' ' ' <"$ROOT/lda.err")"
fi
if [ "$(cat "$ROOT/run/dovecot/master.pid" 2>/dev/null)" = "$MASTER_PID" ] && kill -0 "$MASTER_PID" 2>/dev/null; then
    ok "enable-no-dovecot-restart-needed"
else
    fail "enable-no-dovecot-restart-needed" "master pid changed or gone"
fi

# ---------------------------------------------------------------- apply 6: files and certbot
# files.imap.test names a CA-signed pair by path (below --root); le.imap.test says
# certificate: letsencrypt (etc/letsencrypt/live/mail.le.imap.test, certbot's relative links
# into ../../archive/). Served on IMAPS and POP3S by SNI; then certbot renews and the next
# apply's reload makes Dovecot serve the renewal.
# shellcheck source=tests/e2e/certs.sh
. "$REPO/tests/e2e/certs.sh"
ca_make "$ROOT/ca"
mkdir -p "$ROOT/srv/certs"
ca_sign "$ROOT/ca" mail.files.imap.test "$ROOT/srv/certs/files.crt" "$ROOT/srv/certs/files.key"
le_issue "$ROOT/ca" "$ROOT" mail.le.imap.test 1
LEA="$ROOT/etc/letsencrypt/archive/mail.le.imap.test"
DESIRED6="$ROOT/imap-desired-phase6.yaml"
{ cat "$DESIRED4"; printf '%s\n' '  files.imap.test:' '    owner: mailtest' \
    '    ssl: {alias: mail.files.imap.test, certificate: {cert: /srv/certs/files.crt, key: /srv/certs/files.key}}' \
    '  le.imap.test:' '    owner: mailtest' '    ssl: {alias: mail.le.imap.test, certificate: letsencrypt}'; } >"$DESIRED6"
if MAILRECON_RELOAD_DOVECOT="$RELOAD" "$MAILRECON" apply --root "$ROOT" -f "$DESIRED6" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1 && grep -q '^reloaded dovecot' "$APPLY_OUT"; then
    ok "files-apply-file-and-letsencrypt-certificates"
else
    fail "files-apply-file-and-letsencrypt-certificates" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi
fp_of() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null; }
# served_poll PORT NAME FILE: the certificate on PORT for NAME becomes FILE's (reloads are asynchronous)
served_poll() {
    local want got=
    want=$(fp_of "$3")
    for _ in $(seq 50); do
        got=$(tls_on_connect "$1" "$2" -fingerprint -sha256)
        [ -n "$want" ] && [ "$got" = "$want" ] && return 0
        sleep 0.2
    done
    echo "wanted '$want', got '$got'" >&2
    return 1
}
check "files-imaps-sni-serves-file-based-certificate" served_poll "$IMAPS_PORT" mail.files.imap.test "$ROOT/srv/certs/files.crt"
check "files-pop3s-sni-serves-file-based-certificate" served_poll "$POP3S_PORT" mail.files.imap.test "$ROOT/srv/certs/files.crt"
check "files-imaps-sni-serves-letsencrypt-certificate" served_poll "$IMAPS_PORT" mail.le.imap.test "$LEA/cert1.pem"
check "files-pop3s-sni-serves-letsencrypt-certificate" served_poll "$POP3S_PORT" mail.le.imap.test "$LEA/cert1.pem"
# a client that trusts only the CA logs in over certbot's chain for the alias
if CERT="$ROOT/ca/ca.crt" tls_client imaps "$IMAPS_PORT" mail.le.imap.test -u "small@$D:test" --login-options AUTH=PLAIN \
        -X 'STATUS INBOX (MESSAGES)' && grep -q 'MESSAGES 1' "$ROOT/tls_client.out"; then
    ok "files-imaps-login-verifies-letsencrypt-chain-against-ca"
else
    fail "files-imaps-login-verifies-letsencrypt-chain-against-ca" "$(head -c 300 "$ROOT/tls_client.out")"
fi
le_issue "$ROOT/ca" "$ROOT" mail.le.imap.test 2
if MAILRECON_RELOAD_DOVECOT="$RELOAD" "$MAILRECON" apply --root "$ROOT" -f "$DESIRED6" \
        --allow-delete --actor imap-e2e >"$APPLY_OUT" 2>&1 && grep -q '1 changed' "$APPLY_OUT" \
        && grep -q '^reloaded dovecot' "$APPLY_OUT"; then
    ok "files-letsencrypt-renewal-applied-and-dovecot-reloaded"
else
    fail "files-letsencrypt-renewal-applied-and-dovecot-reloaded" "$(tail -n 5 "$APPLY_OUT" | tr '\n' ' ')"
fi
check "files-imaps-serves-renewed-letsencrypt-certificate" served_poll "$IMAPS_PORT" mail.le.imap.test "$LEA/cert2.pem"
check "files-pop3s-serves-renewed-letsencrypt-certificate" served_poll "$POP3S_PORT" mail.le.imap.test "$LEA/cert2.pem"

if grep -Eq 'Fatal|Panic' "$ROOT/var/log/dovecot.log" 2>/dev/null; then
    fail "dovecot-log-no-fatal" "$(grep -E 'Fatal|Panic' "$ROOT/var/log/dovecot.log" | head -n 3 | tr '\n' ' ')"
else
    ok "dovecot-log-no-fatal"
fi

finish
