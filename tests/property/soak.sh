#!/usr/bin/env bash
# Soak run of the property test: COUNT sequences (default 20,000) from seed START, in chunks of
# CHUNK, then the figures: sequences, steps, runs of mailrecon, operations and variants by kind,
# failures by invariant and operation, failed seeds (first 50), wall time.
# Usage: soak.sh MAILRECON [START [COUNT [CHUNK]]]   (extra prop.py options in PROP_OPTS)
set -u
bin=${1:?usage: soak.sh MAILRECON [START [COUNT [CHUNK]]]}
start=${2:-1}
count=${3:-20000}
chunk=${4:-1000}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
t0=$(date +%s)
s=$start
end=$((start + count - 1))
n=0
while [ "$s" -le "$end" ]; do
	e=$((s + chunk - 1))
	[ "$e" -gt "$end" ] && e=$end
	n=$((n + 1))
	# shellcheck disable=SC2086
	python3 "$here/prop.py" --bin "$bin" --seeds "$s-$e" --jobs 2 --no-regressions ${PROP_OPTS:-} \
		--summary-json "$out/chunk-$n.json" >"$out/chunk-$n.log" 2>&1
	printf 'chunk %d: seeds %d-%d: %s\n' "$n" "$s" "$e" "$(grep '^property:' "$out/chunk-$n.log")"
	s=$((e + 1))
done
wall=$(($(date +%s) - t0))
python3 - "$out" "$wall" <<'PY'
import glob, json, sys
out, wall = sys.argv[1], int(sys.argv[2])
tot = {'sequences': 0, 'steps': 0, 'calls': 0, 'failed': 0, 'not_run': 0}
ops, variants, failures, seeds = {}, {}, {}, []
for f in sorted(glob.glob(out + '/chunk-*.json')):
    j = json.load(open(f))
    for k in tot:
        tot[k] += j[k]
    for src, dst in ((j['ops'], ops), (j['variants'], variants), (j['failures'], failures)):
        for k, v in src.items():
            dst[k] = dst.get(k, 0) + v
    seeds += j['failed_seeds']
print('\nsoak: %d sequences, %d steps, %d mailrecon runs, %d failed, %d not run, %d s wall' % (
    tot['sequences'], tot['steps'], tot['calls'], tot['failed'], tot['not_run'], wall))
print('operations: ' + ', '.join('%s %d' % (k, ops[k]) for k in sorted(ops)))
print('variants:   ' + ', '.join('%s %d' % (k, variants[k]) for k in sorted(variants)))
if failures:
    print('failures by invariant (operation):')
    for k in sorted(failures, key=lambda k: -failures[k]):
        print('  %6d  %s' % (failures[k], k))
    print('failed seeds (first 50):')
    for s, inv, op, what in sorted(seeds)[:50]:
        print('  %d  %s (%s): %s' % (s, inv, op, what[:150]))
sys.exit(1 if tot['failed'] or tot['not_run'] else 0)
PY
