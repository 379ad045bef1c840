#!/usr/bin/env bash
# A crash at every step of an apply: the next run recovers, the tree is old or new, never a
# mix.  MAILRECON_CRASH_AT=N makes apply _exit(99) at its Nth step (src/util/faults.c); every
# step of the scenario's apply is tried until the apply completes, and for the 'changes'
# scenario every step of the recovery run too (its first four steps, then a real recovery).
# Scenarios: changes (debian/hosting to tests/fixtures/plan/changes), purge (the same with
# --purge), examples (examples/hosting on a new server: homes, DKIM keys, certificates) and
# panel (tests/fixtures/plan/panel-normalize).
# The steps are split into PARTS interleaved parts so that ctest can run them side by side:
# part P tries the steps P, P+PARTS, P+2*PARTS, ... until one of them completes the apply.
# Together the parts try every step; each part checks that its last run completed (exit 0).
# Usage: crash.sh MAILRECON REPO_ROOT SCENARIO [PART/PARTS]
set -u
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
	echo "usage: $0 MAILRECON REPO_ROOT changes|purge|examples|panel [PART/PARTS]" >&2
	exit 64
fi
bin=$1
repo=$2
scenario=$3
part=${4:-1/1}
first=${part%/*}
parts=${part#*/}
case $scenario in changes | purge | examples | panel) ;; *)
	echo "$0: unknown scenario '$scenario'" >&2
	exit 64
	;;
esac
if ! [[ $first =~ ^[1-9][0-9]*$ && $parts =~ ^[1-9][0-9]*$ ]] || [ "$first" -gt "$parts" ]; then
	echo "$0: PART/PARTS must be like 1/2, not '$part'" >&2
	exit 64
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
cases=$repo/tests/fixtures/plan
changes=$cases/changes/desired
max=150 # the last step tried; an apply with more steps than this fails the test

# New RSA keys (two of 2048 bits, two of 1024 in each apply of 'examples') are taken from
# tests/fixtures/keypool instead of being generated (tests/tools/keypool.c says why and how)
# when ctest gives the library and the pool (tests/CMakeLists.txt). A sanitizer's runtime
# must come first among the preloaded libraries. mailrecon's children never see LD_PRELOAD
# (they get a scrubbed environment).
preload=
if [ -n "${MR_TEST_KEYPOOL_LIB:-}" ]; then
	preload=$(ldd "$bin" | awk '$1 ~ /^libasan\.so/ { printf "%s:", $3 }')$MR_TEST_KEYPOOL_LIB
fi
mr() { LD_PRELOAD=$preload "$bin" "$@"; }

if [ "$scenario" = changes ]; then
	# the old and the new content of the files that do not depend on random keys or salts
	tree debian/hosting "$tmp/reference"
	mr -q --root "$tmp/reference" apply -f "$changes" --allow-delete >/dev/null 2>&1
	deterministic "$tmp/reference" >"$tmp/new.sums"
	tree debian/hosting "$tmp/pristine"
	deterministic "$tmp/pristine" >"$tmp/old.sums"
fi

