#!/usr/bin/env bash
# Issue 14, the small things an operator meets: NO_COLOR; -q prints errors and the summary
# line only; --allow-delete N with a space (apply, rollback, plan); the exit-4 message names
# the lock holder's pid and command; drift and show speak of what would be or was done, not
# of what "mailrecon will make".
# Usage: operator.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
changes=$repo/tests/fixtures/plan/changes/desired
hosting=$live/debian/hosting
esc=$(printf '\033')
command -v script >/dev/null || { echo "FAIL script(1) (util-linux) is missing"; exit 1; }
command -v flock >/dev/null || { echo "FAIL flock(1) (util-linux) is missing"; exit 1; }

# on_tty COMMAND...: COMMAND with stdout on a pseudo-terminal (stdin not one: no question)
on_tty() { script -qec "$(printf '%q ' "$@") </dev/null" /dev/null | tr -d '\r'; return "${PIPESTATUS[0]}"; }

# --- NO_COLOR ---
expect "on a terminal: colour by default" 0 "${esc}\\[" '' -- on_tty "$bin" --root "$hosting" plan -f "$changes"
expect "NO_COLOR=1 on a terminal: no escape sequence" 1 '' '' -- \
	sh -c "$(printf '%q ' env NO_COLOR=1 script -qec "'$bin' --root '$hosting' plan -f '$changes'" /dev/null) | grep -q '$esc'"
expect "NO_COLOR= (empty) is not set: colour" 0 "${esc}\\[" '' -- \
	env NO_COLOR= script -qec "'$bin' --root '$hosting' plan -f '$changes'" /dev/null
expect "NO_COLOR=1 --color always: colour (the option wins)" 0 "${esc}\\[" '' -- \
	env NO_COLOR=1 "$bin" --color always --root "$hosting" plan -f "$changes"
expect "no terminal: no colour" 1 '' '' -- sh -c "'$bin' --root '$hosting' plan -f '$changes' | grep -q '$esc'"

# --- -q: errors and the summary line only ---
expect "plan -q: one line" 0 '' '' -- \
	sh -c "test \"\$('$bin' -q --root '$hosting' plan -f '$changes' --allow-delete=4)\" = 'Plan: 1 to add, 6 to change, 5 to destroy.'"
tree debian/hosting
"$bin" --root "$tmp/root" apply -f "$changes" --allow-delete=4 >"$tmp/full.out"
tree debian/hosting
expect "apply -q: one line, the summary" 0 '' '' -- \
	sh -c "test \"\$('$bin' -q --root '$tmp/root' apply -f '$changes' --allow-delete=4)\" = 'Apply complete: 1 added, 6 changed, 5 destroyed; 11 files written.'"
expect "apply -q with nothing to do: nothing" 0 '' '' -- "$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete=4
expect "apply -q refused: the error only" 3 '' 'refused: the plan deletes' -- \
	"$bin" -q --root "$hosting" --state-dir /nonexistent-state apply -f "$changes"
sed -i 's/^info@example\.com:[0-9]*$/info@example.com:999/' "$tmp/root/etc/exim4/ratelimits" # a hand edit
expect "the hand edit is there" 0 '' '' -- grep -q '^info@example.com:999$' "$tmp/root/etc/exim4/ratelimits"
"$bin" -q --root "$tmp/root" drift -f "$changes" >"$tmp/drift.q"
expect "drift -q: exit 2" 0 '' '' -- test $? -eq 2
expect "drift -q: two lines, the plan's summary and the files changed" 0 '' '' -- \
	sh -c "test \"\$(sed 's/revision [0-9a-f]*/revision R/' '$tmp/drift.q')\" = 'Plan: 0 to add, 1 to change, 0 to destroy.
1 file changed outside mailrecon since revision R.'"

# --- past tense: drift, show ---
expect "drift: what an apply would make, not what mailrecon will make" 2 '^an apply would make these changes:$' '' -- \
	"$bin" --root "$tmp/root" drift -f "$changes"
