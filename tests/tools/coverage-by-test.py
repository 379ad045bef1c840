#!/usr/bin/env python3
"""coverage-by-test.py OUT: read OUT/TEST.json.gz (gcov -b -j -t of one test's .gcda files, made
by coverage-by-test.sh) for every test in OUT/tests, and print for src/ the lines and branches
each test runs that no other test of the set runs, then which tests can be left out together
with the rest still running every line and branch that the whole set runs (the most expensive
first: the cost is OUT/costs, 'TEST SECONDS' lines, when it exists, else all equal)."""
import gzip, json, os, sys

out = sys.argv[1]
tests = [t.strip() for t in open(os.path.join(out, 'tests')) if t.strip()]
costs = {}
if os.path.exists(os.path.join(out, 'costs')):
    for line in open(os.path.join(out, 'costs')):
        w = line.split()
        if len(w) >= 2:
            costs[w[0]] = float(w[1])


def load(t):
    lines, branches = set(), set()
    p = os.path.join(out, t + '.json.gz')
    if not os.path.exists(p):
        return lines, branches
    text = gzip.open(p, 'rt').read()
    dec = json.JSONDecoder()
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = dec.raw_decode(text, i)
        for f in doc.get('files', []):
            name = f['file']
            k = name.find('/src/')
            if k < 0 or '/tests/' in name:
                continue
            name = name[k + 1:]
            for ln in f.get('lines', []):
                if ln.get('count', 0) > 0:
                    lines.add((name, ln['line_number']))
                for bi, b in enumerate(ln.get('branches', [])):
                    if b.get('count', 0) > 0:
                        branches.add((name, ln['line_number'], bi))
    return lines, branches


cov = {t: load(t) for t in tests}
all_l = set().union(*(c[0] for c in cov.values()))
all_b = set().union(*(c[1] for c in cov.values()))
print('the set: %d tests, %d lines and %d branches of src/ run' % (len(tests), len(all_l), len(all_b)))
print('%-28s %7s %8s %7s %8s' % ('test', 'lines', 'branches', 'unique', 'unique'))
for t in tests:
    others_l = set().union(*(cov[o][0] for o in tests if o != t))
    others_b = set().union(*(cov[o][1] for o in tests if o != t))
    ul, ub = cov[t][0] - others_l, cov[t][1] - others_b
    print('%-28s %7d %8d %7d %8d' % (t, len(cov[t][0]), len(cov[t][1]), len(ul), len(ub)))
    if 0 < len(ul) + len(ub) <= 12:
        print('    only here: ' + ', '.join('%s:%d' % x for x in sorted(ul)) +
              ('; branches ' + ', '.join('%s:%d#%d' % x for x in sorted(ub)) if ub else ''))
# greedy: drop the most expensive test whose lines and branches the remaining tests all run
keep = list(tests)
dropped = []
for t in sorted(tests, key=lambda t: -costs.get(t, 0)):
    rest = [o for o in keep if o != t]
    if not rest:
        continue
    rl = set().union(*(cov[o][0] for o in rest))
    rb = set().union(*(cov[o][1] for o in rest))
    if rl >= all_l and rb >= all_b:
        keep = rest
        dropped.append(t)
print('can be left out together (the rest runs all %d lines and %d branches): %s' % (
    len(all_l), len(all_b), ' '.join(dropped) or 'none'))
