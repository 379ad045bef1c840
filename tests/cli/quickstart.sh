#!/usr/bin/env bash
# scripts/quickstart (issue 14): `demo` installs only what the build needs -- no mail server,
# since exim4-daemon-heavy would replace this host's MTA -- and `test` the whole mail stack.
# Run with apt-get, dpkg-query, systemctl, npm and cmake replaced by stubs: nothing is
# installed, disabled or built.
# Usage: quickstart.sh REPO_ROOT
set -u
repo=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
mail='^(exim4.*|dovecot.*|postfix|postgrey|spamassassin|spamd|clamav.*|python3-dkim)$'

expect "packages demo: the build's only" 0 '^libgit2-dev$' '' -- bash "$repo/scripts/quickstart" packages demo
expect "packages demo: jansson, which plan files are read with" 0 '^libjansson-dev$' '' -- bash "$repo/scripts/quickstart" packages demo
expect "... no mail server among them" 1 '' '' -- sh -c "bash '$repo/scripts/quickstart' packages demo | grep -qE '$mail'"
expect "... no Check (the demo builds without the tests)" 1 '' '' -- sh -c "bash '$repo/scripts/quickstart' packages demo | grep -qx check"
expect "packages test: the mail stack too" 0 '^exim4-daemon-heavy$' '' -- bash "$repo/scripts/quickstart" packages test
for p in dovecot-imapd dovecot-pop3d postgrey spamassassin clamav-daemon check ansible-core; do
	expect "packages test has $p" 0 "^$p\$" '' -- bash "$repo/scripts/quickstart" packages test
done

# the demo as it runs: nothing installed yet (dpkg-query knows nothing), apt-get records what it
# is asked for, and cmake stops the run at the build
mkdir -p "$tmp/stub"
printf '#!/bin/sh\nexit 1\n' >"$tmp/stub/dpkg-query"
printf '#!/bin/sh\necho "$*" >>"%s/apt.log"\n' "$tmp" >"$tmp/stub/apt-get"
printf '#!/bin/sh\necho "$*" >>"%s/cmake.log"\nexit 3\n' "$tmp" >"$tmp/stub/cmake"
for t in sudo systemctl npm; do printf '#!/bin/sh\nexit 0\n' >"$tmp/stub/$t"; done # never the real ones
chmod +x "$tmp/stub/"*
mkdir -p "$tmp/r" && cp -a "$repo/scripts" "$tmp/r/" # the script cds to its parent: a copy, so no build dir is touched
PATH=$tmp/stub:$PATH bash "$tmp/r/scripts/quickstart" demo >"$tmp/demo.out" 2>&1
expect "demo: stopped at the (stubbed) build" 0 '' '' -- grep -q -- '-DMAILRECON_TESTS=OFF' "$tmp/cmake.log"
expect "demo: apt-get install was asked for the build dependencies" 0 'install -y --no-install-recommends build-essential cmake' '' -- \
	cat "$tmp/apt.log"
expect "demo: ... and for no mail server" 1 '' '' -- \
	sh -c "grep install '$tmp/apt.log' | tr ' ' '\n' | grep -qE '$mail'"
rm -f "$tmp/apt.log" "$tmp/cmake.log"
PATH=$tmp/stub:$PATH bash "$tmp/r/scripts/quickstart" test >"$tmp/test.out" 2>&1
expect "test: apt-get install was asked for the mail stack" 0 'exim4-daemon-heavy dovecot-imapd' '' -- cat "$tmp/apt.log"
expect "test: its build has the tests on (a demo build in the same directory had them off)" 0 '' '' -- \
	grep -q -- '-DMAILRECON_TESTS=ON' "$tmp/cmake.log"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
