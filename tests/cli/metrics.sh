#!/usr/bin/env bash
# --metrics-file of apply and drift (docs/apply.md, "Metrics"): the Prometheus text format
# checked by promtool (Debian: prometheus), the values against what the runs did, the counter
# carried from run to run, a failed run, a file that cannot be written, and the atomic
# replace.  Usage: metrics.sh MAILRECON REPO_ROOT
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

if ! command -v promtool >/dev/null 2>&1; then
	echo "FAIL: promtool is not installed (Debian: apt-get install prometheus; bash scripts/quickstart test installs it)" >&2
	exit 1
fi

# value FILE NAME LABELS: the sample NAME{command=...,host=...LABELS} of FILE ('' if none)
host=$(hostname | cut -d. -f1)
value() {
	awk -v want="$2{$3" '{ i = index($0, "} "); if (i && substr($0, 1, i - 1) == want) print substr($0, i + 2) }' "$1"
}
sum_applied() { # FILE: the sum of mailrecon_applied_changes_total
	awk '/^mailrecon_applied_changes_total\{/ { s += $NF } END { print s + 0 }' "$1"
}
check() { # NAME FILE SERIES LABELS WANT
	local got
	got=$(value "$2" "$3" "$4")
	expect "$1: $3 = $5" 0 '' '' -- test "$got" = "$5"
	[ "$got" = "$5" ] || echo "     got '$got'"
}
L_apply="command=\"apply\",host=\"$host\""
L_drift="command=\"drift\",host=\"$host\""
M=$tmp/prom/mailrecon.prom
D=$tmp/prom/mailrecon-drift.prom
mkdir -p "$tmp/prom"

tree debian/hosting
before=$(date +%s)
expect "apply B with --metrics-file" 0 'Plan: 1 to add, 6 to change, 5 to destroy\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file "$M"
expect "promtool check metrics: the apply's file" 0 '' '' -- sh -c "promtool check metrics <'$M'"
cp "$M" "$tmp/first.prom"
check "after apply" "$M" mailrecon_last_run_success "$L_apply" 1
check "after apply" "$M" mailrecon_last_run_exit_code "$L_apply" 0
check "after apply" "$M" mailrecon_pending_changes "$L_apply" 0
check "after apply" "$M" mailrecon_findings "$L_apply" 0
check "after apply" "$M" mailrecon_applied_changes_total "$L_apply,kind=\"mailbox\",action=\"create\"" 1
expect "the applied changes add up to the plan's 12" 0 '' '' -- test "$(sum_applied "$M")" -eq 12
ts=$(value "$M" mailrecon_last_run_timestamp_seconds "$L_apply")
expect "the timestamp is this run's" 0 '' '' -- test "$ts" -ge "$before" -a "$ts" -le "$(date +%s)"
expect "the file is 0644 (node_exporter reads it)" 0 '^644$' '' -- stat -c %a "$M"
expect "no temporary file is left beside it" 0 '^mailrecon.prom$' '' -- ls -A "$tmp/prom"

expect "a second apply: no changes" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file "$M"
expect "... the counter is carried over, not reset" 0 '' '' -- test "$(sum_applied "$M")" -eq 12
check "... second apply" "$M" mailrecon_applied_changes_total "$L_apply,kind=\"mailbox\",action=\"create\"" 1

# drift: a hand edit, seen by drift, then corrected by apply
mdel=$(value "$M" mailrecon_applied_changes_total "$L_apply,kind=\"mailbox\",action=\"delete\"")
echo 'intruder@example.com:owner=alice' >>"$tmp/root/etc/exim4/passwd"
expect "drift with --metrics-file: exit 2" 2 'Files changed outside mailrecon' '' -- \
	"$bin" --root "$tmp/root" drift -f "$B" --metrics-file "$D"
