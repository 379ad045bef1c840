#!/usr/bin/env bash
# mailrecon passwd (issue 14): the hash it prints is one the real `doveadm pw -t` verifies
# against the password (and not against another), for every scheme; the password is never
# printed or echoed; bad input is refused with nothing printed; the hash validates as
# {hash: ...} in a desired state. Fails (never skips) without doveadm or script.
# Usage: passwd.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
for t in doveadm script; do
	command -v "$t" >/dev/null || { echo "FAIL $t is missing (dovecot-core, util-linux)"; exit 1; }
done
pw='correct horse: battery staple'

# verify HASH PASSWORD: doveadm accepts the hash for this password (it prints "(verified)")
verify() { doveadm pw -t "$1" -p "$2" 2>&1 | grep -q '(verified)$'; }

for scheme in SHA512-CRYPT SHA256-CRYPT BLF-CRYPT CRAM-MD5; do
	expect "passwd --stdin --scheme $scheme: one line {$scheme}..." 0 "^\\{$scheme\\}[^ ]+\$" '' -- \
		sh -c "printf '%s\n' '$pw' | '$bin' passwd --stdin --scheme $scheme"
	hash=$(head -n 1 "$tmp/out")
	expect "$scheme: doveadm pw -t verifies it with the password" 0 '' '' -- verify "$hash" "$pw"
	expect "$scheme: ... and not with another" 1 '' '' -- verify "$hash" "$pw!"
	expect "$scheme: the password is not in the output" 1 '' '' -- grep -qF "$pw" "$tmp/out"
done
expect "the default scheme is SHA512-CRYPT" 0 '^\{SHA512-CRYPT\}\$6\$' '' -- \
	sh -c "printf '%s\n' '$pw' | '$bin' passwd --stdin"
h1=$(cat "$tmp/out")
expect "a scheme name in any case" 0 '^\{CRAM-MD5\}[0-9a-f]{64}$' '' -- \
	sh -c "printf 'x\n' | '$bin' passwd --stdin --scheme cram-md5"
expect "salted: two hashes of one password differ" 0 '' '' -- \
	sh -c "test \"\$(printf '%s\n' '$pw' | '$bin' passwd --stdin)\" != '$h1'"
expect "no newline at the end of input: the same password" 0 '' '' -- \
	sh -c "verify() { doveadm pw -t \"\$1\" -p \"\$2\" 2>&1 | grep -q '(verified)\$'; }; verify \"\$(printf '%s' '$pw' | '$bin' passwd --stdin)\" '$pw'"
expect "a CRLF line end is not part of the password" 0 '' '' -- \
	sh -c "verify() { doveadm pw -t \"\$1\" -p \"\$2\" 2>&1 | grep -q '(verified)\$'; }; verify \"\$(printf '%s\r\n' '$pw' | '$bin' passwd --stdin)\" '$pw'"
expect "the hash validates as {hash: ...} in a desired state" 0 '^valid: 1 user, 1 domain, 1 mailbox' '' -- \
	sh -c "sed 's|{hash: \"[^\"]*\"}|{hash: \"$h1\"}|' '$repo/examples/minimal.yaml' >'$tmp/m.yaml' && grep -qF '$h1' '$tmp/m.yaml' && '$bin' validate -f '$tmp/m.yaml'"
expect "no --root is needed" 0 '^\{SHA512-CRYPT\}' '' -- \
	sh -c "printf 'x\n' | '$bin' --root /nonexistent passwd --stdin"

# refusals: exit 1 or 64, nothing on stdout
expect "an unknown scheme: exit 64" 64 '' "--scheme must be SHA512-CRYPT, SHA256-CRYPT, BLF-CRYPT or CRAM-MD5, not 'MD5'" -- \
	sh -c "printf 'x\n' | '$bin' passwd --stdin --scheme MD5"
expect "an empty password: exit 1" 1 '' 'the password is empty' -- sh -c "printf '\n' | '$bin' passwd --stdin"
expect "no input: exit 1" 1 '' 'the password is empty' -- sh -c "'$bin' passwd --stdin </dev/null"
expect "two lines: exit 1" 1 '' 'reads one line; more followed it' -- sh -c "printf 'a\nb\n' | '$bin' passwd --stdin"
expect "a NUL byte: exit 1" 1 '' 'NUL byte' -- sh -c "printf 'a\0b\n' | '$bin' passwd --stdin"
expect "512 bytes: exit 1 (libxcrypt hashes at most 511)" 1 '' 'longer than 511 bytes' -- sh -c "head -c 512 /dev/zero | tr '\0' a | '$bin' passwd --stdin"
expect "511 bytes: a hash" 0 '^\{SHA512-CRYPT\}' '' -- sh -c "head -c 511 /dev/zero | tr '\0' a | '$bin' passwd --stdin"
expect "an argument is refused (a password is never an argument)" 64 '' 'never an argument' -- "$bin" passwd secret
expect "without --stdin, stdin not a terminal: exit 64" 64 '' 'use --stdin' -- sh -c "printf 'x\n' | '$bin' passwd"

# on a terminal: asked twice, without echo. Each line is typed after its prompt (a line typed
# before it would be echoed by the terminal, as it is to any program).
on_tty() { # on_tty LINE1 LINE2 COMMAND...
	local one=$1 two=$2
	shift 2
	{ sleep 1; printf '%s\n' "$one"; sleep 1; printf '%s\n' "$two"; } |
		script -qec "$(printf '%q ' "$@")" /dev/null >"$tmp/tty.raw"
	local rc=$?
	tr -d '\r' <"$tmp/tty.raw"
	return $rc
}
expect "on a terminal: Password:, Retype password:, then the hash" 0 '^Retype password: $' '' -- \
	on_tty secret-tty secret-tty "$bin" passwd --scheme SHA256-CRYPT
tr -d '\r' <"$tmp/tty.raw" | grep -E '^\{SHA256-CRYPT\}' >"$tmp/tty.hash"
expect "... doveadm verifies the hash typed at the terminal" 0 '' '' -- verify "$(cat "$tmp/tty.hash")" secret-tty
expect "... the password was not echoed" 1 '' '' -- grep -aq secret-tty "$tmp/tty.raw"
expect "... and the terminal echoes again afterwards" 0 '' '' -- \
	sh -c "{ sleep 1; printf 'a\n'; sleep 1; printf 'a\n'; } | script -qec \"'$bin' passwd; stty -a\" /dev/null | grep -q ' echo '"
expect "on a terminal, two different entries: exit 1, no hash" 1 'do not match; nothing was printed' '' -- \
	on_tty one two "$bin" passwd
expect "... no hash in the output" 1 '' '' -- grep -q '{SHA512-CRYPT}' "$tmp/tty.raw"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
