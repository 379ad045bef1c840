#!/usr/bin/env bash
# The JSON outputs a program reads, each from the real binary and checked with ajv against its
# schema (tests/schema/validate.mjs): validate --json (valid and not), log --json, drift --json
# (with and without drift), dns --json; and plan files read back with a JSON parser, so a plan
# file re-serialised by another JSON tool is applied when its content is the same.
# Usage: json.sh MAILRECON REPO_ROOT NODE
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
B=$cases/changes/desired
schema() { "$node" "$repo/tests/schema/validate.mjs" "$repo" "$@"; }
# js FILE EXPR: exit 0 when the JS expression of d (FILE parsed as JSON) is true
js() { "$node" -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.exit(eval(process.argv[2]) ? 0 : 1)' "$1" "$2"; }

# --- validate --json ---
"$bin" validate --json -f "$repo/examples/hosting" >"$tmp/v-ok.json" 2>"$tmp/v-ok.err"
expect "validate --json of a valid state: nothing on stderr" 0 '' '' -- cat "$tmp/v-ok.err"
expect "... valid against schema/validate.schema.json" 0 '^ok ' '' -- schema validate.schema.json "$tmp/v-ok.json"
expect "... valid, with the counts" 0 '' '' -- \
	js "$tmp/v-ok.json" 'd.valid === true && d.errors === 0 && d.counts.users === 3 && d.counts.domains === 4 && d.counts.mailboxes === 10'
expect "validate --json of an invalid state: exit 1" 1 '^\{"valid":false' '' -- \
	"$bin" validate --json -f "$repo/tests/fixtures/invalid/alias-equals-mailbox.yaml"
cp "$tmp/out" "$tmp/v-bad.json"
expect "... valid against the schema" 0 '^ok ' '' -- schema validate.schema.json "$tmp/v-bad.json"
# the text output's first error, FILE:LINE:COL: error: MESSAGE, is the JSON's first diagnostic
"$bin" validate -f "$repo/tests/fixtures/invalid/alias-equals-mailbox.yaml" 2>&1 >/dev/null | head -1 >"$tmp/v-bad.txt"
expect "... each error with file, line, column and message, as the text says it" 0 '' '' -- \
	js "$tmp/v-bad.json" "d.errors >= 1 && (x => \`\${x.file}:\${x.line}:\${x.column}: \${x.severity}: \${x.message}\`)(d.diagnostics[0]) === require('fs').readFileSync('$tmp/v-bad.txt', 'utf8').trim()"
expect "validate --json of a missing file: an error with no line" 1 '"line":null' '' -- \
	"$bin" validate --json -f "$tmp/nothing-here.yaml"
cp "$tmp/out" "$tmp/v-none.json"
expect "... valid against the schema" 0 '^ok ' '' -- schema validate.schema.json "$tmp/v-none.json"

# --- log --json, drift --json, dns --json after applies ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete >/dev/null 2>&1
"$bin" --root "$tmp/root" log --json >"$tmp/log.json"
expect "log --json: valid against schema/log.schema.json" 0 '^ok ' '' -- schema log.schema.json "$tmp/log.json"
expect "... two revisions, the newest naming its objects" 0 '' '' -- \
	js "$tmp/log.json" 'd.length === 2 && d[0].subject.startsWith("~user carol, ")'
"$bin" --root "$tmp/root" log --json --object nobody@example.com >"$tmp/log0.json"
expect "log --json with no match: [] and valid" 0 '^ok ' '' -- schema log.schema.json "$tmp/log0.json"
expect "drift --json without drift: exit 0" 0 '^\{"drift":false' '' -- "$bin" --root "$tmp/root" drift -f "$B" --json
cp "$tmp/out" "$tmp/drift0.json"
expect "... valid against schema/drift.schema.json" 0 '^ok ' '' -- schema drift.schema.json "$tmp/drift0.json"
echo 'intruder@example.com:owner=alice' >>"$tmp/root/etc/exim4/passwd"
expect "drift --json with drift: exit 2" 2 '^\{"drift":true' '' -- "$bin" --root "$tmp/root" drift -f "$B" --json
cp "$tmp/out" "$tmp/drift1.json"
expect "... valid against the schema" 0 '^ok ' '' -- schema drift.schema.json "$tmp/drift1.json"
expect "... the file and the plan that would undo it" 0 '' '' -- \
	js "$tmp/drift1.json" 'd.files_changed_since_revision.includes("/etc/exim4/passwd") && d.plan.changes.some(c => c.id === "intruder@example.com" && c.action === "delete")'
"$bin" --root "$tmp/root" dns --json >"$tmp/dns.json"
expect "dns --json: valid against schema/dns.schema.json" 0 '^ok ' '' -- schema dns.schema.json "$tmp/dns.json"
expect "... a DKIM record" 0 '' '' -- js "$tmp/dns.json" 'd.some(r => r.kind === "dkim" && r.domain === "example.org")'
printf '[{"domain":"example.com","kind":"dmarc","name":"_dmarc.example.com","type":"TXT","value":"p=none"}]\n' >"$tmp/dns-bad.json"
expect "the dns schema rejects a DMARC value that is not one" 1 'FAIL' '' -- schema dns.schema.json "$tmp/dns-bad.json"
printf '{"valid":true,"errors":1,"warnings":0,"counts":null,"diagnostics":[]}\n' >"$tmp/v-lie.json"
expect "the validate schema rejects valid:true with errors" 1 'FAIL' '' -- schema validate.schema.json "$tmp/v-lie.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