expect "promtool check metrics: the drift file" 0 '' '' -- sh -c "promtool check metrics <'$D'"
check "drift" "$D" mailrecon_last_run_success "$L_drift" 1
check "drift" "$D" mailrecon_last_run_exit_code "$L_drift" 2
check "drift" "$D" mailrecon_pending_changes "$L_drift" 1
check "drift" "$D" mailrecon_drift_objects "$L_drift" 1
expect "drift writes no applied-changes counter" 1 '' '' -- grep -q '^mailrecon_applied_changes_total' "$D"
expect "apply corrects the drift" 0 'recorded drift as revision' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file "$M"
check "apply after a hand edit" "$M" mailrecon_drift_objects "$L_apply" 1
check "apply after a hand edit (the intruder deleted)" "$M" mailrecon_applied_changes_total \
	"$L_apply,kind=\"mailbox\",action=\"delete\"" $((mdel + 1))
expect "... the counter grew by the one change" 0 '' '' -- test "$(sum_applied "$M")" -eq 13
expect "drift after the correction: exit 0" 0 'No file changed since revision' '' -- \
	"$bin" --root "$tmp/root" drift -f "$B" --metrics-file "$D"
check "drift, nothing differs" "$D" mailrecon_pending_changes "$L_drift" 0
check "drift, nothing differs" "$D" mailrecon_drift_objects "$L_drift" 0

# a refused apply: a deletion without --allow-delete
tree debian/hosting
expect "a refused apply (exit 3)" 3 '' 'refused' -- "$bin" -q --root "$tmp/root" apply -f "$B" --metrics-file "$M"
expect "promtool check metrics: a refused run" 0 '' '' -- sh -c "promtool check metrics <'$M'"
check "refused" "$M" mailrecon_last_run_success "$L_apply" 0
check "refused" "$M" mailrecon_last_run_exit_code "$L_apply" 3
check "refused" "$M" mailrecon_pending_changes "$L_apply" 12

# a desired state that does not load: no plan, so no pending/drift/findings gauges
printf 'version: 1\nbogus: true\n' >"$tmp/bad.yaml"
expect "an apply that fails to load (exit 1)" 1 '' 'bogus' -- "$bin" --root "$tmp/root" apply -f "$tmp/bad.yaml" --metrics-file "$M"
expect "promtool check metrics: a failed run" 0 '' '' -- sh -c "promtool check metrics <'$M'"
check "failed" "$M" mailrecon_last_run_success "$L_apply" 0
check "failed" "$M" mailrecon_last_run_exit_code "$L_apply" 1
expect "... no pending_changes without a plan" 1 '' '' -- grep -q '^mailrecon_pending_changes' "$M"
expect "... the counter is still carried" 0 '' '' -- test "$(sum_applied "$M")" -eq 13
expect "drift that fails to load (exit 1)" 1 '' 'bogus' -- "$bin" --root "$tmp/root" drift -f "$tmp/bad.yaml" --metrics-file "$D"
check "drift failed" "$D" mailrecon_last_run_success "$L_drift" 0

# the file cannot be written: a warning, and the exit status stays the run's
expect "a metrics directory that does not exist: a warning, exit 0" 0 '^Apply complete: ' \
	"^mailrecon: warning: metrics: cannot write '$tmp/nowhere/m.prom'" -- \
	"$bin" -q --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file "$tmp/nowhere/m.prom"
# an empty path writes nothing (the units pass --metrics-file=${MAILRECON_METRICS_FILE})
expect "--metrics-file= (empty) writes nothing" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file=
# the path is the operator's, not below --root
expect "the file is not written below --root" 1 '' '' -- test -e "$tmp/root$M"
# a symbolic link at the name is replaced, never written through
ln -s "$tmp/target" "$tmp/prom/link.prom"
expect "a link at the metrics path" 0 '^No changes\.' '' -- \
	"$bin" --root "$tmp/root" apply -f "$B" --allow-delete --metrics-file "$tmp/prom/link.prom"
expect "... is replaced by the file, its target is not written" 0 '' '' -- \
	sh -c "test -f '$tmp/prom/link.prom' && test ! -L '$tmp/prom/link.prom' && test ! -e '$tmp/target'"
# a label value is escaped
expect "the host label is the short host name" 0 '' '' -- grep -q "host=\"$host\"" "$M"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
