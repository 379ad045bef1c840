#!/usr/bin/env bash
# shellcheck disable=SC2317  # cleanup runs from the EXIT trap
# tests/e2e/dkim.sh MAILRECON REPO_ROOT: DKIM rotation gated by DNS (docs/plan.md "DKIM
# rotation"), proven with the real exim4 on contrib/exim4/exim4.conf, a real DNS server on
# loopback (dnsmasq, serving the zone this script edits: its txt-record lines, then a
# restart) and python3-dkim verifying each signature against what that server answers.
# A selector change is applied and Exim still signs with the old key; the new record is
# published, `mailrecon dns --check --resolver` confirms it, the next apply switches and Exim
# signs with the new key; the old record is listed for removal. Also: a 2048-bit key signs
# and verifies. Must run as root; nothing is skipped (a missing tool is a failure).
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
e2e_args "$@"
need_exim

sbx=$(mktemp -d /tmp/mailrecon-e2e-dkim.XXXXXX)
dns_pid=
cleanup() {
	stop "$sink_pid"
	stop "$dns_pid"
	if [ -z "${E2E_KEEP:-}" ]; then rm -rf "$sbx"; else echo "sandbox kept: $sbx"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
exim_sandbox "$sbx"
dnsmasq=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
if [ ! -x "$dnsmasq" ]; then
	bad "dnsmasq is installed (Debian: apt-get install dnsmasq-base)"
	finish
fi
if ! "$py" -c 'import dkim, dns.resolver' 2>/dev/null; then
	bad "/usr/bin/python3 can import dkim and dns.resolver (Debian: apt-get install python3-dkim)"
	finish
fi

desired=$sbx/desired.yaml
cp "$repo/tests/e2e/dkim-desired.yaml" "$desired"
mr() { "$bin" --root "$sbx" "$@"; }
out=$(mr apply -f "$desired" 2>&1)
if [ $? -eq 0 ]; then ok "mailrecon apply writes the desired state (two DKIM keys) into the sandbox"; else
	bad "mailrecon apply writes the desired state (two DKIM keys) into the sandbox" "$out"
	finish
fi
E=("$exim" -C "$sbx/exim4.conf" -DMR_ROOT="$sbx" -DMR_DELIVERY=mr_maildir)

# ---- the loopback DNS server ----
dns_port=$(free_port)
# zone WHICH [EXTRA...]: the txt-record lines for the DKIM records of `mailrecon dns --json`
# (WHICH: "published" = those without a status and those to remove later; "all" = the
# pending ones too), each value in strings of 255 bytes, plus EXTRA lines as they are
zone() {
	local which=$1
	shift
	mr dns --json | "$py" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["kind"] != "dkim" or (sys.argv[1] == "published" and r.get("status") == "pending"):
        continue
    v = r["value"]
    print("txt-record=%s,%s" % (r["name"], ",".join("\"%s\"" % v[i:i + 255] for i in range(0, len(v), 255))))
' "$which" >"$sbx/zone.conf"
	printf '%s\n' "$@" 'local=/example.com/' 'local=/example.net/' >>"$sbx/zone.conf"
}
# serve: (re)start dnsmasq on 127.0.0.1:dns_port with the zone
serve() {
	stop "$dns_pid"
	"$dnsmasq" --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 \
		--port="$dns_port" --conf-file="$sbx/zone.conf" --pid-file="$sbx/dnsmasq.pid" \
		--log-facility="$sbx/dnsmasq.log" --user=root --group=root &
	dns_pid=$!
	wait_for 10 tcp_open "$dns_port"
}
zone published
if serve; then ok "dnsmasq serves the published DKIM records on 127.0.0.1:$dns_port"; else
	bad "dnsmasq serves the published DKIM records on 127.0.0.1:$dns_port" "$(cat "$sbx/dnsmasq.log" 2>/dev/null)"
	finish
fi

# ---- sending and verifying ----
if ! start_sink "$sbx/sink"; then
	bad "the Python SMTP sink starts (Debian: /usr/bin/python3 with smtpd)" "$(cat "$sbx/sink.log" 2>/dev/null)"
	finish
fi
n=0
# sign FROM: one message from FROM to a remote address through the sink; msg is its file
sign() {
	n=$((n + 1))
	deliver_args=(-DMR_SMARTHOST="127.0.0.1::$sink_port")
	printf 'From: %s\nTo: x@remote.test\nSubject: dkim-%s-%s\n\nsigned body %s\n' "$1" "$n" "$$" "$n" |
		deliver -f "$1" x@remote.test
	deliver_args=()
	msg=$sbx/sink/$n.eml
	wait_for 30 test -f "$msg"
}
# selector_of FILE: the s= of its DKIM-Signature
selector_of() {
	tr -d '\r' <"$1" 2>/dev/null |
		awk '/^$/{exit} /^DKIM-Signature:/{h=1; printf "%s", $0; next} h && /^[ \t]/{sub(/^[ \t]+/, ""); printf "%s", $0; next} {h=0}' |
		grep -o '[; ]s=[a-z0-9.]*;' | sed 's/^.s=//; s/;$//'
}
# verify FILE: python3-dkim's verdict, its key looked up in the loopback DNS server
verify() {
	"$py" -W ignore - "$1" "$dns_port" <<'PYEOF'
import sys, dkim, dns.resolver
msg = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
res = dns.resolver.Resolver(configure=False)
res.nameservers = ["127.0.0.1"]
res.port = int(sys.argv[2])
asked = []
def dnsfunc(name, timeout=5):
    asked.append(name.decode())
    try:
        ans = res.resolve(name.decode(), "TXT", lifetime=timeout)
    except Exception as e:
        asked.append(type(e).__name__)
        return None
    for r in ans:
        v = b"".join(r.strings)
        if v.startswith(b"v=DKIM1"):
            return v
    return None
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print("%s (asked for %s)" % ("pass" if ok else "fail", ", ".join(asked) or "nothing"))
sys.exit(0 if ok else 1)
PYEOF
}
# signed NAME FROM SELECTOR: a message from FROM is signed with SELECTOR and verifies
signed() {
	local name=$1 from=$2 want=$3 sel out
	sign "$from"
	sel=$(selector_of "$msg")
	if [ "$sel" = "$want" ] && out=$(verify "$msg" 2>&1); then ok "$name"; else
		bad "$name" "selector '$sel' (wanted '$want'); python3-dkim: ${out:-}
$(tail -n 5 "$exim_log/mainlog" 2>/dev/null)"
	fi
}

# ---- a 2048-bit key from the start ----
signed "DKIM 2048 bits: example.net's mail is signed with selector big and verifies against the served record" \
	info@example.net big
bits=$(mr dns --json example.net | "$py" -c '
import json, sys
r = [r for r in json.load(sys.stdin) if r["kind"] == "dkim"][0]
print(r["value"].split("p=")[1])' | base64 -d 2>/dev/null | openssl pkey -pubin -inform DER -noout -text 2>/dev/null | head -n 1)
if grep -q '(2048 bit)' <<<"$bits"; then ok "DKIM 2048 bits: the served key of example.net has 2048 bits"; else
	bad "DKIM 2048 bits: the served key of example.net has 2048 bits" "$bits"; fi
signed "DKIM before the rotation: example.com's mail is signed with selector old1 and verifies" info@example.com old1
first=$msg

# ---- the rotation: a new selector and size are staged ----
sed -i 's/dkim: {selector: old1, bits: 1024}/dkim: {selector: new1, bits: 2048}/' "$desired"
out=$(mr apply -f "$desired" 2>&1)
if [ $? -eq 0 ] && grep -q 'selector new1, 2048 bits (new key, staged: old1 signs' <<<"$out" &&
	grep -q '^old1\._domainkey' "$sbx/etc/exim4/ssl/example.com.txt"; then
	ok "apply of a new selector stages the new key: ssl/example.com.txt still names old1"
else
	bad "apply of a new selector stages the new key: ssl/example.com.txt still names old1" "$out"
fi
out=$(mr apply -f "$desired" 2>&1)
if grep -q '^No changes\.' <<<"$out"; then ok "a second apply with the key staged: No changes."; else
	bad "a second apply with the key staged: No changes." "$out"; fi
out=$(mr dns example.com 2>&1)
if grep -q '^new1\._domainkey\.example\.com\.	IN	TXT	.*; pending: ' <<<"$out"; then
	ok "dns lists the new record as pending"
else
	bad "dns lists the new record as pending" "$out"
fi
signed "after that apply Exim still signs with the old selector (old1), which verifies" info@example.com old1
out=$(mr dns --check --resolver "127.0.0.1:$dns_port" example.com 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q '^example\.com	new1\._domainkey\.example\.com	missing	' <<<"$out" &&
	[ ! -e "$sbx/var/lib/mailrecon/dkim/example.com.confirmed" ]; then
	ok "dns --check before publication: missing, exit 2, nothing recorded"
else
	bad "dns --check before publication: missing, exit 2, nothing recorded" "exit $rc: $out"
fi
# another key's record under the new name: a mismatch, not a confirmation
other=$(openssl genrsa 1024 2>/dev/null | openssl rsa -pubout -outform DER 2>/dev/null | base64 -w0)
zone published "txt-record=new1._domainkey.example.com,\"v=DKIM1; k=rsa; p=$other\""
serve
out=$(mr dns --check --resolver "127.0.0.1:$dns_port" example.com 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q '	mismatch	' <<<"$out" && [ ! -e "$sbx/var/lib/mailrecon/dkim/example.com.confirmed" ]; then
	ok "dns --check with another key's record under the new name: mismatch, exit 2, nothing recorded"
else
	bad "dns --check with another key's record under the new name: mismatch, exit 2, nothing recorded" "exit $rc: $out"
fi
out=$(mr apply -f "$desired" 2>&1)
if grep -q '^No changes\.' <<<"$out"; then ok "... and apply still changes nothing"; else
	bad "... and apply still changes nothing" "$out"; fi

# ---- publication, confirmation, switch ----
zone all
serve
out=$(mr dns --check --resolver "127.0.0.1:$dns_port" 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q '^example\.com	new1\._domainkey\.example\.com	published	(staged key: confirmed' <<<"$out" &&
	grep -q '^example\.net	big\._domainkey\.example\.net	published	' <<<"$out" &&
	grep -q '^selector new1$' "$sbx/var/lib/mailrecon/dkim/example.com.confirmed"; then
	ok "dns --check after publication (a 2048-bit record in two strings): published, exit 0, recorded"
else
	bad "dns --check after publication (a 2048-bit record in two strings): published, exit 0, recorded" "exit $rc: $out"
fi

# ---- dns --check without --resolver: the first nameserver of /etc/resolv.conf ----
# In a private mount and network namespace (unshare -mn: the machine's own /etc/resolv.conf
# and network are untouched), a resolv.conf naming 127.0.0.53 is bound over /etc/resolv.conf
# and a second dnsmasq answers on 127.0.0.53:53 only -- not on 127.0.0.1, libresolv's
# fallback when resolv.conf names no server, so an answer proves the file was read. The
# domain is example.net, whose key is not rotating: nothing is recorded either way.
printf 'nameserver 127.0.0.53\n' >"$sbx/resolv.conf"
grep -v '^txt-record=big\._domainkey\.example\.net,' "$sbx/zone.conf" >"$sbx/zone-without.conf"
cat >"$sbx/resolvconf.sh" <<'EOF'
# in the namespace: ZONE is the dnsmasq configuration; prints dns --check's output and exit
set -u
ip link set lo up || exit 90
mount --bind "$SBX/resolv.conf" /etc/resolv.conf || exit 91
"$DNSMASQ" --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.53 \
	--port=53 --conf-file="$ZONE" --pid-file="$SBX/dnsmasq-ns.pid" --log-facility="$SBX/dnsmasq-ns.log" \
	--user=root --group=root &
pid=$!
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.53/53) 2>/dev/null && break
	sleep 0.1
done
"$BIN" --root "$SBX" dns --check example.net 2>&1
echo "exit $?"
kill "$pid"
wait "$pid" 2>/dev/null
EOF
# resolvconf_check ZONE: run it in a fresh namespace
resolvconf_check() {
	SBX=$sbx DNSMASQ=$dnsmasq BIN=$bin ZONE=$1 unshare -mn bash "$sbx/resolvconf.sh" 2>&1
}
out=$(resolvconf_check "$sbx/zone.conf")
if grep -q '^example\.net	big\._domainkey\.example\.net	published	' <<<"$out" && grep -q '^exit 0$' <<<"$out"; then
	ok "dns --check without --resolver asks /etc/resolv.conf's nameserver (127.0.0.53 in a private namespace): published, exit 0"
else
	bad "dns --check without --resolver asks /etc/resolv.conf's nameserver (127.0.0.53 in a private namespace): published, exit 0" "$out"
fi
out=$(resolvconf_check "$sbx/zone-without.conf")
if grep -q '^example\.net	big\._domainkey\.example\.net	missing	' <<<"$out" && grep -q '^exit 2$' <<<"$out"; then
	ok "... and when that server lacks the record: missing, exit 2"
else
	bad "... and when that server lacks the record: missing, exit 2" "$out"
fi
out=$(mr apply -f "$desired" 2>&1)
if [ $? -eq 0 ] && grep -q 'its record published: it signs now' <<<"$out" &&
	grep -q '^new1\._domainkey' "$sbx/etc/exim4/ssl/example.com.txt"; then
	ok "the next apply switches: ssl/example.com.txt names new1"
else
	bad "the next apply switches: ssl/example.com.txt names new1" "$out"
fi
signed "after the switch Exim signs with the new selector (new1, 2048 bits), which verifies" info@example.com new1
if out=$(verify "$first" 2>&1); then ok "mail signed before the switch still verifies (the old record is still served)"; else
	bad "mail signed before the switch still verifies (the old record is still served)" "$out"; fi
out=$(mr dns example.com 2>&1)
want_date=$(date -u -d '+2 days' +%Y-%m-%d)
if grep -q "^old1\._domainkey\.example\.com\.	IN	TXT	.*; remove after $want_date" <<<"$out" &&
	! grep -q 'pending' <<<"$out"; then
	ok "dns lists the old record for removal after server.dkim_grace (2d)"
else
	bad "dns lists the old record for removal after server.dkim_grace (2d)" "$out"
fi
out=$(mr dns --nsupdate example.com 2>&1)
if grep -q '^update add new1\._domainkey\.example\.com\. 3600 IN TXT "v=DKIM1' <<<"$out" &&
	grep -q '^; the replaced DKIM key of example.com: remove after' <<<"$out" && [ "$(tail -n 1 <<<"$out")" = send ]; then
	ok "dns --nsupdate: the new record added, the old one marked, a send"
else
	bad "dns --nsupdate: the new record added, the old one marked, a send" "$out"
fi
out=$(mr apply -f "$desired" 2>&1)
if grep -q '^No changes\.' <<<"$out"; then ok "an apply after the switch: No changes."; else
	bad "an apply after the switch: No changes." "$out"; fi
if git -C "$sbx/var/lib/mailrecon/repo" rev-parse -q HEAD >/dev/null && ! git -C "$sbx/var/lib/mailrecon/repo" log -p 2>/dev/null | grep -q 'PRIVATE KEY'; then
	ok "no private key in the state repository"
else
	bad "no private key in the state repository"
fi
finish
