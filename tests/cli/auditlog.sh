#!/usr/bin/env bash
# The audit log's formats (docs/apply.md): one line per change as text, or with
# --log-format json one JSON object per line (apply and rollback), the revision filled in,
# a record finished by a later run in the format of the run that made it, and a bad value.
# Usage: auditlog.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
B=$repo/tests/fixtures/plan/changes/desired
log=$tmp/root/var/log/mailrecon.log

# jsonl FILE FIRST: every line from FIRST on is a JSON object with exactly the six fields,
# rev 12 hex digits; prints "N REV" (the lines and their one revision)
jsonl() {
	python3 - "$1" "$2" <<'PY'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()[int(sys.argv[2]) - 1:]
revs = set()
for l in lines:
    o = json.loads(l)
    assert list(o) == ["time", "rev", "actor", "object", "id", "action"], o
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["time"]), o
    assert re.fullmatch(r"[0-9a-f]{12}", o["rev"]), o
    assert o["action"] in ("create", "update", "delete", "rollback"), o
    revs.add(o["rev"])
assert len(revs) == 1, revs
print(len(lines), revs.pop())
PY
}

tree debian/hosting
expect "apply --log-format json" 0 'Plan: 1 to add, 6 to change, 5 to destroy\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --log-format json --actor=ci-bot
rev=$("$bin" --root "$tmp/root" log -n 1 | cut -c1-12)
expect "12 JSON lines, one per change, with the revision of the apply" 0 "^12 $rev\$" '' -- jsonl "$log" 1
expect "the actor and a change as fields" 0 '' '' -- \
	grep -q '"actor":"ci-bot","object":"mailbox","id":"[a-z0-9.-]*@example\.[a-z]*","action":"create"}$' "$log"

# a rollback in JSON: its changes and one "revision REV rollback" line
first=$("$bin" --root "$tmp/root" log | tail -n 1 | cut -c1-12)
n=$(wc -l <"$log")
expect "rollback --log-format json" 0 'files? to restore' '' -- \
	"$bin" --root "$tmp/root" rollback "$first" --allow-delete --log-format json
expect "the rollback's lines are JSON" 0 ' [0-9a-f]{12}$' '' -- jsonl "$log" $((n + 1))
expect "... ending with the revision rolled back to" 0 '' '' -- \
	sh -c "tail -n 1 '$log' | grep -q '\"object\":\"revision\",\"id\":\"$first\",\"action\":\"rollback\"}\$'"

# text stays the default
tree debian/hosting
expect "apply (text)" 0 'Plan:' '' -- "$bin" --root "$tmp/root" apply -f "$B" --allow-delete
expect "text lines: TIME rev=REV actor=ACTOR OBJECT ID ACTION" 0 '' '' -- \
	sh -c "test \$(grep -cE '^[0-9T:Z-]+ rev=[0-9a-f]{12} actor=[^ ]+ [a-z]+ [^ ]+ (create|update|delete)\$' '$log') -eq 12"

# a record the run could not finish (the commit to the state repository fails) is finished
# by the next run, in the format of the run that staged it
tree debian/hosting
expect "apply --log-format json whose commit fails (exit 1)" 1 '^Apply complete: ' 'revision is not recorded' -- \
	env MAILRECON_FAULT=commit "$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete --log-format json
expect "... no audit line yet" 1 '' '' -- test -s "$log"
expect "the next run (text) finishes the record" 0 '' 'writing the audit lines|recorded the revision' -- \
	"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete
expect "... with the JSON lines the first run staged" 0 '^12 [0-9a-f]{12}$' '' -- jsonl "$log" 1

expect "--log-format xml is a usage error" 64 '' 'log-format must be text or json' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --log-format xml

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
