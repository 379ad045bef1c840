#!/usr/bin/env bash
# Which tests of a test set add lines or branches of src/ that the others do not run: the
# evidence for leaving a test out of the ASan+UBSan pass (tests/CMakeLists.txt). Each test of
# SET_DIR's ctest list (e.g. build-asan: the ASan pass's set) runs in COV_DIR, a build with
# --coverage and without sanitizers, with its own GCOV_PREFIX, two at a time; then
# tests/tools/coverage-by-test.py reads gcov's JSON of each and prints, per test, the lines and
# branches no other test of the set runs, and which tests can go with the rest covering all.
# The property test runs with the seeds SET_DIR registers (1-5 under ASan), not COV_DIR's.
#   bash tests/tools/coverage-by-test.sh build-cov build-asan OUT
# COV_DIR: cmake -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=--coverage -DCMAKE_EXE_LINKER_FLAGS=--coverage
#          -DCMAKE_MODULE_LINKER_FLAGS=--coverage
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 COV_DIR SET_DIR OUT" >&2; exit 64; }
cov=$(cd "$1" && pwd) set=$(cd "$2" && pwd) out=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
seeds=$(sed -n 's/.*--seeds \([0-9,-]*\).*/\1/p' "$set/tests/CTestTestfile.cmake" | head -n 1)
(cd "$set" && ctest -N) | sed -n 's/^ *Test *#[0-9]*: //p' >"$out/tests"
# a directory per test with the object directories in it, writable by the tests' other users
while read -r t; do
	(cd "$cov" && find . -name '*.gcno' -printf '%h\n' | sort -u) | while read -r d; do
		mkdir -p "$out/$t/$cov/$d"
	done
	chmod -R 1777 "$out/$t"
done <"$out/tests"
tmp=$(mktemp -d /dev/shm/mrcov.XXXXXX)
chmod 1777 "$tmp"
export TMPDIR=$tmp
run_one() { # run_one TEST
	local t=$1 rc=0
	if [ "$t" = property ]; then
		GCOV_PREFIX=$out/$t python3 "$here/../property/prop.py" --bin "$cov/mailrecon" --seeds "$seeds" --jobs 2 \
			--time-limit 900 >"$out/$t.log" 2>&1 || rc=$?
	else
		(cd "$cov" && GCOV_PREFIX=$out/$t ctest -R "^$t\$" --output-on-failure) >"$out/$t.log" 2>&1 || rc=$?
	fi
	echo "$t exit $rc"
}
export -f run_one
export cov out here seeds
xargs -P2 -I{} bash -c 'run_one {}' <"$out/tests" | tee "$out/runs"
rm -rf "$tmp"
# gcov's JSON of every test's .gcda files (the .gcno files copied beside them)
while read -r t; do
	(cd "$out/$t$cov" && find . -name '*.gcda' | while read -r f; do
		cp "$cov/${f%.gcda}.gcno" "${f%.gcda}.gcno"
		(cd "$(dirname "$f")" && gcov -b -j -t "$(basename "$f")" 2>/dev/null)
	done) | gzip >"$out/$t.json.gz"
done <"$out/tests"
python3 "$here/coverage-by-test.py" "$out"
