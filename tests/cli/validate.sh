#!/usr/bin/env bash
# The validate command as a user runs it: exit codes, where output goes, sources, and that it
# touches nothing. Usage: validate.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME WANT_EXIT STDOUT_PATTERN STDERR_PATTERN -- ARGS...   (patterns: grep -E, '' = empty)
expect() {
	local name=$1 want=$2 out_pat=$3 err_pat=$4
	shift 5
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err"
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
		sed 's/^/     out: /' "$tmp/out"
		sed 's/^/     err: /' "$tmp/err"
	fi
}

check() { # check NAME COMMAND...: the command succeeds
	local name=$1
	shift
	if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/     err: /' "$tmp/err"; fi
}

expect "minimal example is valid" 0 '^valid: 1 user, 1 domain, 1 mailbox in 1 file$' '' -- \
	validate -f "$repo/examples/minimal.yaml"
expect "hosting example is valid" 0 '^valid: 3 users, 4 domains, [0-9]+ mailboxes in 4 files$' '' -- \
	validate -f "$repo/examples/hosting"
expect "global options after the command" 0 '^valid:' '' -- \
	validate -f "$repo/examples/minimal.yaml" --root / --color never
expect "quiet prints nothing on success" 0 '' '' -- -q validate -f "$repo/examples/minimal.yaml"
expect "an invalid file: exit 1, file:line:col on stderr" 1 '' \
	'bad-role.yaml:5:11: error: unknown role .superuser.' -- \
	validate -f "$repo/tests/fixtures/invalid/bad-role.yaml"
expect "error count is summarised" 1 '' '^mailrecon: 2 errors in the desired state$' -- \
	validate -f "$repo/tests/fixtures/invalid/leading-zero-number.yaml"
expect "two examples declaring one domain collide" 1 '' "domain 'example.com' is declared twice" -- \
	validate -f "$repo/examples/minimal.yaml" -f "$repo/examples/hosting"
mkdir -p "$tmp/empty"
expect "a directory without YAML is an error" 1 '' "no desired state found under '$tmp/empty'" -- \
	validate -f "$tmp/empty"
expect "missing default source below --root" 1 '' "cannot read desired state '$tmp/root/etc/mailrecon/desired'" -- \
	--root "$tmp/root" validate
mkdir -p "$tmp/root/etc/mailrecon/desired"
cp "$repo/examples/minimal.yaml" "$tmp/root/etc/mailrecon/desired/"
expect "default source below --root" 0 '^valid: 1 user,' '' -- --root "$tmp/root" validate
expect "unknown command" 64 '' "unknown command 'frobnicate'" -- frobnicate
expect "unknown option" 64 '' "unknown option" -- validate --frobnicate
expect "option without its value" 64 '' "needs a value" -- validate -f
expect "stray argument" 64 '' "unexpected argument" -- validate examples
expect "bad --color" 64 '' "--color must be auto, always or never" -- --color purple validate
expect "no command" 64 '' '^usage: mailrecon' --
expect "help" 0 '^usage: mailrecon' '' -- --help
expect "version" 0 '^mailrecon [0-9]+\.[0-9]+\.[0-9]+$' '' -- --version

# validate reads and never writes: the sandbox is byte-identical afterwards, mtimes included
cp -r "$repo/examples/hosting" "$tmp/root/etc/mailrecon/desired/hosting"
rm "$tmp/root/etc/mailrecon/desired/minimal.yaml"
before=$(cd "$tmp/root" && find . -printf '%p %s %T@ %m\n' | sort | sha256sum)
expect "hosting below --root" 0 '^valid: 3 users' '' -- --root "$tmp/root" validate
after=$(cd "$tmp/root" && find . -printf '%p %s %T@ %m\n' | sort | sha256sum)
if [ "$before" = "$after" ]; then pass=$((pass + 1)); echo "ok   validate changes nothing"; else
	fail=$((fail + 1)); echo "FAIL validate changed the tree"; fi

# a TLS server name picks one certificate: an ssl alias is no other domain's alias or name
cat >"$tmp/sni.yaml" <<'EOF'
version: 1
users: {alice: {}}
domains:
  a.example: {owner: alice, ssl: {alias: mail.example}}
  b.example: {owner: alice, ssl: {alias: mail.example}}
  c.example: {owner: alice, ssl: {alias: a.example}}
  d.example: {owner: alice, ssl: {alias: d.example}}