# The real spamassassin --lint (tests/cli/apply.sh checks it) takes seconds per run: here,
# where what is tested is the journal, a stand-in that passes takes its place.
mkdir -p "$tmp/lintok"
printf '#!/bin/sh\nexit 0\n' >"$tmp/lintok/spamassassin"
chmod +x "$tmp/lintok/spamassassin"
PATH="$tmp/lintok:$PATH"
runs=0
crashed=0
setup() { # setup SCENARIO: a fresh tree in $tmp/root and the apply arguments in args
	case $1 in
	changes | purge)
		tree debian/hosting
		mkdir -p "$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/new"
		echo mail >"$tmp/root/var/www/alice/data/email/example.com/archive/.maildir/new/1"
		args=(-f "$changes" --allow-delete)
		[ "$1" = purge ] && args+=(--purge)
		;;
	examples)
		tree debian/empty
		printf 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin\nbob:x:1003:1003::/var/www/bob:/usr/sbin/nologin\ncarol:x:1002:1002::/var/www/carol:/usr/sbin/nologin\n' >>"$tmp/root/etc/passwd"
		args=(-f "$repo/examples/hosting")
		;;
	panel)
		tree debian/panel
		args=(-f "$cases/panel-normalize/desired")
		;;
	esac
}
check_recovered() { # check_recovered SCENARIO STEP: the state after the run that recovers
	if [ "$1" = changes ]; then
		deterministic "$tmp/root" >"$tmp/now.sums"
		cmp -s "$tmp/now.sums" "$tmp/new.sums" || { echo "FAIL crash at $2: the next run did not reach the new state"; fail=$((fail + 1)); }
		test -e "$tmp/root/var/lib/mailrecon/archive" || { echo "FAIL crash at $2: the archived mail is lost"; fail=$((fail + 1)); }
		[ -n "$(find "$tmp/root/var/lib/mailrecon/archive" -name 1 -print -quit)" ] || { echo "FAIL crash at $2: the archived mail is lost"; fail=$((fail + 1)); }
	fi
	local out last
	out=$(mr --root "$tmp/root" plan "${args[@]:0:2}" 2>&1)
	last=${out##*$'\n'} # its last line
	case $last in "No changes."*) ;; *) echo "FAIL crash at $2 ($1): a plan after recovery is not empty: $last"; fail=$((fail + 1)) ;; esac
	# what it finds in the live files (a DKIM key that is not the half of its record, a
	# certificate without its key, ...) is what it finds after an apply that did not crash
	if [ "${out%$'\n'*}" != "$findings" ]; then
		echo "FAIL crash at $2 ($1): after recovery the plan reports other findings than after an apply without a crash:"
		printf '%s\n' "${out%$'\n'*}" | sed 's/^/     /'
		fail=$((fail + 1))
	fi
	if [ -n "$(find "$tmp/root" -name '*.mailrecon-tmp.*' -print -quit)" ] || test -e "$tmp/root/var/lib/mailrecon/journal"; then
		echo "FAIL crash at $2 ($1): a temporary file or the journal is left"
		fail=$((fail + 1))
	fi
}
# the findings of a plan after an apply that did not crash (all but the plan's last line)
setup "$scenario"
mr -q --root "$tmp/root" apply "${args[@]}" >"$tmp/clean.out" 2>&1 || { echo "FAIL $scenario: an apply without a crash point failed:"; sed 's/^/     /' "$tmp/clean.out"; fail=$((fail + 1)); }
findings=$(mr --root "$tmp/root" plan "${args[@]:0:2}" 2>&1)
findings=${findings%$'\n'*}
done_at= done_rc=
for n in $(seq "$first" "$parts" "$max"); do
	setup "$scenario"
	MAILRECON_CRASH_AT=$n mr -q --root "$tmp/root" apply "${args[@]}" >"$tmp/crash.out" 2>&1
	rc=$?
	runs=$((runs + 1))
	if [ $rc -ne 99 ]; then # past the last step: the apply completed
		done_at=$n done_rc=$rc
		break
	fi
	crashed=$((crashed + 1))
	if [ "$scenario" = changes ]; then
		deterministic "$tmp/root" >"$tmp/now.sums"
		if ! cmp -s "$tmp/now.sums" "$tmp/old.sums" && ! cmp -s "$tmp/now.sums" "$tmp/new.sums" &&
			! test -e "$tmp/root/var/lib/mailrecon/journal"; then
			# between the journal and its removal the renames are in flight: the next run finishes them
			echo "FAIL crash at step $n: a mixed tree without a journal"
			fail=$((fail + 1))
		fi
		if test -e "$tmp/root/var/lib/mailrecon/journal"; then
			# crash the recovery too, at each of its first steps, then recover for real
			for m in 1 2 3 4; do
				MAILRECON_CRASH_AT=$m mr -q --root "$tmp/root" apply "${args[@]}" >/dev/null 2>&1
				[ $? -eq 99 ] && crashed=$((crashed + 1))
				runs=$((runs + 1))
			done
		fi
	fi
	mr -q --root "$tmp/root" apply "${args[@]}" >"$tmp/recover.out" 2>&1
	check_recovered "$scenario" "step $n"
done
steps=$(seq "$first" "$parts" "$max" | tr '\n' ' ' | cut -d' ' -f1-3)
expect "crash runs ($scenario, steps ${steps// /, }, ...): $runs runs with a crash point set, $crashed crashes, each recovered" \
	0 '' '' -- test "$crashed" -ge 1
expect "$scenario: with the crash point at step ${done_at:-none} the apply completed, exit 0 (within $max steps)" 0 '' '' -- \
	test "${done_rc:-none}" = 0
[ "${done_rc:-none}" = 0 ] || sed 's/^/     out: /' "$tmp/crash.out" | head -n 20

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
