#!/usr/bin/env python3
"""Stateful property test of mailrecon's confinement and safety (issue 12; design.md section 7).

Each seed is one sequence: a fresh sandbox ROOT (with a DECOY tree beside it), an initial apply
of a random desired state, then random operations (apply, scoped apply, hand edit, hostile
tenant, symlinked managed directory, rollback, crash, concurrent writer) with the invariants
checked after every step.  See tests/property/README.md.

  prop.py --bin build/mailrecon --seeds 1-200 --jobs 2 --time-limit 170
  prop.py --bin build/mailrecon --replay 17        # one seed, every command printed, sandbox kept
"""

import argparse
import hashlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mrprop import ops as ops_mod  # noqa: E402
from mrprop.sandbox import Failure, make_pathdir, private_tmp_probe, rmtree  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_seeds(spec):
    out = []
    for part in spec.split(','):
        part = part.strip()
        if not part:
            continue
        if '-' in part:
            a, b = part.split('-', 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def parse_ops(spec, without):
    ops = list(ops_mod.OPS) if spec in (None, '', 'all') else [o.strip() for o in spec.split(',') if o.strip()]
    for o in ops + [w.strip() for w in (without or '').split(',') if w.strip()]:
        if o not in ops_mod.OPS:
            sys.exit('prop.py: unknown operation %r (known: %s)' % (o, ', '.join(ops_mod.OPS)))
    drop = {w.strip() for w in (without or '').split(',') if w.strip()}
    return [o for o in ops_mod.OPS if o in ops and o not in drop]


def read_regressions(path):
    """[(seed, ops or None, without_mutations, comment)] from regressions.txt:
    'SEED [ops=a,b] [without=owner,...] # why'."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        body, _, comment = line.partition('#')
        w = body.split()
        if not w:
            continue
        ops, without = None, []
        for x in w[1:]:
            if x.startswith('ops='):
                ops = [o for o in x[4:].split(',') if o]
            elif x.startswith('without='):
                without = [o for o in x[8:].split(',') if o]
            else:
                sys.exit('prop.py: %s: cannot read %r' % (path, line.strip()))
        out.append((int(w[0]), ops, without, comment.strip()))
    return out


def make_hashes(openssl):
    """A small pool of real password hashes: SHA512-CRYPT (openssl passwd -6, fixed salts, with and
    without the {SHA512-CRYPT} prefix) and {CRAM-MD5} + 64 hex digits (what pwhash.c accepts)."""
    hashes = []
    for i, salt in enumerate(['propsalt1', 'Xy7.kL2q', 'abcdEFGH12345678']):
        h = subprocess.run([openssl, 'passwd', '-6', '-salt', salt, 'password%d' % i], stdout=subprocess.PIPE,
                           check=True).stdout.decode().strip()
        hashes.append(('{SHA512-CRYPT}' + h) if i != 1 else h)
    for s in ('cram one', 'cram two'):
        hashes.append('{CRAM-MD5}' + hashlib.sha256(s.encode()).hexdigest())
    return hashes


def make_key(openssl):
    return subprocess.run([openssl, 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()


def default_tmp():
    """tmpfs when there is one: a sandbox run is mostly fsync, rename and rmdir."""
    shm = '/dev/shm'
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


_CFG = None


def _init(cfg):
    global _CFG
    _CFG = cfg


def run_seed(item):
    seed, ops, without, deadline, keep_failed = item
    if deadline and time.time() > deadline:
        return {'seed': seed, 'ops': ops, 'without': without, 'skipped': True}
    cfg = _CFG
    cfg.ops = ops
    cfg.without_mutations = tuple(without)
    t0 = time.monotonic()
    seq = None
    out = {'seed': seed, 'ops': ops, 'without': without, 'skipped': False}
    try:
        seq = ops_mod.Seq(seed, cfg)
        stats = seq.run()
        out.update(ok=True, stats=stats)
    except Failure as f:
        out.update(ok=False, invariant=f.invariant, what=f.what, evidence=f.evidence)
    except Exception:
        out.update(ok=False, invariant='harness', what='the harness itself failed', evidence=traceback.format_exc())
    if seq is not None:
        out['calls'] = seq.runner.calls
        out['mr_secs'] = seq.runner.secs
        out.setdefault('stats', seq.stats)
        if not out['ok']:
            out.update(step=seq.step, op=seq.op, desc=seq.desc, history=seq.history, sandbox=seq.work)
        if out['ok'] or not (keep_failed or cfg.keep):
            rmtree(seq.work)
        else:
            out['kept'] = seq.work
    out['secs'] = time.monotonic() - t0
    return out


def variant_args(res):
    """How to name this sequence: its seed's --ops and --without-mutations when not the defaults."""
    a = ''
    if res['ops'] != ops_mod.OPS:
        a += ' --ops %s' % ','.join(res['ops'])
    if res['without']:
        a += ' --without-mutations %s' % ','.join(res['without'])
    return a


def report_failure(res, args, stream=sys.stdout):
    w = stream.write
    w('\nFAIL seed %d%s: step %s (%s), invariant %s: %s\n' % (
        res['seed'], variant_args(res).replace(' --ops ', ' ops=').replace(' --without-mutations ', ' without='),
        res.get('step'), res.get('op'), res['invariant'], res['what']))
    for step, op, desc in res.get('history', [])[-6:]:
        w('  step %d (%s): %s\n' % (step, op, desc))
    w('  step %s (%s): %s\n' % (res.get('step'), res.get('op'), res.get('desc', '')))
    ev = res.get('evidence') or ''
    if ev:
        w('  evidence:\n' + ''.join('    ' + line + '\n' for line in ev.splitlines()[:80]))
    if res.get('kept'):
        w('  sandbox kept: %s\n' % res['kept'])
    w('  replay: %s --bin %s --replay %d%s\n' % (sys.argv[0], args.bin, res['seed'], variant_args(res)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--bin', required=True, help='the mailrecon binary')
    ap.add_argument('--seeds', default='1-200', help='seeds: 1-200 or 1,5,9-12 (default 1-200)')
    ap.add_argument('--jobs', type=int, default=1)
    ap.add_argument('--time-limit', type=float, default=0,
                    help='seconds; seeds not started by then are not run, and the run fails')
    ap.add_argument('--ops', default='all', help='operations to draw from (default all): ' + ','.join(ops_mod.OPS))
    ap.add_argument('--without', default='', help='operations to leave out')
    ap.add_argument('--regressions', default=os.path.join(HERE, 'regressions.txt'))
    ap.add_argument('--no-regressions', action='store_true', help='do not add the seeds of regressions.txt')
    ap.add_argument('--verbose', type=int, metavar='SEED', help='run one seed and print its steps')
    ap.add_argument('--replay', type=int, metavar='SEED', help='run one seed, print every command, keep the sandbox')
    ap.add_argument('--keep', action='store_true', help='keep the sandbox of a failed sequence')
    ap.add_argument('--tmp', default=None,
                    help='where sandboxes are made (default: /dev/shm when writable, else $TMPDIR or /tmp)')
    ap.add_argument('--validate-states', action='store_true',
                    help='run mailrecon validate on every generated file (generator self-check)')
    ap.add_argument('--dkim-rate', type=float, default=0.05, help='share of generated domains with DKIM (1024 bits)')
    ap.add_argument('--real-checks', action='store_true',
                    help="keep the host PATH, so apply runs the installed checks (spamassassin --lint: ~1 s each)")
    ap.add_argument('--without-mutations', default='',
                    help='mutation kinds the generator leaves out, e.g. owner (see mrprop/model.py MUTATION_NAMES)')
    ap.add_argument('--no-private-tmp', action='store_true',
                    help="run the binary without its own /tmp (by default each run gets a mount namespace with its "
                         "TMPDIR on /tmp, so what it leaves in /tmp is seen)")
    ap.add_argument('--privtmp', metavar='PATH',
                    help="the launcher that gives each run its own /tmp (tests/tools/privtmp.c, built as mr_privtmp; "
                         "ctest passes it): one small process instead of unshare, sh and mount per run")
    ap.add_argument('--summary-json', help='write the figures as JSON to this file')
    args = ap.parse_args()

    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit('prop.py: %s is not an executable' % binary)
    if os.geteuid() != 0:
        sys.exit('prop.py: must run as root (the sandbox chowns tenant trees to their uids)')
    tools = {t: shutil.which(t, path='/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin')
             for t in ('git', 'openssl', 'mkdir', 'chown', 'chmod', 'unshare', 'sh', 'mount')}
    missing = [t for t, p in tools.items() if not p and t not in ('unshare', 'mount')]
    if missing:
        sys.exit('prop.py: missing tools: %s' % ', '.join(missing))
    ops = parse_ops(args.ops, args.without)
    from mrprop import model as model_mod
    for x in [x for x in args.without_mutations.split(',') if x]:
        if x not in model_mod.MUTATION_NAMES:
            sys.exit('prop.py: unknown mutation %r (known: %s)' % (x, ', '.join(sorted(model_mod.MUTATION_NAMES))))
    base_tmp = args.tmp or default_tmp()
    run_dir = tempfile.mkdtemp(prefix='mrprop-run-', dir=base_tmp)
    pathdir = os.environ['PATH'] if args.real_checks else make_pathdir(os.path.join(run_dir, 'bin'))
    log = None
    one = args.replay if args.replay is not None else args.verbose
    if one is not None:
        def log(text):
            if args.replay is None and text.startswith('    '):
                return
            print(text, flush=True)
    private_tmp = None
    under_tmp = [p for p in (binary, os.path.realpath(base_tmp)) if (os.path.realpath(p) + '/').startswith('/tmp/')]
    if under_tmp and not args.no_private_tmp:
        print('property: note: %s is below /tmp, which each run\'s own /tmp would hide; what a run leaves in the '
              'host /tmp is not checked (build or use --tmp elsewhere)' % under_tmp[0])
    elif not args.no_private_tmp:
        launcher = (os.path.abspath(args.privtmp),) if args.privtmp else (tools['unshare'], tools['sh'], tools['mount'])
        if private_tmp_probe(launcher, base_tmp):
            private_tmp = launcher
        else:
            print('property: note: no mount namespace here; what a run leaves in the host /tmp is not checked')
    cfg = ops_mod.Config(binary, ops, make_hashes(tools['openssl']), make_key(tools['openssl']), pathdir, tools,
                         tmp_base=base_tmp, log=log, keep=args.keep or args.replay is not None,
                         validate_states=args.validate_states, dkim_rate=args.dkim_rate, private_tmp=private_tmp)

    without = [x for x in args.without_mutations.split(',') if x]
    items = []
    if one is not None:
        items.append((one, ops, without))
    else:
        seen = set()
        for s in parse_seeds(args.seeds):
            items.append((s, ops, without))
            seen.add((s, tuple(ops), tuple(without)))
        if not args.no_regressions:
            for s, rops, rwithout, _ in read_regressions(args.regressions):
                rops = parse_ops(','.join(rops), '') if rops else list(ops_mod.OPS)
                key = (s, tuple(rops), tuple(rwithout))
                if key not in seen:
                    seen.add(key)
                    items.append((s, rops, rwithout))
    t0 = time.time()
    deadline = t0 + args.time_limit if args.time_limit else 0
    work = [(s, o, w, deadline, args.keep) for s, o, w in items]
    results = []
    if args.jobs > 1 and len(work) > 1:
        ctx = multiprocessing.get_context('fork')
        with ctx.Pool(args.jobs, initializer=_init, initargs=(cfg,)) as pool:
            for res in pool.imap_unordered(run_seed, work, chunksize=1):
                results.append(res)
                if not res['skipped'] and not res['ok']:
                    report_failure(res, args)
                    sys.stdout.flush()
    else:
        _init(cfg)
        for item in work:
            res = run_seed(item)
            results.append(res)
            if not res['skipped'] and not res['ok']:
                report_failure(res, args)
    wall = time.time() - t0
    shutil.rmtree(run_dir, ignore_errors=True)

    ran = [x for x in results if not x['skipped']]
    failed = [x for x in ran if not x['ok']]
    skipped = [x for x in results if x['skipped']]
    steps = sum(x.get('stats', {}).get('steps', 0) for x in ran)
    by_op, by_var, by_inv = {}, {}, {}
    for x in ran:
        for k, v in x.get('stats', {}).get('ops', {}).items():
            by_op[k] = by_op.get(k, 0) + v
        for k, v in x.get('stats', {}).get('variants', {}).items():
            by_var[k] = by_var.get(k, 0) + v
    for x in failed:
        k = '%s (%s)' % (x['invariant'], x.get('op'))
        by_inv[k] = by_inv.get(k, 0) + 1
    calls = sum(x.get('calls', 0) for x in ran)
    print('\nproperty: %d sequences, %d steps, %d mailrecon runs, %d failed, %d not run, %.1f s wall' % (
        len(ran), steps, calls, len(failed), len(skipped), wall))
    print('  operations: ' + ', '.join('%s %d' % (k, by_op[k]) for k in sorted(by_op)))
    if by_inv:
        print('  failures by invariant (operation): ' + ', '.join('%s: %d' % (k, by_inv[k]) for k in sorted(by_inv)))
        print('  failed seeds: ' + ' '.join(
            str(x['seed']) + ('(%s)' % variant_args(x).strip() if variant_args(x) else '')
            for x in sorted(failed, key=lambda x: x['seed'])))
    if skipped:
        print('  NOT RUN (time limit of %.0f s reached): %d sequences, seeds %s' % (
            args.time_limit, len(skipped), ' '.join(str(x['seed']) for x in skipped[:30])))
    if args.summary_json:
        import json
        with open(args.summary_json, 'w') as f:
            json.dump({'sequences': len(ran), 'steps': steps, 'calls': calls, 'failed': len(failed),
                       'not_run': len(skipped), 'wall': wall, 'ops': by_op, 'variants': by_var,
                       'failures': by_inv,
                       'failed_seeds': [[x['seed'], x['invariant'], x.get('op'), x['what'] + variant_args(x)]
                                        for x in failed]}, f,
                      indent=1)
    return 1 if failed or skipped else 0


if __name__ == '__main__':
    sys.exit(main())