expect "... (no 'will make')" 1 '' '' -- sh -c "'$bin' --root '$tmp/root' drift -f '$changes' | grep -q 'will make'"
expect "show of a revision: mailrecon made these changes" 0 '^mailrecon made these changes:$' '' -- \
	"$bin" --root "$tmp/root" show HEAD
expect "... (no 'will make')" 1 '' '' -- sh -c "'$bin' --root '$tmp/root' show HEAD | grep -q 'will make'"
# a revision written before: its body says "will make"; show says "made"
gd=$tmp/root/var/lib/mailrecon/repo
old=$(printf 'Plan: 0 to add, 1 to change, 0 to destroy.\n\nmailrecon will make these changes:\n\n  ~ user carol\n' |
	git --git-dir="$gd" -c user.name=t -c user.email=t@example.invalid commit-tree "$(git --git-dir="$gd" rev-parse 'HEAD^{tree}')" -p HEAD)
expect "show of an older revision: its 'will make' line reads 'made'" 0 '^mailrecon made these changes:$' '' -- \
	"$bin" --root "$tmp/root" show "$old"
expect "... and the rest of it is kept" 0 '^  ~ user carol$' '' -- "$bin" --root "$tmp/root" show "$old"
expect "... (no 'will make')" 1 '' '' -- sh -c "'$bin' --root '$tmp/root' show '$old' | grep -q 'will make'"
expect "apply still says what it will make" 0 '^mailrecon will make these changes:$' '' -- cat "$tmp/full.out"

# --- --allow-delete N (a space) ---
tree debian/hosting
expect "apply --allow-delete 3 (a space): taken as 3, refused" 3 '' '--allow-delete=3 allows 3' -- \
	"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete 3
expect "apply --allow-delete 4 -f PATH (before -f)" 0 '^Apply complete' '' -- \
	"$bin" -q --root "$tmp/root" apply --allow-delete 4 -f "$changes"
base=$("$bin" --root "$tmp/root" log | tail -n 1 | cut -c1-12)
expect "rollback --allow-delete 0 REV: the number, then the revision" 3 '' '--allow-delete=0 allows 0' -- \
	"$bin" -q --root "$tmp/root" rollback --allow-delete 0 "$base"
expect "rollback REV --allow-delete 1" 0 '^Rollback complete: the state of revision' '' -- \
	"$bin" -q --root "$tmp/root" rollback "$base" --allow-delete 1
expect "--allow-delete with a word after it: the word is an operand, not a value" 64 '' "unexpected argument 'x'" -- \
	"$bin" --root "$tmp/root" apply --allow-delete x

# --- the lock holder in the exit-4 message ---
tree debian/hosting
"$bin" -q --root "$tmp/root" apply -f "$changes" --allow-delete=4 >/dev/null
flock -x "$tmp/root/var/lib/mailrecon/lock" sleep 30 &
holder=$!
for _ in $(seq 50); do flock -n "$tmp/root/var/lib/mailrecon/lock" true || break; sleep 0.1; done
expect "apply: exit 4 names the holder's pid and command" 4 '' \
	"^mailrecon: pid $holder \\(flock -x $tmp/root/var/lib/mailrecon/lock sleep 30\\) holds the lock '.*/var/lib/mailrecon/lock'; gave up after 0\\.[0-9] s \\(--lock-timeout\\)$" -- \
	"$bin" --root "$tmp/root" --lock-timeout 0.3 apply -f "$changes" --allow-delete=4
expect "plan: the same" 4 '' "^mailrecon: pid $holder \\(flock " -- \
	"$bin" --root "$tmp/root" --lock-timeout 0.3 plan -f "$changes"
# flock's child too (the sleep): it has the test's stdout open, and ctest waited the 30 s out
kill $(cat "/proc/$holder/task/$holder/children" 2>/dev/null) "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
