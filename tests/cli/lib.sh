# Shared by the CLI test scripts (sourced): the check runner, a fresh sandbox tree, and the
# hashes of the files an apply of tests/fixtures/plan/changes writes (deterministic).
# The caller sets tmp (a temporary directory), live (tests/fixtures/live), pass=0, fail=0.

# python3 for the tests' own small scripts (JSON and socket helpers): Debian's /usr/bin/python3,
# the one scripts/quickstart installs and Debian's ansible-core runs, when it is there; else the
# first in PATH. A python3 earlier in PATH can be a pyenv shim, which runs bash scripts on every
# call: 0.5 s of CPU a call against 0.04 s for the interpreter itself on the 2-core test machine.
py3=/usr/bin/python3
[ -x "$py3" ] || py3=$(type -P python3) || py3=python3
python3() { "$py3" "$@"; }

# expect NAME WANT_EXIT STDOUT_PATTERN STDERR_PATTERN -- COMMAND...
# Patterns are grep -E; '' means the stream must be empty.
expect() {
	local name=$1 want=$2 out_pat=$3 err_pat=$4
	shift 5
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$? ok=1
	[ "$rc" -eq "$want" ] || ok=0
	if [ -z "$out_pat" ]; then [ ! -s "$tmp/out" ] || ok=0; else grep -Eq -- "$out_pat" "$tmp/out" || ok=0; fi
	if [ -z "$err_pat" ]; then [ ! -s "$tmp/err" ] || ok=0; else grep -Eq -- "$err_pat" "$tmp/err" || ok=0; fi
	if [ $ok -eq 1 ]; then
		pass=$((pass + 1))
		echo "ok   $name"
	else
		fail=$((fail + 1))
		echo "FAIL $name (exit $rc, wanted $want)"
		head -c 3000 "$tmp/out" | sed 's/^/     out: /'
		head -c 3000 "$tmp/err" | sed 's/^/     err: /'
	fi
}

# tree NAME [DEST]: a fresh copy of the live fixture tree NAME, without its golden files
tree() {
	local dest=${2:-$tmp/root}
	rm -rf "$dest"
	cp -a "$live/$1" "$dest"
	rm -f "$dest/findings.txt" "$dest/import.yaml" "$dest/import.err"
}

# deterministic ROOT: the hashes of the files whose applied content (tests/fixtures/plan/changes)
# does not depend on random keys or salts
deterministic() {
	(cd "$1" && sha256sum etc/exim4/passwd etc/exim4/aliases etc/exim4/ratelimits etc/exim4/domains \
		etc/exim4/domainips etc/postgrey/whitelist_recipients etc/mail/spamassassin/local.cf etc/mailrecon/registry
	grep -v '^newsletter@' etc/dovecot/dovecot.passwd | sha256sum)
}
