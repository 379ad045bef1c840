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

# --- plan files are read with a JSON parser: the same content in another form is the same plan ---
tree debian/hosting
"$bin" --root "$tmp/root" plan -f "$B" --out "$tmp/saved.plan" >/dev/null
python3 -m json.tool --sort-keys "$tmp/saved.plan" >"$tmp/tool.plan"
expect "setup: python3 -m json.tool re-serialised it (other spacing, key order)" 1 '' '' -- cmp -s "$tmp/saved.plan" "$tmp/tool.plan"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["live_files"][0]["sha256"] = "0" * 64; json.dump(d, open(sys.argv[2], "w"), indent=1)' \
	"$tmp/saved.plan" "$tmp/changed.plan"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["plan"]["changes"][0]["attributes"][0]["new"] = "7"; json.dump(d, open(sys.argv[2], "w"), ensure_ascii=True)' \
	"$tmp/saved.plan" "$tmp/other-plan.plan"
first_live=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["live_files"][0]["path"])' "$tmp/saved.plan")
expect "a plan file whose content changed (a live file's hash): refused, the file named" 3 'recorded the live files \(baseline\)' \
	"refused: a live file changed since the plan: $first_live; make a new plan" -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/changed.plan" --allow-delete
expect "a plan file whose plan part changed: refused" 3 '' 'refused: the plan would now be different; make a new plan' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/other-plan.plan" --allow-delete
printf '{"format":"mailrecon-plan","format":"mailrecon-plan","format_version":2}\n' >"$tmp/dup.plan"
expect "a duplicate key: not a plan file, exit 1" 1 '' "'$tmp/dup.plan' is not a mailrecon plan file: line 1 column [0-9]+: duplicate object key" -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/dup.plan"
head -c 300 "$tmp/saved.plan" >"$tmp/cut.plan"
expect "a cut plan file: not a plan file, where the JSON ends" 1 '' "is not a mailrecon plan file: line [0-9]+ column [0-9]+: " -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/cut.plan"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["format_version"] = 3; json.dump(d, open(sys.argv[2], "w"))' \
	"$tmp/saved.plan" "$tmp/v3.plan"
expect "another format_version: not read" 1 '' 'is not a mailrecon plan file: its format_version is not 2' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/v3.plan"
expect "nothing was changed by those" 0 '' '' -- diff -r "$live/debian/hosting/etc" "$tmp/root/etc"
expect "the re-serialised plan file is applied: its content is the plan's" 0 'Apply complete: 1 added, 6 changed, 5 destroyed' '' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/tool.plan" --allow-delete
expect "... and then it is stale, like the original" 3 '' 'changed since the plan' -- \
	"$bin" --root "$tmp/root" apply --plan "$tmp/saved.plan" --allow-delete

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
