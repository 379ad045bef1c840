#!/usr/bin/env bash
# The question of apply and rollback on a terminal (issue 14), through a pseudo-terminal
# (script -qec): stdin and stdout on a terminal -> the plan, then "Apply these changes?
# (yes/no)"; only "yes" goes on; anything else changes nothing and exits 3; --yes, or
# stdin or stdout not a terminal, does not ask.
# Usage: prompt.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
changes=$repo/tests/fixtures/plan/changes/desired
command -v script >/dev/null || { echo "FAIL script(1) (util-linux) is missing"; exit 1; }

# on_tty INPUT COMMAND...: COMMAND on a pseudo-terminal, INPUT typed into it (the pty's
# output, CRs removed, on stdout; script -e passes the command's exit status)
on_tty() {
	local input=$1
	shift
	local rc
	printf '%b' "$input" | script -qec "$(printf '%q ' "$@") 2>&1" /dev/null >"$tmp/tty.raw"
	rc=$?
	tr -d '\r' <"$tmp/tty.raw" >"$tmp/tty.out"
	cat "$tmp/tty.out"
	return $rc
}
# the live tree (the state directory aside: a run records the live files there first)
files() { (cd "$1" && find etc $(test -d "$1/var" && echo var) -path var/lib/mailrecon -prune -o -type f -print0 | sort -z | xargs -0 sha256sum); }
export NO_COLOR=1 # the patterns below match plain text
mr() { "$bin" --root "$tmp/root" "$@"; }

tree debian/hosting
files "$tmp/root" >"$tmp/before"
for answer in 'no\n' 'y\n' 'YES\n' ' yes\n' '\n' ''; do
	expect "apply on a terminal, answer '${answer%\\n}': cancelled, exit 3" 3 \
		'^Apply these changes\? \(yes/no\) .*apply cancelled; nothing was changed$' '' -- \
		on_tty "$answer" "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4
	files "$tmp/root" >"$tmp/after"
	expect "... the plan was shown above the question" 0 '' '' -- \
		grep -qE '^Plan: 1 to add, 6 to change, 5 to destroy\.$' "$tmp/tty.out"
	expect "... and no live file changed" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
done
expect "-q on a terminal: the plan is still shown with the question" 3 '^Plan: 1 to add' '' -- \
	on_tty 'no\n' "$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete=4
expect "a refused apply asks nothing (deletions over the cap)" 3 '--allow-delete=0 allows 0' '' -- \
	on_tty 'yes\n' "$bin" --root "$tmp/root" apply -f "$changes"
expect "... (no question in its output)" 1 '' '' -- grep -q 'Apply these changes' "$tmp/tty.out"
expect "stdout not a terminal (a pipe): no question" 0 '' '' -- \
	sh -c "! printf 'no\n' | script -qec \"$(printf '%q ' "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4) | cat\" /dev/null | grep -q 'Apply these changes'"
files "$tmp/root" >"$tmp/after"
expect "... and it applied (as in CI)" 1 '' '' -- cmp -s "$tmp/before" "$tmp/after"

tree debian/hosting
expect "stdin not a terminal: no question, applied" 0 'Apply complete: 1 added, 6 changed, 5 destroyed' '' -- \
	sh -c "script -qec \"$(printf '%q ' "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4) </dev/null\" /dev/null | tr -d '\r'"
expect "... and printed no question" 1 '' '' -- grep -q 'Apply these changes' "$tmp/tty.raw"

tree debian/hosting
expect "answer yes: applied, exit 0" 0 '^Apply complete: 1 added, 6 changed, 5 destroyed' '' -- \
	on_tty 'yes\n' "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4
expect "... after the question" 0 '^Apply these changes\? \(yes/no\) ' '' -- cat "$tmp/tty.out"
expect "a second apply on a terminal: No changes., no question" 0 '^No changes\.' '' -- \
	on_tty 'no\n' "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4
expect "... (none in its output)" 1 '' '' -- grep -q 'Apply these changes' "$tmp/tty.out"

tree debian/hosting
expect "--yes on a terminal: applied without a question" 0 '^Apply complete: ' '' -- \
	on_tty '' "$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4 --yes
expect "... (none in its output)" 1 '' '' -- grep -q 'Apply these changes' "$tmp/tty.out"

# rollback: the same question
base=$(mr log | tail -n 1 | cut -c1-12)
expect "the baseline revision is known" 0 '' '' -- test -n "$base"
files "$tmp/root" >"$tmp/before"
expect "rollback on a terminal, answer no: cancelled, exit 3" 3 \
	'^Apply these changes\? \(yes/no\) .*rollback cancelled; nothing was changed$' '' -- \
	on_tty 'no\n' "$bin" --root "$tmp/root" rollback "$base" --allow-delete 1
expect "... after showing what it would restore" 0 "^Rollback to revision $base" '' -- cat "$tmp/tty.out"
files "$tmp/root" >"$tmp/after"
expect "... and no live file changed" 0 '' '' -- cmp -s "$tmp/before" "$tmp/after"
expect "rollback on a terminal, answer yes: rolled back" 0 "^Rollback complete: the state of revision $base" '' -- \
	on_tty 'yes\n' "$bin" --root "$tmp/root" rollback "$base" --allow-delete 1
expect "rollback --yes on a terminal: no question" 0 "No changes: the live files are those of $base" '' -- \
	on_tty '' "$bin" --root "$tmp/root" rollback --yes "$base"
expect "... (none in its output)" 1 '' '' -- grep -q 'Apply these changes' "$tmp/tty.out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
