#!/usr/bin/env bash
# The plan command as a user and a CI job run it: output, exit codes (--detailed-exitcode,
# errors, refusals, usage), --json and --out against their schemas, secrets never shown, and
# the tree untouched.  Usage: plan.sh MAILRECON REPO_ROOT [NODE]
set -u
bin=$1
repo=$2
node=${3:-node}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
cases=$repo/tests/fixtures/plan

# no change: the import of a tree, planned against it
"$bin" --root "$live/debian/hosting" import >"$tmp/imported.yaml" 2>/dev/null
expect "import then plan: No changes." 0 '^No changes\. The live server matches the desired state\.$' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$tmp/imported.yaml"
expect "--detailed-exitcode without changes: 0" 0 '^No changes\.' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$tmp/imported.yaml" --detailed-exitcode
expect "-q without changes prints nothing" 0 '' '' -- \
	"$bin" -q --root "$live/debian/hosting" plan -f "$tmp/imported.yaml"

# changes
expect "changes: the plan and its summary" 0 '^Plan: 1 to add, 6 to change, 5 to destroy\.$' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired"
expect "--detailed-exitcode with changes: 2" 2 '^  - mailbox archive@example\.com$' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired" --detailed-exitcode
expect "a deleted mailbox says where its mail goes" 0 \
	'^  - archive@example\.com home /var/www/alice/data/email/example\.com/archive -> /var/lib/mailrecon/archive/archive@example\.com/[0-9]{8}T[0-9]{6}Z \(archived; removed only with --purge\)$' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired"
expect "a password change reads (changed)" 0 '^      password: \(set\) -> \(changed\)$' '' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired"
"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired" >"$tmp/text" 2>&1
"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired" --json >"$tmp/json" 2>&1
# plan --out keeps its pin key in the state directory: a copy of the fixture, not the fixture
tree debian/hosting "$tmp/pinroot"
"$bin" --root "$tmp/pinroot" plan -f "$cases/changes/desired" --out "$tmp/plan.out" >/dev/null 2>&1
for secret in e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6 daAuycRAjlwaanwmV2h2T0vyO \
	ae16435de5c66bd79e7a1d616cda8454de4f30e0b3ef4c687d8aa62236539367 'correct horse' 'BEGIN PRIVATE KEY'; do
	expect "no secret in text, JSON or plan file (${secret:0:8}...)" 1 '' '' -- \
		grep -qF -- "$secret" "$tmp/text" "$tmp/json" "$tmp/plan.out"
done
expect "--json is one JSON document valid against schema/plan.schema.json" 0 '^ok ' '' -- \
	"$node" "$repo/tests/schema/validate.mjs" "$repo" plan.schema.json "$tmp/json"
expect "--json: a list attribute's items as arrays beside the text" 0 '' '' -- "$node" -e '
	const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const attr = (id, n) => d.changes.find((c) => c.id === id).attributes.find((a) => a.name === n);
	const eq = (a, b) => JSON.stringify(a) === JSON.stringify(b);
	const ok = eq(attr("info@example.com", "aliases").added, ["support"]) &&
		eq(attr("info@example.com", "aliases").removed, ["contact"]) &&
		eq(attr("orders@shop.example.com", "copy_to").removed, ["info@example.com", "archive@example.com"]) &&
		eq(attr("orders@shop.example.com", "copy_to").added, []);
	process.exit(ok ? 0 : 1);' "$tmp/json"
expect "--json: a size as an integer of bytes beside its text" 0 '' '' -- "$node" -e '
	const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
	const a = d.changes.find((c) => c.id === "hr@example.com").attributes.find((x) => x.name === "max_size");
	process.exit(a.new === "1G" && a.new_bytes === 1073741824 && a.old_bytes === null ? 0 : 1);' "$tmp/json"
expect "--out writes a plan file valid against schema/planfile.schema.json" 0 '^ok ' '' -- \
	"$node" "$repo/tests/schema/validate.mjs" "$repo" planfile.schema.json "$tmp/plan.out"
expect "the plan file fingerprints the live files" 0 '"path":"/etc/dovecot/dovecot.passwd","exists":true,"sha256":"[0-9a-f]{64}"' '' -- \
	grep -E '"path":"/etc/dovecot/dovecot.passwd"' "$tmp/plan.out"
expect "the plan file fingerprints the desired sources" 0 'plan/changes/desired/state.yaml","exists":true' '' -- \
	grep -E 'desired/state.yaml' "$tmp/plan.out"
expect "--color always colours, the default does not on a pipe" 0 $'\033\\[' '' -- \
	"$bin" --color always --root "$live/debian/hosting" plan -f "$cases/changes/desired"
expect "no colour on a pipe" 1 '' '' -- grep -q $'\033' "$tmp/text"

# findings are shown above the plan
expect "findings above the plan" 0 '^Findings in the live files:$' '' -- \
	"$bin" --root "$live/debian/panel" plan -f "$cases/panel-normalize/desired"

