#!/usr/bin/env bash
# plan marks a plan that apply would refuse (issue 14): the note line "apply will refuse: ..."
# and "refusals" in plan --json (checked against schema/plan.schema.json with ajv); plan takes
# --allow-delete[=N] / --allow-delete N as apply does, and what plan says matches what apply
# then does.
# Usage: refusals.sh MAILRECON REPO_ROOT NODE
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
changes=$repo/tests/fixtures/plan/changes/desired
hosting=$live/debian/hosting
note='^apply will refuse: 4 deletions \(1 domain, 3 mailboxes\), --allow-delete=0$'

expect "plan: the note after the summary (default --allow-delete=0)" 0 "$note" '' -- \
	"$bin" --root "$hosting" plan -f "$changes"
expect "... after the summary line" 0 '' '' -- \
	sh -c "'$bin' --root '$hosting' plan -f '$changes' | tail -n 3 | head -n 1 | grep -q '^Plan: 1 to add, 6 to change, 5 to destroy\.$'"
expect "--detailed-exitcode: still exit 2 (the plan is made; apply refuses it)" 2 "$note" '' -- \
	"$bin" --root "$hosting" plan -f "$changes" --detailed-exitcode
expect "--allow-delete=3: still refused" 0 '^apply will refuse: 4 deletions .*--allow-delete=3$' '' -- \
	"$bin" --root "$hosting" plan -f "$changes" --allow-delete=3
expect "--allow-delete 4 (a space): no note" 1 '' '' -- \
	sh -c "'$bin' --root '$hosting' plan -f '$changes' --allow-delete 4 | grep -q 'apply will refuse'"
expect "--allow-delete (any number): no note" 1 '' '' -- \
	sh -c "'$bin' --root '$hosting' plan -f '$changes' --allow-delete | grep -q 'apply will refuse'"
expect "--allow-delete=x: exit 64" 64 '' 'plan: --allow-delete=x: expected a number' -- \
	"$bin" --root "$hosting" plan -f "$changes" --allow-delete=x
expect "-q: the summary line and the note only" 0 '' '' -- \
	sh -c "test \"\$('$bin' -q --root '$hosting' plan -f '$changes')\" = 'Plan: 1 to add, 6 to change, 5 to destroy.
apply will refuse: 4 deletions (1 domain, 3 mailboxes), --allow-delete=0'"

# JSON
"$bin" --root "$hosting" plan -f "$changes" --json --allow-delete 1 >"$tmp/r.json"
expect "--json: refusals with the rule, the message and the counts" 0 '' '' -- \
	"$node" -e '
		const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const r = p.refusals;
		if (!(r.length === 1 && r[0].rule === "allow-delete" && r[0].deletions === 4 && r[0].allowed === 1 &&
		      r[0].message === "4 deletions (1 domain, 3 mailboxes), --allow-delete=1")) process.exit(1);' "$tmp/r.json"
expect "--json with refusals is valid against schema/plan.schema.json" 0 '^ok ' '' -- \
	"$node" "$repo/tests/schema/validate.mjs" "$repo" plan.schema.json "$tmp/r.json"
"$bin" --root "$hosting" plan -f "$changes" --json --allow-delete=4 >"$tmp/none.json"
expect "--json --allow-delete=4: refusals is []" 0 '' '' -- \
	"$node" -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		process.exit(Array.isArray(p.refusals) && p.refusals.length === 0 ? 0 : 1)' "$tmp/none.json"
expect "... and valid against the schema" 0 '^ok ' '' -- "$node" "$repo/tests/schema/validate.mjs" "$repo" plan.schema.json "$tmp/none.json"
# (on a copy of the fixture: plan --out keeps its pin key in the root's state directory)
cp -a "$hosting" "$tmp/pinroot"
"$bin" --root "$tmp/pinroot" plan -f "$changes" --out "$tmp/plan.out" --allow-delete=1 >/dev/null
expect "a plan file has no refusals (apply decides with its own --allow-delete)" 1 '' '' -- grep -q '"refusals"' "$tmp/plan.out"

# a BLOCKED file is a refusal too
tree debian/hosting
printf 'x\0y@example.com:owner=alice\n' >>"$tmp/root/etc/exim4/passwd"
expect "a BLOCKED file: the note names it" 1 '^apply will refuse: /etc/exim4/passwd is BLOCKED: it has lines mailrecon cannot read$' \
	'has lines mailrecon cannot read' -- "$bin" --root "$tmp/root" plan -f "$changes" --allow-delete=4
"$bin" --root "$tmp/root" plan -f "$changes" --allow-delete=4 --json >"$tmp/b.json" 2>/dev/null
expect "... and --json has {rule: blocked, file}" 0 '' '' -- \
	"$node" -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		process.exit(p.refusals.length === 1 && p.refusals[0].rule === "blocked" && p.refusals[0].file === "/etc/exim4/passwd" ? 0 : 1)' "$tmp/b.json"
expect "... valid against the schema" 0 '^ok ' '' -- "$node" "$repo/tests/schema/validate.mjs" "$repo" plan.schema.json "$tmp/b.json"

# what plan says is what apply does
tree debian/hosting
expect "plan --allow-delete=3 says refuse; apply --allow-delete=3 refuses (exit 3)" 3 '^Plan: ' '--allow-delete=3 allows 3' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=3
expect "plan --allow-delete=4 says nothing; apply --allow-delete 4 applies" 0 'Apply complete' '' -- \
	"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete 4
expect "no changes: no note" 0 '^No changes\.' '' -- "$bin" --root "$tmp/root" plan -f "$changes"
expect "... (none)" 1 '' '' -- sh -c "'$bin' --root '$tmp/root' plan -f '$changes' | grep -q 'apply will refuse'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