EOF
expect "an ssl alias taken twice is an error at the second" 1 '' \
	"sni\.yaml:5:42: error: ssl alias 'mail\.example' is also the alias of 'a\.example' \(at [^)]*sni\.yaml:4:42\)" -- \
	validate -f "$tmp/sni.yaml"
check "... an ssl alias that is another domain's name too" \
	grep -q "sni\.yaml:6:42: error: ssl alias 'a\.example' of 'c\.example' is the name of the declared domain 'a\.example'" "$tmp/err"
check "... and a domain's own name as its alias is no error" test "$(grep -c ': error: ' "$tmp/err")" -eq 2

# -f DIR: a symbolic link the walk finds is refused, never followed, and never quoted
mkdir -p "$tmp/linkdir" "$tmp/outside"
cp "$repo/examples/minimal.yaml" "$tmp/linkdir/"
printf 'TOPSECRET-1: x\n' >"$tmp/outside/app.yaml" # YAML whose errors would quote it
ln -s "$tmp/outside/app.yaml" "$tmp/linkdir/z.yaml"
expect "a linked file in a -f directory is refused" 1 '' "error: '$tmp/linkdir/z\\.yaml' is a symbolic link; refused \\(mailrecon never follows one\\)" -- \
	validate -f "$tmp/linkdir"
check "... and none of its bytes is shown" sh -c "! grep -q TOPSECRET '$tmp/out' '$tmp/err'"
rm "$tmp/linkdir/z.yaml"
ln -s "$tmp/outside" "$tmp/linkdir/sub"
expect "a linked directory is not entered" 0 '^valid: 1 user, 1 domain, 1 mailbox in 1 file$' '' -- validate -f "$tmp/linkdir"
rm "$tmp/linkdir/sub"
mkfifo "$tmp/linkdir/fifo.yaml"
expect "a FIFO is refused, without blocking" 1 '' "'$tmp/linkdir/fifo\\.yaml' is not a regular file" -- \
	validate -f "$tmp/linkdir"
rm "$tmp/linkdir/fifo.yaml"
ln -s "$tmp/linkdir/minimal.yaml" "$tmp/op-link.yaml"
expect "an -f argument is the operator's: a link to a file is followed" 0 '^valid: 1 user' '' -- validate -f "$tmp/op-link.yaml"

# a secret named by the desired state is never printed, even when it is wrong
printf 'Very-Secret-1\n' >"$tmp/pw"
printf 'version: 1\nusers: {alice: {}}\ndomains:\n  example.com:\n    owner: alice\n    mailboxes:\n      info: {password: {file: %s}, note: 5}\n      b: {password: {hash: "{PLAIN}Very-Secret-2:x"}}\n' \
	"$tmp/pw" >"$tmp/s.yaml"
"$bin" validate -f "$tmp/s.yaml" >"$tmp/out" 2>&1
if [ $? -eq 1 ] && ! grep -q 'Very-Secret' "$tmp/out"; then pass=$((pass + 1)); echo "ok   secrets never printed"; else
	fail=$((fail + 1)); echo "FAIL secrets never printed"; cat "$tmp/out"; fi

# data from a file reaches the terminal escaped: no control character or invalid UTF-8, ever
printf 'version: 1\nusers: {alice: {}}\n"bad\\e[31mkey\\u009b2J\\ttab": 1\n' >"$tmp/esc.yaml"
expect "a control character in an unknown key is printed as \\xNN" 1 '' \
	"esc.yaml:3:1: error: unknown field 'bad\\\\x1b\\[31mkey\\\\xc2\\\\x9b2J\\\\x09tab' in the top level" -- validate -f "$tmp/esc.yaml"
raw_bytes() { # raw_bytes NAME FILE: a check that FILE has no control byte but '\n', no C1, no invalid UTF-8
	if LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$2" || ! iconv -f UTF-8 -t UTF-8 "$2" >/dev/null 2>&1; then
		fail=$((fail + 1)); echo "FAIL $1"; od -c "$2" | head -5
	else pass=$((pass + 1)); echo "ok   $1"; fi
}
raw_bytes "... and no raw control byte" "$tmp/err"
expect "a usage error quoting an argument is escaped too" 64 '' "unknown command 'frob\\\\x1b\\[2J\\\\xff'" -- \
	"$(printf 'frob\033[2J\377')"
raw_bytes "... and has no raw control byte or invalid UTF-8" "$tmp/err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
