# Shared by the mailbox-storage regression cases (sourced).  Each case builds a sandbox --root
# with tenants alice (1001), bob (1003) and carol (1005), runs $MAILRECON and exits 1 when the
# weakness it describes is present, 0 when it is fixed.  Must run as root (chown, setpriv).
set -u
bin=${MAILRECON:?set MAILRECON to the mailrecon binary}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
live=$repo/tests/fixtures/live
tmp=$(mktemp -d)
chmod 755 "$tmp" # tenants must reach their trees below it
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
state=$root/var/lib/mailrecon
email() { echo "$root/var/www/$1/data/email"; }
mr() { "$bin" --root "$root" "$@"; }
H='{hash: "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6"}'
# as UID CMD...: run as a tenant
as() { local u=$1; shift; setpriv --reuid "$u" --regid "$u" --clear-groups "$@"; }
sandbox() {
	rm -rf "$root"
	cp -a "$live/debian/empty" "$root"
	rm -f "$root/findings.txt" "$root/import.yaml" "$root/import.err"
	printf '%s\n' 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin' \
		'bob:x:1003:1003::/var/www/bob:/usr/sbin/nologin' \
		'carol:x:1005:1005::/var/www/carol:/usr/sbin/nologin' >>"$root/etc/passwd"
	local u
	for u in alice:1001 bob:1003 carol:1005; do
		mkdir -p "$root/var/www/${u%%:*}"
		chown "${u#*:}:${u#*:}" "$root/var/www/${u%%:*}"
		chmod 750 "$root/var/www/${u%%:*}"
	done
}
# gen FILE OWNER LOCAL...: users alice, bob, carol; example.com owned by OWNER with the mailboxes LOCAL...
gen() {
	local f=$1 owner=$2 m
	shift 2
	{
		printf 'version: 1\nusers:\n  alice: {}\n  bob: {}\n  carol: {}\ndomains:\n  example.com:\n    owner: %s\n    mailboxes:\n' "$owner"
		for m in "$@"; do printf '      %s: {password: %s}\n' "$m" "$H"; done
	} >"$f"
}
# abc_alice_mail [keep]: a sandbox and an owner change A -> B -> C of info@example.com
# ($tmp/a.yaml alice, b.yaml bob, c.yaml carol), A applied, with mail in alice's home
abc_alice_mail() {
	sandbox
	gen "$tmp/a.yaml" alice info "$@"
	gen "$tmp/b.yaml" bob info "$@"
	gen "$tmp/c.yaml" carol info "$@"
	mr -q apply -f "$tmp/a.yaml" >/dev/null 2>&1 || { echo "setup failed"; exit 2; }
	echo 'A-era mail' | as 1001 tee "$(email alice)/example.com/info/msg" >/dev/null
}
present() { echo "WEAKNESS PRESENT: $*"; exit 1; }
fixed() { echo "ok (fixed): $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 2; }