# errors and refusals
expect "scope violation: exit 3" 3 '' "outside the scope of 'carol'" -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/scope-refused/desired" --scope carol
expect "unknown scope user: exit 1" 1 '' "no such user" -- \
	"$bin" --root "$live/debian/hosting" plan -f "$cases/changes/desired" --scope nobody
expect "bad desired state: exit 1, no plan" 1 '' 'error: ' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$repo/tests/fixtures/invalid/redirect-loop.yaml"
printf 'version: 1\n' >"$tmp/empty.yaml"
expect "an empty desired state is an error, never a plan to delete everything" 1 '' 'empty state is never applied' -- \
	"$bin" --root "$live/debian/hosting" plan -f "$tmp/empty.yaml"
expect "unknown option: usage" 64 '' 'unknown option' -- "$bin" plan --bogus
tree debian/hosting
rm "$tmp/root/etc/passwd"
printf 'root:x:0:0::/root:/bin/sh\n' >"$tmp/root/etc/passwd"
expect "an existing account that is missing: exit 1" 1 '' "'account: existing' but /etc/passwd has no account 'alice'" -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
# mail owners are regular accounts: uid at least UID_MIN of ROOT/etc/login.defs (default 1000)
tree debian/hosting
sed -i 's/^alice:x:1001:1001:/alice:x:0:0:/' "$tmp/root/etc/passwd"
expect "a domain owned by a uid-0 account: exit 1 at the owner's place" 1 '' \
	"imported.yaml:24:12: error: owner 'alice' of domain 'example.com' has uid 0 in /etc/passwd, below UID_MIN 1000 \(the default, /etc/login.defs does not set it\)" -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
tree debian/hosting
printf '# regular accounts from 2000 on\nUID_MIN   2000\n' >"$tmp/root/etc/login.defs"
expect "UID_MIN is read from ROOT/etc/login.defs" 1 '' \
	"imported.yaml:24:12: error: owner 'alice' of domain 'example.com' has uid 1001 in /etc/passwd, below UID_MIN 2000 \(/etc/login.defs\)" -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
printf 'UID_MIN 1001\n' >"$tmp/root/etc/login.defs"
expect "an owner at UID_MIN is a regular account" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
tree debian/hosting
printf 'x\0y@example.com:owner=alice\n' >>"$tmp/root/etc/exim4/passwd"
expect "a file that must change but has unreadable lines: exit 1" 1 'BLOCKED' 'has lines mailrecon cannot read' -- \
	"$bin" --root "$tmp/root" plan -f "$cases/changes/desired"
tree debian/hosting
ln -sf /etc/hostname "$tmp/root/etc/exim4/domainips"
expect "a symlinked live file: exit 1" 1 '' 'is a symbolic link; refused' -- \
	"$bin" --root "$tmp/root" plan -f "$cases/changes/desired"

# a clear password: verified against the live hash, never a change when it is the same
tree debian/hosting
mkdir -p "$tmp/d/secrets"
sed 's|^      info:$|      info:\n        password: {file: secrets/info.password}|' "$tmp/imported.yaml" |
	awk '/^      info:$/ { print; getline; print; getline; next } { print }' >"$tmp/d/state.yaml"
printf 'test\n' >"$tmp/d/secrets/info.password"
expect "the right clear password: no change" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$tmp/d"
printf 'Test\n' >"$tmp/d/secrets/info.password"
expect "another clear password: (changed)" 0 '^      password: \(set\) -> \(changed\)$' '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/d"
sed 's|{file: secrets/info.password}|{env: MR_TEST_PW}|' "$tmp/d/state.yaml" >"$tmp/env.yaml"
expect "a clear password from the environment" 0 '^No changes\.' '' -- \
	env MR_TEST_PW=test "$bin" --root "$tmp/root" plan -f "$tmp/env.yaml"

# a value read from a live file reaches the terminal escaped (here a C1 control, which the
# codecs read as text)
tree debian/hosting
sed -i "s|^\(alice@example.com:.*\)bytes=10G$|\1bytes=$(printf '\302\233')2J|" "$tmp/root/etc/dovecot/dovecot.passwd"
expect "a control character from a live file is printed as \\xNN" 0 \
	"^  /etc/dovecot/dovecot.passwd:2:1: warning: mailbox 'alice@example.com': quota rule '\\*:bytes=\\\\xc2\\\\x9b2J' is not" '' -- \
	"$bin" --root "$tmp/root" plan -f "$tmp/imported.yaml"
cp "$tmp/out" "$tmp/esc.out"
expect "... and no raw control byte in the plan" 1 '' '' -- env LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$tmp/esc.out"

# plan never writes: the tree is byte-identical afterwards
tree debian/hosting
(cd "$tmp/root" && find . -exec stat -c '%n %s %a %Y' {} + | sort; find . -type f -exec sha256sum {} + | sort) >"$tmp/before"
"$bin" --root "$tmp/root" plan -f "$cases/changes/desired" >/dev/null 2>&1
(cd "$tmp/root" && find . -exec stat -c '%n %s %a %Y' {} + | sort; find . -type f -exec sha256sum {} + | sort) >"$tmp/after"
expect "plan changes nothing in the tree" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
