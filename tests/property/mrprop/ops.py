"""One sequence: a fresh sandbox, 3-10 random operations, and the invariants after every step.

Invariants (README.md):
 1  nothing outside ROOT changed (the DECOY, ROOT's parent, TMPDIR), nor the host files below
    ROOT (etc/passwd, etc/shadow, root/, srv/ ...), nor another tenant's mail tree;
 2  every planted message exists exactly once below var/www or the archive (zero after --purge);
 3  after a successful apply: an empty plan, live files equal to the desired state by an
    independent reading, each home at its exact place owned by its owner, its mail in it;
 4  after a successful rollback to R: the line files are R's, deleted mailboxes of R have
    their mail back;
 5  exit codes as design section 1; refused (3) and failed (1) runs change nothing; no temp
    file or journal after a success;
 6  no sanitizer report;
 7  no "PRIVATE KEY" in any object of the state repository.
Operation contracts that are not one of these are labelled by the operation ('scope',
'concurrent', 'mdir').
"""

import copy
import json
import os
import re
import random
import shutil
import stat
import subprocess
import tempfile
import zlib

from . import live
from . import model
from .sandbox import Failure, diff_snap, find_messages, make_tree, plant, protected_rels, read_rel, \
    real_dir_chain, rmtree, Runner, snapshot, snapshot_paths, tmp_files

OPS = ['apply', 'scope', 'edit', 'tenant', 'mdir', 'rollback', 'crash', 'concurrent']
WEIGHTS = {'apply': 3, 'scope': 2.5, 'edit': 2, 'tenant': 1.5, 'mdir': 0.7, 'rollback': 1.5, 'crash': 1.2,
           'concurrent': 1}
MAIL_TREES = ['var/www', 'var/lib/mailrecon/archive']
STATE_EXCLUDE = {'var/lib/mailrecon', 'var/log/mailrecon.log'}
REPO = 'var/lib/mailrecon/repo'


class Config:
    def __init__(self, binary, ops, hashes, private_key, pathdir, tools, tmp_base=None, log=None, keep=False,
                 validate_states=False, dkim_rate=0.05, without_mutations=(), private_tmp=None):
        self.binary, self.ops, self.hashes, self.private_key = binary, ops, hashes, private_key
        self.pathdir, self.tools, self.tmp_base, self.log, self.keep = pathdir, tools, tmp_base, log, keep
        self.validate_states, self.dkim_rate = validate_states, dkim_rate
        self.without_mutations = tuple(without_mutations)
        self.private_tmp = private_tmp


class Seq:
    def __init__(self, seed, cfg):
        self.seed = seed
        self.cfg = cfg
        self.r = random.Random(seed)
        self.work = tempfile.mkdtemp(prefix='mrprop-%s-' % seed, dir=cfg.tmp_base)
        self.sb = os.path.join(self.work, 'sb')
        os.mkdir(self.sb)
        self.infiles = os.path.join(self.work, 'in')
        os.mkdir(self.infiles)
        self.root, self.decoy = make_tree(self.sb, cfg.private_key)
        self.runner = Runner(cfg.binary, self.root, self.work, cfg.pathdir, self._cmdlog if cfg.log else None,
                             cfg.private_tmp)
        self.ctx = {'hashes': cfg.hashes, 'dkim_rate': cfg.dkim_rate, 'without_mutations': cfg.without_mutations}
        self.model = model.empty_state()
        self.clean = True
        self.model_of = {}
        self.incs = {}          # address -> its current incarnation (mail planted in its home)
        self.all_incs = []
        self.narchived = 0      # archivals so far: an incarnation's 'archived_n' orders the archive entries
        self.disabled_by = {}   # (kind, name) -> who disabled it, as the registry records it (disabled_by=)
        self.taints = {}        # relpath -> what a tenant put there (a home below it is not mailrecon's to make)
        self.step = 0
        self.op = 'init'
        self.desc = ''
        self.history = []
        self.stats = {'steps': 0, 'ops': {}, 'variants': {}}
        self.ntoken = 0
        self.nfile = 0
        self.seen_objects = set()
        self.missing_before = set()
        self.last_left = set()  # the addresses whose storage the runs of this step left alone
        self.left_paths = {}    # address -> the places (relative to ROOT) the runs of this step left alone
        self.pre_view = None    # (live owners, live mailboxes) as the first apply/rollback of this step read them
        self.just_restored = set()  # id() of the incarnations the rollback of this step brought back
        self.decoy_snap = snapshot(self.decoy)
        self.parent_snap = self._parent()
        self.protected_snap = snapshot_paths(self.root, protected_rels())

    # ---- logging ----

    def _cmdlog(self, text):
        self.cfg.log('    ' + text)

    def note(self, text):
        self.desc = (self.desc + '; ' if self.desc else '') + text
        if self.cfg.log:
            self.cfg.log('  . ' + text)

    def variant(self, v):
        key = '%s/%s' % (self.op, v)
        self.stats['variants'][key] = self.stats['variants'].get(key, 0) + 1
        self.note('variant %s' % v)

    # ---- running the binary, with the checks every call gets ----

    def mr(self, args, **kw):
        if args and args[0] in ('apply', 'rollback') and self.pre_view is None:
            # what the product reads before it changes anything: the first run of the step (a
            # run after a crash reads the files the crashed one may have switched already); a home
            # that is where left mail stayed (a tenant undid what was in its way) holds that mail
            self.reclaim_homes()
            self.pre_view = self.live_view()
        res = self.runner.run(args, **kw)
        self.check_outside(res)
        if res.rc == 0 and re.search(r"the storage of '[^']+' is left alone", res.err):
            raise Failure('5', 'a run left storage alone but exited 0', res.brief(3000))
        return res

    def _parent(self):
        out = {}
        st = os.lstat(self.sb)
        out['.'] = (oct(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, sorted(os.listdir(self.sb)))
        for n in os.listdir(self.sb):
            st = os.lstat(os.path.join(self.sb, n))
            out[n] = (oct(st.st_mode), st.st_uid, st.st_gid)
        return out

    def check_outside(self, res=None):
        cmd = ('$ ' + ' '.join(res.argv) + '\n' + res.brief(800) + '\n') if res else ''
        now = snapshot(self.decoy)
        if now != self.decoy_snap:
            raise Failure('1', 'the DECOY outside ROOT changed', cmd + diff_snap(self.decoy_snap, now))
        p = self._parent()
        if p != self.parent_snap:
            raise Failure('1', "ROOT's parent directory changed (an entry made or removed outside ROOT)",
                          cmd + '%s\n->\n%s' % (self.parent_snap, p))
        prot = snapshot_paths(self.root, protected_rels())
        if prot != self.protected_snap:
            raise Failure('1', 'host files below ROOT changed (etc/passwd, etc/shadow, etc/cron.d, root/, srv/)',
                          cmd + diff_snap(self.protected_snap, prot))

    def resnap_decoy(self):
        self.decoy_snap = snapshot(self.decoy)

    def root_snap(self, extra_exclude=()):
        return snapshot(self.root, exclude=STATE_EXCLUDE | set(extra_exclude), dir_mtime=False)

    def expect_unchanged(self, before, res, why, invariant='5', extra_exclude=()):
        after = self.root_snap(extra_exclude)
        # an empty managed directory made under etc/ changes no managed file: tolerated
        for k in sorted([k for k in after if k not in before and k.startswith('etc/') and after[k][0] == 'd'],
                        key=len, reverse=True):
            if not any(x.startswith(k + '/') for x in after):
                del after[k]
        if after != before:
            raise Failure(invariant, '%s (exit %s) but it changed the tree' % (why, res.rc),
                          '$ %s\n%s\nchanges below ROOT (state dir and audit log excluded):\n%s' % (
                              ' '.join(res.argv), res.brief(800), diff_snap(before, after)))

    # ---- files ----

    def write_state(self, st, tag, **kw):
        self.nfile += 1
        p = os.path.join(self.infiles, '%02d-%s-%d.yaml' % (self.step, tag, self.nfile))
        with open(p, 'w') as f:
            f.write(model.to_yaml(st, **kw) if isinstance(st, dict) else st)
        if self.cfg.validate_states:
            res = self.runner.run(['validate', '-f', p])
            if res.rc != 0:
                raise Failure('gen', 'the generator made a state the validator rejects', res.brief() + '\n' +
                              open(p).read())
        return p

    def live_files(self):
        return {rel: read_rel(self.root, rel) for rel in live.LINE_FILES}

    def live_view(self):
        """({domain: live owner or None}, {live mailbox addresses}, {address: OWNER of a pending move
        in STATE_DIR/homes-left}, {token: the home (relative to ROOT) its message is in}), as
        mailrecon and the tree have them now."""
        files = self.live_files()
        moves = {}
        for line in (read_rel(self.root, 'var/lib/mailrecon/homes-left') or b'').decode('utf-8', 'replace').split('\n'):
            w = line.split()
            if len(w) == 3 and w[1] == 'move':
                moves[w[0]] = w[2]
        places = {}
        for tok, locs in find_messages(self.root, ['var/www']).items():
            for rel in locs.values():
                places[tok] = '/'.join(rel.split('/')[:7])
        return live.domain_owners(files, self.root), live.objects(files, self.root)[2], moves, places

    def archived_from(self, a, inc):
        """For a mailbox the run deleted: the home its mail was in before the run when mailrecon
        archives (or purges) it from there -- its home by the live owner, or the old home of a pending
        move (homes-left) -- and no tenant was in the way of that place; else None, the mail stays
        where it was (docs/plan.md "Mailbox storage": "A deleted mailbox is archived (or purged)
        where its mail is known to be ... Nowhere else"; docs/apply.md: a place left alone is not
        touched). None also when that place is not known (the message was not seen in a home)."""
        lo, lm, moves, places = self.pre_view
        l, _, dn = a.partition('@')
        x = places.get(inc['tokens'][0])
        if x is None or a not in lm:
            return None
        src = set()
        if lo.get(dn):
            src.add(model.home_of(lo[dn], dn, l).lstrip('/'))
        if a in moves:
            src.add(model.home_of(moves[a], dn, l).lstrip('/'))
        if x in src and x not in self.left_paths.get(a, ()):
            return x
        return None

    def mail_place(self, a):
        """The home (relative to ROOT) that a's mail is in by the model, before this step's run."""
        l, _, dn = a.partition('@')
        d = self.model['domains'].get(dn)
        return model.home_of(d['owner'], dn, l).lstrip('/') if d else None

    def where_mail_stays(self, st, a, inc):
        """Why the mail of the incarnation inc of address a stays where it is (not moved into its new
        home, not archived) when st is applied over the live files the run read first; None when
        mailrecon takes it along.

        mailrecon acts on homes computed from the names of the owner it reads from the live files
        (docs/plan.md "Mailbox storage": "computed from the names of the owner, the domain and the
        mailbox"; the live owner: docs/formats.md, registry -- a domain with no registry line takes
        it from the first owner= of its mailboxes in exim-passwd). A hand edit that gives a domain
        another live owner (owner= on its first exim-passwd line), or that takes a mailbox out of
        both passwd files (a new mailbox then, whose place is made, "a directory already there is
        kept as it is"), makes mailrecon move or archive from a place where the mail is not."""
        if inc.get('stray'):
            return 'its mail was already away from its home'
        if self.pre_view is None or inc['displaced'] or id(inc) in self.just_restored:
            return None  # (an incarnation a rollback brought back from the archive is in its home)
        lo, lm = self.pre_view[:2]
        l, _, dn = a.partition('@')
        m = self.model['domains'].get(dn)
        if m is None:
            return None
        at = m['owner']                       # the mail is in its home, in this owner's tree
        want = st['domains'].get(dn, {}).get('mailboxes', {}).get(l) is not None
        new = st['domains'][dn]['owner'] if want else None
        if a not in lm:
            if want and new == at:
                return None                  # made where the old home is: kept as it is, the mail in it
            return 'the mailbox is not in the live files (a hand edit took it out)'
        if lo.get(dn) != at:
            if want and new == at:
                return None                  # the mail is where its home is
            return 'the live owner of %s is %s, not %s (a hand edit)' % (dn, lo.get(dn), at)
        return None

    def head(self):
        repo = os.path.join(self.root, REPO)
        try:
            ref = open(os.path.join(repo, 'HEAD')).read().strip()
        except OSError:
            return None
        if ref.startswith('ref: '):
            try:
                return open(os.path.join(repo, ref[5:])).read().strip()
            except OSError:
                pass
            try:
                for line in open(os.path.join(repo, 'packed-refs')):
                    if line.strip().endswith(' ' + ref[5:]):
                        return line.split()[0]
            except OSError:
                return None
            return None
        return ref

    def git(self, *args, input=None):
        p = subprocess.run([self.cfg.tools['git'], '--git-dir', os.path.join(self.root, REPO)] + list(args),
                           input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return p.returncode, p.stdout, p.stderr

    def revision_files(self, rev):
        """{relpath: bytes or None} of the line files in revision rev."""
        req = ''.join('%s:%s\n' % (rev, rel) for rel in live.LINE_FILES).encode()
        rc, out, err = self.git('cat-file', '--batch', input=req)
        files = {}
        pos = 0
        for rel in live.LINE_FILES:
            nl = out.index(b'\n', pos)
            hdr = out[pos:nl].split()
            pos = nl + 1
            if len(hdr) == 3 and hdr[1] == b'blob':
                n = int(hdr[2])
                files[rel] = out[pos:pos + n]
                pos += n + 1
            else:
                files[rel] = None
        return files

    def revisions(self):
        res = self.mr(['log', '--json', '-n', '100000'])
        if res.rc != 0:
            raise Failure('5', 'log --json failed', res.brief())
        try:
            revs = json.loads(res.out) if res.out.strip() else []
        except ValueError:
            raise Failure('5', 'log --json printed something that is not JSON', res.out[:2000])
        return revs

    # ---- mail ----

    def plant_new(self):
        """A message in every live home that has none yet (a new incarnation of its mailbox)."""
        head = self.head()
        for dn, d in sorted(self.model['domains'].items()):
            for l in sorted(d['mailboxes']):
                a = model.addr(l, dn)
                home = model.home_of(d['owner'], dn, l).lstrip('/')
                inc = self.incs.get(a)
                if inc is not None:
                    if inc.get('stray') and inc['at'] == home and real_dir_chain(self.root, home):
                        # the home is the place its mail stayed in (made there, or a move there
                        # left alone: "the new place is used as it is", docs/apply.md)
                        inc['stray'] = False
                        self.note('%s: its mail is in its home again' % a)
                    continue
                if self.tainted(home) or not real_dir_chain(self.root, home):
                    continue
                if self.reclaim_left(a, home):
                    continue
                self.ntoken += 1
                tok = 's%s-m%d-%08x' % (self.seed, self.ntoken, self.r.getrandbits(32))
                if plant(self.root, home, tok, model.UID[d['owner']]):
                    inc = {'address': a, 'tokens': [tok], 'status': 'live', 'created': head, 'archived': None,
                           'displaced': False, 'step': self.step}
                    self.incs[a] = inc
                    self.all_incs.append(inc)

    def reclaim_left(self, a, home):
        """A live mailbox a with no incarnation whose home (relative to ROOT, a real directory now) is
        where the mail of an earlier incarnation stayed ("left"): that mail is in its home again and goes
        where the home goes. Returns whether there was such mail.

        It is a new mailbox made where that mail stayed ("a directory already there is kept as it is",
        docs/plan.md "Mailbox storage"), or one that came back (a rollback, a re-added address) while a
        tenant was in the way of that place, its home then a pending "made" line of homes-left: once the
        tenant undoes its sabotage, the home at its computed place is that directory, and a later run
        moves it (with the mail) to a new owner or archives it like any home (docs/apply.md "Mailbox
        storage a tenant is in the way of"; docs/plan.md "Mailbox storage")."""
        left = [x for x in self.all_incs if x['address'] == a and x['status'] == 'left' and x.get('at') == home]
        if not left:
            return False
        inc = left[-1]
        inc['status'] = 'live'
        inc['stray'] = False
        self.incs[a] = inc
        self.note('%s: its home is where the mail of its earlier incarnation stayed' % a)
        return True

    def reclaim_homes(self):
        """reclaim_left for every live mailbox with no incarnation, as the tree is now: what the next
        run of mailrecon sees as that mailbox's home (before it reads the live view)."""
        for dn, d in sorted(self.model['domains'].items()):
            for l in sorted(d['mailboxes']):
                a = model.addr(l, dn)
                home = model.home_of(d['owner'], dn, l).lstrip('/')
                if a in self.incs or self.tainted(home) or not real_dir_chain(self.root, home):
                    continue
                self.reclaim_left(a, home)

    def check_mail(self, found=None):
        found = find_messages(self.root, MAIL_TREES) if found is None else found
        bad = []
        for inc in self.all_incs:
            for tok in inc['tokens']:
                where = sorted(found.get(tok, {}).values())
                n = len(where)
                if inc['status'] == 'purged':
                    ok = n == 0 or ((inc['displaced'] or inc.get('purge_missed_ok')) and n == 1)
                    want = '0 (purged)'
                else:
                    ok = n == 1
                    want = '1 (%s)' % inc['status']
                    if ok and inc.get('at') and not inc['displaced'] and \
                            (inc['status'] == 'left' or inc.get('stray')) and not where[0].startswith(inc['at'] + '/'):
                        # mail that mailrecon had no place to act on stays where it was
                        ok = False
                        want = '1 (%s), in /%s where it stayed' % (inc['status'], inc['at'])
                if not ok:
                    bad.append('message %s of %s (planted at step %d): found %d times, want %s: %s' % (
                        tok, inc['address'], inc['step'], n, want, where))
        if bad:
            raise Failure('2', 'planted mail lost or duplicated', '\n'.join(bad))
        return found

    def left_alone(self, res, verb):
        """A run that exited 1 after "Apply complete" (or "Rollback complete"): its files are applied and
        the storage a tenant got in the way of is left alone, each one said (design section 7).  Returns
        the addresses left alone, or None when res is not such a run; raises when one was left alone
        with no tenant in its way."""
        if res.rc != 1 or not re.search(r'^%s complete' % verb, res.out, re.M):
            return None
        left = set(re.findall(r"the storage of '([^']+)' is left alone", res.err))
        if not left:
            raise Failure('5', 'a run completed with exit 1 but named no storage it left alone', res.brief(3000))
        for a in sorted(left):
            if not any(self.tainted(t) for t in self.taints_of(a)) and not self.stray_in_way(a, res.err):
                raise Failure('5', 'the storage of %s was left alone, but no tenant is in its way' % a,
                              res.brief(3000))
        self.last_left |= left
        for a, p in re.findall(r"the storage of '([^']+)' is left alone: the (?:old )?home '([^']+)'", res.err):
            self.left_paths.setdefault(a, set()).add(os.path.relpath(p, self.root))
        return left

    def stray_in_way(self, a, err):
        """Whether a move of a's home was left alone because its new place is where the mail of an
        incarnation of a stayed, away from its home (where_mail_stays): 'NEW' exists already, so
        'OLD' is not moved there (docs/apply.md)."""
        places = {inc['at'] for inc in self.all_incs if inc['address'] == a and inc.get('at') and
                  inc['status'] in ('live', 'left')}
        for new in re.findall(r"the storage of '%s' is left alone: '([^']+)' exists already, so '[^']+' is not "
                              r"moved there" % re.escape(a), err):
            if os.path.relpath(new, self.root) in places:
                return True
        return False

    def taints_of(self, address):
        """Every home address may have or have had: below any tenant's tree."""
        l, _, dn = address.partition('@')
        return [model.home_of(u, dn, l).lstrip('/') for u, _ in model.POOL_USERS]

    def tainted(self, rel):
        rel = rel.strip('/')
        return any(rel == t or rel.startswith(t + '/') for t in self.taints)

    # ---- checks after a successful apply ----

    def check_success(self, st, plan_args, what='apply', scope_domains=None, left_alone=()):
        taint = bool(self.taints)
        if plan_args is not None:
            res = self.mr(['plan'] + plan_args + ['--detailed-exitcode'])
            if res.rc != 0 and not (taint and res.rc == 2):
                raise Failure('3', 'plan after a successful %s is not empty' % what, res.brief(3000))
        diffs = live.compare(self.live_files(), st)
        if diffs:
            raise Failure('3', 'the live files disagree with the desired state after a successful %s' % what,
                          '\n'.join(diffs[:30]))
        self.check_homes(st, what, scope_domains, left_alone)
        left = tmp_files(self.root)
        if left:
            raise Failure('5', 'temporary files left after a successful %s' % what, '\n'.join(left))
        if os.path.lexists(os.path.join(self.root, 'var/lib/mailrecon/journal')):
            raise Failure('5', 'the journal is left after a successful %s' % what)

    def check_homes(self, st, what, scope_domains=None, left_alone=()):
        """scope_domains: a scoped run makes no home outside its scope (it must keep those that are).
        left_alone: the mailboxes whose storage the run said it left alone (a tenant's tree was in
        the way of the home or of the old home it moves from)."""
        found = find_messages(self.root, MAIL_TREES)
        bad = []
        for dn, d in sorted(st['domains'].items()):
            for l in sorted(d['mailboxes']):
                a = model.addr(l, dn)
                home = model.home_of(d['owner'], dn, l).lstrip('/')
                if self.tainted(home) or a in left_alone or a in self.last_left:
                    continue
                if scope_domains is not None and dn not in scope_domains and (a not in self.incs or
                                                                              a in self.missing_before):
                    continue  # outside the scope: kept as it was (a pending home stays pending)
                p = os.path.join(self.root, home)
                if not real_dir_chain(self.root, home):
                    bad.append('%s: no directory at its home /%s%s' % (
                        a, home, ' (missing since before this step: a home a tenant had blocked, or lost in an '
                                 'earlier run, is not made again)' if a in self.missing_before else ''))
                    continue
                uid = os.lstat(p).st_uid
                if uid != model.UID[d['owner']]:
                    bad.append('%s: home /%s belongs to uid %d, not to %s (%d)' % (a, home, uid, d['owner'],
                                                                                   model.UID[d['owner']]))
                inc = self.incs.get(a)
                if inc and not inc['displaced'] and not self.where_mail_stays(st, a, inc):
                    for tok in inc['tokens']:
                        locs = list(found.get(tok, {}).values())
                        if not any(x.startswith(home + '/') for x in locs):
                            bad.append('%s: its mail %s is not in its home /%s but at %s' % (a, tok, home, locs))
        if bad:
            raise Failure('3', 'mailbox homes wrong after a successful %s' % what, '\n'.join(bad))

    def check_tenants(self):
        """No directory at home depth in one tenant's tree belongs to another tenant."""
        bad = []
        for u, uid in model.POOL_USERS:
            base = os.path.join(self.root, 'var/www', u, 'data/email')
            if not real_dir_chain(self.root, 'var/www/%s/data/email' % u):
                continue
            for dn in os.listdir(base):
                dp = os.path.join(base, dn)
                st = os.lstat(dp)
                if not stat.S_ISDIR(st.st_mode):
                    continue
                for x in [dp] + [os.path.join(dp, l) for l in os.listdir(dp)]:
                    st = os.lstat(x)
                    if stat.S_ISDIR(st.st_mode) and st.st_uid != uid and st.st_uid in model.UID.values():
                        bad.append('%s belongs to uid %d' % (os.path.relpath(x, self.root), st.st_uid))
        if bad:
            raise Failure('1', "a directory in a tenant's mail tree belongs to another tenant", '\n'.join(bad))

    def check_secrets(self):
        """No object of the state repository holds a private key: every loose object (reachable or
        not, which is stricter than git log -p --all) is inflated once; a pack, which mailrecon
        does not write, is searched with git log -p --all."""
        objs = os.path.join(self.root, REPO, 'objects')
        if not os.path.isdir(objs):
            return
        bad = []
        for d in os.listdir(objs):
            if len(d) != 2:
                continue
            for f in os.listdir(os.path.join(objs, d)):
                p = os.path.join(objs, d, f)
                if p in self.seen_objects:
                    continue
                self.seen_objects.add(p)
                try:
                    with open(p, 'rb') as fh:
                        data = zlib.decompress(fh.read())
                except (OSError, zlib.error):
                    continue
                if b'PRIVATE KEY' in data:
                    rc, out, err = self.git('log', '--all', '--find-object=' + d + f, '--format=commit %h %s',
                                            '--name-status')
                    where = out.decode('utf-8', 'replace').strip() or '(in no commit)'
                    kind = data.split(b'\0', 1)[0].decode('ascii', 'replace')
                    bad.append('object %s%s (%s), where: %s' % (d, f, kind, where.replace('\n', '; ')))
        packs = os.path.join(objs, 'pack')
        if os.path.isdir(packs) and any(n.endswith('.pack') for n in os.listdir(packs)):
            rc, out, err = self.git('log', '-p', '--all', '--binary')
            if b'PRIVATE KEY' in out:
                i = out.index(b'PRIVATE KEY')
                bad.append(out[max(0, out.rfind(b'\ncommit ', 0, i)):i + 200].decode('utf-8', 'replace')[-3000:])
        if bad:
            rc, out, err = self.git('log', '--all', '--format=%h %s')
            raise Failure('7', 'a private key is in the state repository',
                          '\n'.join(bad) + '\nhistory:\n' + out.decode('utf-8', 'replace')[:2000])

    def after_step(self):
        self.check_mail()
        self.check_tenants()
        self.check_secrets()

    # ---- the model after a run ----

    def success(self, st, purge, by='root'):
        """st is live now: retire the mail of deleted mailboxes, remember the revision, plant.

        by: the run's name in the registry, the --scope user or 'root' (docs/formats.md, registry)."""
        head = self.head()
        want = set(model.all_addresses(st))
        for a in list(self.incs):
            inc = self.incs[a]
            why = self.where_mail_stays(st, a, inc)
            stays = why or a in self.last_left
            if a not in want and self.pre_view is not None and self.pre_view[3].get(inc['tokens'][0]):
                # where its mail was is known: archived from there, or it stays there
                stays = why = None if self.archived_from(a, inc) else \
                    'mailrecon archives no home there, or a tenant is in the way of it there'
            if a not in want and stays:
                # its storage was left alone (a tenant in the way), or mailrecon archived (or
                # purged) its home where the live files put it and the mail is not there: the
                # mail stays where it was, not archived -- 'its mail stays where it was, for an
                # administrator to archive or remove' (docs/apply.md); a rollback that brings the
                # address back has no archive entry of it and makes a new home
                self.incs.pop(a)
                inc['status'] = 'left'
                x = (self.pre_view[3] if self.pre_view else {}).get(inc['tokens'][0])
                # (a place a tenant moved aside is where the mail is when it puts it back)
                inc.setdefault('at', re.sub(r'/\.([^/]+)\.tenant-aside(?=/|$)', r'/\1', x) if x else
                               self.mail_place(a))
                self.note('%s: its mail stays where it was (%s)' % (a, why or 'its storage was left alone'))
                continue
            if a in want and why and not inc.get('stray'):
                inc['stray'] = True
                inc['at'] = self.mail_place(a)
                self.note('%s: its mail stays where it was, not in its new home (%s)' % (a, why))
            if a not in want:
                inc = self.incs.pop(a)
                inc['status'] = 'purged' if purge else 'archived'
                inc['archived'] = head
                self.narchived += 1
                inc['archived_n'] = self.narchived
                if purge and (inc['displaced'] or inc.get('owner_edited')):
                    inc['purge_missed_ok'] = True  # the tenant had moved it away: not mailrecon's to purge
        # who disabled what (docs/plan.md "Scope", the end): an object that is disabled and stays
        # disabled keeps its disabled_by (none when it had none: disabled by hand); one the run
        # disables gets the run's name; one it enables or deletes loses it
        old_m = self.model
        new_by = {}
        for x in self.disabled_objects(st):
            if x in self.disabled_by:
                new_by[x] = self.disabled_by[x]
            elif not self._disabled_in(old_m, x):
                new_by[x] = by
        self.disabled_by = new_by
        self.model = copy.deepcopy(st)
        self.clean = True
        self.pre_view = None
        self.just_restored = set()
        if head:
            self.model_of[head] = copy.deepcopy(st)
        self.plant_new()

    @staticmethod
    def disabled_objects(st):
        """The (kind, name) of every disabled user, domain and mailbox of st."""
        out = [('user', u) for u, v in st['users'].items() if v['disabled']]
        for dn, d in st['domains'].items():
            if d['disabled']:
                out.append(('domain', dn))
            out += [('mailbox', model.addr(l, dn)) for l, mb in d['mailboxes'].items() if mb['disabled']]
        return out

    @staticmethod
    def may_undo(st, u, by):
        """Whether a run scoped to u may enable or delete what by disabled (docs/plan.md "Scope",
        "What someone else disabled stays disabled"), read from the live state st: anything when u
        is an admin; else root's never, its own, and a reseller its live users' (role user)."""
        role = st['users'][u]['role']
        if role == 'admin':
            return True
        if by == 'root':
            return False
        if by == u:
            return True
        o = st['users'].get(by)
        return role == 'reseller' and o is not None and o['role'] == 'user' and o['reseller'] == u

    def frozen_for(self, u):
        """What a run scoped to u may not enable or delete: disabled by someone u does not cover."""
        return {x for x, by in self.disabled_by.items() if not self.may_undo(self.model, u, by)}

    @staticmethod
    def _disabled_in(st, x):
        kind, name = x
        if kind == 'user':
            return name in st['users'] and st['users'][name]['disabled']
        if kind == 'domain':
            return name in st['domains'] and st['domains'][name]['disabled']
        l, _, dn = name.partition('@')
        return dn in st['domains'] and l in st['domains'][dn]['mailboxes'] and \
            st['domains'][dn]['mailboxes'][l]['disabled']

    # ---- applying a state ----

    def allow_args(self, allow):
        if allow is True:
            return ['--allow-delete']
        if allow is None or allow is False:
            return []
        return ['--allow-delete=%d' % allow]

    def choose_allow(self, dels):
        x = self.r.random()
        if x < 0.55:
            return True
        if x < 0.8:
            return None
        return 0 if (dels == 0 or self.r.random() < 0.5) else dels + self.r.randint(0, 2)

    def apply_state(self, st, allow, purge, scope=None, file_kw=None, extra_env=None, tag='apply', merged=None):
        """Apply st (or a scoped file of it), check the outcome; returns (result, applied)."""
        merged = st if merged is None else merged
        path = self.write_state(st, tag, **(file_kw or {}))
        args = ['apply', '-f', path] + self.allow_args(allow) + (['--purge'] if purge else []) + \
            (['--scope', scope] if scope else [])
        before_files = self.live_files()
        ud, dd, md, gone = live.deletions(before_files, merged, self.root)
        dels = ud + dd + md
        allowed = dels == 0 or allow is True or (isinstance(allow, int) and allow is not None and allow >= dels)
        self.note('%s: %d users, %d domains, %d mailboxes to delete%s, %s' % (
            tag, ud, dd, md, ' %s' % gone if gone else '', 'allowed' if allowed else 'not allowed'))
        before = self.root_snap()
        res = self.mr(args, extra_env=extra_env)
        if not allowed:
            if res.rc != 3:
                raise Failure('5', 'an apply that deletes %d objects without --allow-delete for them exited %s, '
                                   'not 3' % (dels, res.rc), res.brief(3000))
            self.expect_unchanged(before, res, 'a refused apply (deletions over the cap)')
            return res, False, path
        if res.rc != 0 and self.left_alone(res, 'Apply') is None:
            if res.rc in (1, 3):
                self.expect_unchanged(before, res, 'a run that exited %d' % res.rc)
            raise Failure('5', 'apply of a valid state%s exited %s, not 0' % (
                ' (--scope %s)' % scope if scope else '', res.rc), res.brief(3000))
        return res, True, path

    # ---- the operations ----

    def run(self):
        """The whole sequence; raises Failure at the first broken invariant."""
        nsteps = self.r.randint(3, 10)
        self.op = 'apply'
        self.begin_step(0)
        st = model.fresh(self.r, self.ctx['hashes'], self.ctx['dkim_rate'])
        self.note('initial state: %s' % model.summary(st))
        res, ok, path = self.apply_state(st, None, False, tag='init')
        self.check_success(st, ['-f', path])
        self.success(st, False)
        self.after_step()
        ops = [o for o in OPS if o in self.cfg.ops]
        for i in range(1, nsteps):
            if not ops:
                break
            total = sum(WEIGHTS[o] for o in ops)
            x = self.r.random() * total
            op = ops[-1]
            for o in ops:
                x -= WEIGHTS[o]
                if x < 0:
                    op = o
                    break
            self.op = op
            self.begin_step(i)
            getattr(self, 'op_' + op)()
            self.after_step()
        return self.stats

    def begin_step(self, i):
        if self.desc:
            self.history.append((self.step, self.history_op, self.desc))
        self.step = i
        self.last_left = set()
        self.left_paths = {}
        self.pre_view = None
        self.just_restored = set()
        self.history_op = self.op
        self.desc = ''
        self.stats['steps'] += 1
        # a directory a tenant made at a mailbox's place is in the way while it is there: gone
        # (mailrecon archived or purged it as a home), the place is free again; hidden by a
        # sabotage above it, it is still there
        for path, (kind, aside, displaced) in list(self.taints.items()):
            if kind == 'dir' and not os.path.lexists(os.path.join(self.root, path)) and \
                    real_dir_chain(self.root, os.path.dirname(path)):
                del self.taints[path]
        self.missing_before = {model.addr(l, dn) for dn, d in self.model['domains'].items() for l in d['mailboxes']
                               if not real_dir_chain(self.root, model.home_of(d['owner'], dn, l).lstrip('/'))}
        self.stats['ops'][self.op] = self.stats['ops'].get(self.op, 0) + 1
        if self.cfg.log:
            self.cfg.log('step %d: %s' % (i, self.op))

    def resync(self):
        """Make the live state the model again (an admin apply) before an operation that needs it."""
        if self.clean and not model.is_empty(self.model):
            return
        st = self.model if not model.is_empty(self.model) else model.fresh(self.r, self.ctx['hashes'],
                                                                            self.ctx['dkim_rate'])
        self.note('resync: apply the model first')
        res, ok, path = self.apply_state(st, True, False, tag='resync')
        self.check_success(st, ['-f', path], 'resync apply')
        self.success(st, False)

    def fallback_apply(self, why):
        """This operation cannot run on this state: an ordinary apply instead, counted as one."""
        self.note('%s: an apply instead' % why)
        self.stats['ops'][self.op] -= 1
        self.op = self.history_op = 'apply'
        self.stats['ops']['apply'] = self.stats['ops'].get('apply', 0) + 1
        self.op_apply()

    def op_apply(self):
        st, what = model.mutate(self.r, self.model, self.ctx)
        self.note('mutations: %s' % ', '.join(what))
        dels = sum(live.deletions(self.live_files(), st, self.root)[:3])
        allow = self.choose_allow(dels)
        purge = self.r.random() < 0.3
        res, ok, path = self.apply_state(st, allow, purge)
        if ok:
            self.check_success(st, ['-f', path])
            self.success(st, purge)

    # -- scoped applies --

    def scope_sets(self, st, u):
        role = st['users'][u]['role']
        if role == 'admin':
            return set(st['users']), set(st['domains'])
        users = {u} | ({x for x, v in st['users'].items() if v['reseller'] == u} if role == 'reseller' else set())
        return users, {dn for dn, d in st['domains'].items() if d['owner'] in users}

    def file_state(self, st, users, domains, u):
        """The scoped file: the scope's users (u's reseller link left out: it is outside) and domains."""
        f = model.empty_state()
        for x in users:
            f['users'][x] = copy.deepcopy(st['users'][x])
        if st['users'][u]['role'] == 'user':
            f['users'][u]['reseller'] = None
        for dn in domains:
            f['domains'][dn] = copy.deepcopy(st['domains'][dn])
        return f

    def op_scope(self):
        if not self.model['users']:
            self.fallback_apply('no user')
            return
        self.resync()
        m = self.model
        cands = sorted(m['users'])
        u = self.r.choice(cands)
        role = m['users'][u]['role']
        hostile = role != 'admin' and self.r.random() < 0.5
        if hostile:
            self.scope_hostile(u)
        else:
            self.scope_honest(u)

    def scope_honest(self, u):
        m = self.model
        role = m['users'][u]['role']
        self.variant('honest-%s' % role)
        if role == 'admin':
            # an admin's scope may change everyone's settings but its own: its role, reseller,
            # disabled flag and limits are the live ones, and its own domains and mailboxes must fit
            # them (docs/plan.md "Scope": "USER's own settings are the live ones", "Limits hold on
            # what the server becomes ... (and always of USER itself)"). repair() raises the limits
            # to fit what the mutations added, so u's are put back and a state over them is drawn again
            for _try in range(6):
                merged, what = model.mutate(self.r, m, self.ctx)
                merged['users'][u] = copy.deepcopy(m['users'][u])
                for x, v in merged['users'].items():
                    if v['reseller'] and v['reseller'] not in merged['users']:
                        v['reseller'] = None
                model.repair(merged)
                if merged['users'][u] == m['users'][u]:
                    break
                merged['users'][u] = copy.deepcopy(m['users'][u])
                if not self.over_own_limits(m, merged, u):
                    break
            else:
                merged, what = copy.deepcopy(m), []
            fstate = merged
        else:
            merged, what = self.honest_mutation(u)
            users, domains = self.scope_sets(merged, u)
            fstate = self.file_state(merged, users, domains, u)
        self.note('scope %s (%s): %s' % (u, role, ', '.join(what) or 'no change'))
        dels = sum(live.deletions(self.live_files(), merged, self.root)[:3])
        allow = self.choose_allow(dels)
        purge = self.r.random() < 0.3
        res, ok, path = self.apply_state(fstate, allow, purge, scope=u, tag='scope-%s' % u, merged=merged)
        if ok:
            self.check_success(merged, ['--scope', u, '-f', path], 'scoped apply',
                               scope_domains=self.scope_sets(merged, u)[1] | self.scope_sets(self.model, u)[1])
            full = self.write_state(merged, 'merged')
            res2 = self.mr(['plan', '-f', full, '--detailed-exitcode'])
            # a scoped run leaves the homes the others have pending (homes-left) to a run that
            # covers them: the whole state's plan may have those, and nothing else
            pending_only = res2.rc == 2 and 'No object changes; the mailbox homes above are made again' in res2.out
            if res2.rc != 0 and not (self.taints and res2.rc == 2) and not pending_only:
                raise Failure('3', 'after an honest scoped apply, the whole state (live outside the scope + the '
                                   'scoped file) does not plan empty', res2.brief(3000))
            self.success(merged, purge, by=u)

    @staticmethod
    def over_own_limits(m, st, u):
        """Whether st gives u (not a reseller) more domains or mailboxes than its limits in m allow,
        where the count rises (one that is over already and does not rise is no refusal)."""
        lim = m['users'][u]['limits']
        nd0, nm0 = model.counts(m)
        nd, nm = model.counts(st)
        return any(lim[k] is not None and new.get(u, 0) > lim[k] and new.get(u, 0) > old.get(u, 0)
                   for k, old, new in (('mail_domains', nd0, nd), ('mailboxes', nm0, nm)))

    def honest_mutation(self, u):
        """Changes u may make to its own objects, within its live limits; (merged state, what)."""
        m = self.model
        users, domains = self.scope_sets(m, u)
        frozen = self.frozen_for(u)
        owners = sorted(x for x in users if m['users'][x]['role'] == 'user')
        ctx = dict(self.ctx, frozen=frozen, no_enable=True, no_disable=True)

        def free(s):
            # the scope's domains as they are now (a mutation may have added or removed one)
            return sorted(dn for dn, d in s['domains'].items() if d['owner'] in users and
                          ('domain', dn) not in frozen and not d['disabled'])
        table = [
            (lambda r, s: model.m_add_mailbox(r, s, ctx, domains=free(s)), 4),
            (lambda r, s: model.m_del_mailbox(r, s, ctx, domains=free(s)), 2),
            (lambda r, s: model.m_rename_mailbox(r, s, ctx, domains=free(s)), 1),
            (lambda r, s: model.m_alias(r, s, ctx, domains=free(s)), 2),
            (lambda r, s: model.m_copy(r, s, ctx, domains=free(s)), 2),
            (lambda r, s: model.m_mailbox_attr(r, s, ctx, domains=free(s)), 2),
            (lambda r, s: model.m_mailbox_disable(r, s, ctx, domains=free(s)), 1),
            (lambda r, s: model.m_domain_flag(r, s, ctx, domains=free(s)), 1),
            (lambda r, s: model.m_domain_action(r, s, ctx, domains=free(s)), 1),
            (lambda r, s: model.m_add_domain(r, s, ctx, owners=owners, taken=set(m['domains'])), 1),
            # not a domain with a mailbox disabled by someone u does not cover: u cannot delete it
            (lambda r, s: model.m_del_domain(r, s, ctx, domains=[
                dn for dn in free(s) if not any(('mailbox', model.addr(l, dn)) in frozen
                                                for l in s['domains'][dn]['mailboxes'])]), 0.5),
        ]
        if m['users'][u]['role'] == 'reseller' and 'owner' not in self.cfg.without_mutations:
            table.append((lambda r, s: model.m_domain_owner(r, s, ctx, domains=free(s), owners=owners), 1))
        for _try in range(6):
            st = copy.deepcopy(m)
            what = []
            for _ in range(self.r.randint(1, 3)):
                f = model.weighted(self.r, table)
                w = f(self.r, st)
                if w:
                    what.append(w)
            model.repair(st, raise_limits=False)
            # a mailbox's own send limit stays within its owner's (an admin's higher one is kept)
            if m['users'][u]['role'] != 'admin':
                for dn, d in st['domains'].items():
                    lim = m['users'].get(d['owner'], {}).get('limits', {}).get('rate_per_hour')
                    if d['owner'] not in users or lim is None:
                        continue
                    old = m['domains'].get(dn)
                    for l, mb in d['mailboxes'].items():
                        om = old['mailboxes'].get(l) if old and old['owner'] == d['owner'] else None
                        if mb['rate_per_hour'] is not None and mb['rate_per_hour'] > lim and \
                                not (om and om['rate_per_hour'] == mb['rate_per_hour']):
                            mb['rate_per_hour'] = lim
            outside_same = all(st['domains'].get(dn) == d for dn, d in m['domains'].items() if dn not in domains) \
                and all(st['users'][x] == v for x, v in m['users'].items())
            if outside_same and not model.limit_violations(st) and all(
                    d['owner'] in users for dn, d in st['domains'].items() if dn not in m['domains'] or dn in domains):
                return st, what
        return copy.deepcopy(m), []

    def scope_hostile(self, u):
        m = self.model
        role = m['users'][u]['role']
        users, domains = self.scope_sets(m, u)
        f = self.file_state(m, users, domains, u)
        outside_domains = sorted(dn for dn, d in m['domains'].items() if dn not in domains)
        outside_users = sorted(x for x in m['users'] if x not in users)
        owners_in = sorted(x for x in users if m['users'][x]['role'] == 'user')
        choices = ['escalate']
        lim = m['users'][u]['limits']
        if lim['mailboxes'] is not None or lim['mail_domains'] is not None:
            choices.append('raise-limits')
        res_of = m['users'][u]['reseller']
        if role == 'user' and res_of and m['users'][res_of]['limits']['mailboxes'] is not None and domains:
            choices.append('reseller-total')
        if outside_domains and owners_in:
            choices.append('foreign-domain')
        # what an admin, or a reseller over u, disabled: u may not enable it
        enable = sorted(x for x in self.frozen_for(u) if
                        (x[0] == 'user' and x[1] in users) or (x[0] == 'domain' and x[1] in domains) or
                        (x[0] == 'mailbox' and x[1].partition('@')[2] in domains))
        if enable:
            choices.append('enable-others-disabled')
        if outside_users:
            choices.append('foreign-user')
        v = self.r.choice(choices)
        self.variant('hostile-' + v)
        if v == 'escalate':
            f['users'][u]['role'] = 'admin'
            f['users'][u]['reseller'] = None
            for x in users - {u}:
                f['users'][x]['reseller'] = None  # the reseller is now an admin in the file
            what = '%s claims role admin and drops every other user\'s objects' % u
        elif v == 'raise-limits':
            for k in ('mailboxes', 'mail_domains'):
                if lim[k] is not None:
                    f['users'][u]['limits'][k] = lim[k] + 50
            added = []
            for dn in sorted(f['domains']):
                d = f['domains'][dn]
                # its own domains: mailboxes in its users' would break their limits, which the
                # file declares too, and make the file invalid (exit 1) before any scope rule
                if d['owner'] == u:
                    for _ in range(2):
                        l = model.free_local(self.r, d)
                        if l and len(d['mailboxes']) < model.MAX_MAILBOXES:
                            d['mailboxes'][l] = model.new_mailbox(self.r, self.ctx['hashes'])
                            added.append(model.addr(l, dn))
            what = '%s raises its limits to %s and adds %s' % (u, f['users'][u]['limits'], added)
        elif v == 'reseller-total':
            rl = m['users'][res_of]['limits']['mailboxes']
            _, total = model.reseller_totals(m, res_of)
            need = rl - total + 1
            added = []
            for dn in sorted(f['domains']):
                d = f['domains'][dn]
                while need > 0 and len(d['mailboxes']) < model.MAX_MAILBOXES + 3:
                    l = model.free_local(self.r, d)
                    if not l:
                        break
                    d['mailboxes'][l] = model.new_mailbox(self.r, self.ctx['hashes'])
                    added.append(model.addr(l, dn))
                    need -= 1
            if lim['mailboxes'] is not None:
                f['users'][u]['limits']['mailboxes'] = max(lim['mailboxes'], model.counts(f)[1].get(u, 0))
            what = '%s adds %s over its reseller %s\'s limit of %d mailboxes' % (u, added, res_of, rl)
        elif v == 'foreign-domain':
            dn = self.r.choice(outside_domains)
            d = f['domains'][dn] = copy.deepcopy(m['domains'][dn])
            old = d['owner']
            d['owner'] = self.r.choice(owners_in)
            if d['action'][0] == 'redirect_domain' and d['action'][1] in m['domains']:
                d['action'] = ('reject',)
            if d['mailboxes'] and self.r.random() < 0.5:
                d['mailboxes'].pop(sorted(d['mailboxes'])[0])
            if f['users'][d['owner']]['limits']['mail_domains'] is not None:
                f['users'][d['owner']]['limits']['mail_domains'] += 1
            if f['users'][d['owner']]['limits']['mailboxes'] is not None:
                f['users'][d['owner']]['limits']['mailboxes'] += len(d['mailboxes'])
            what = "%s declares %s's domain %s as its own" % (u, old, dn)
        elif v == 'enable-others-disabled':
            kind, name = self.r.choice(enable)
            if kind == 'user':
                f['users'][name]['disabled'] = False
                f['users'][name]['enable'] = True
            elif kind == 'domain':
                f['domains'][name]['disabled'] = False
            else:
                l, _, dn = name.partition('@')
                f['domains'][dn]['mailboxes'][l]['disabled'] = False
            what = '%s enables %s %s, which %s disabled' % (u, kind, name, self.disabled_by[(kind, name)])
        else:
            x = self.r.choice(outside_users)
            fu = f['users'][x] = copy.deepcopy(m['users'][x])
            fu['reseller'] = fu['reseller'] if fu['reseller'] in f['users'] else None
            fu['limits']['mailboxes'] = 1000
            if fu['role'] == 'reseller':
                fu['role'] = 'user'
            what = '%s declares user %s (outside its scope) with limits.mailboxes 1000' % (u, x)
        # a file that would not validate is a generator error, not a scope test
        for dn, d in f['domains'].items():
            d['mailboxes'] = dict(sorted(d['mailboxes'].items()))
        model.repair(f, raise_limits=(v != 'raise-limits' and v != 'reseller-total'))
        if v == 'reseller-total' and model.limit_violations(f):
            model.repair(f)
        self.note(what)
        path = self.write_state(f, 'hostile-%s' % u)
        purge = self.r.random() < 0.5
        before = self.root_snap()
        res = self.mr(['apply', '-f', path, '--scope', u, '--allow-delete'] + (['--purge'] if purge else []))
        if res.rc != 3:
            raise Failure('scope', 'a hostile scoped apply (%s) exited %s, not 3' % (v, res.rc),
                          '%s\n%s' % (what, res.brief(3000)))
        self.expect_unchanged(before, res, 'a hostile scoped apply was refused', invariant='scope')

    # -- hand edits of the live files --

    def edit_lines(self, rel, fn):
        p = os.path.join(self.root, rel)
        data = read_rel(self.root, rel)
        lines = data.decode('utf-8', 'surrogateescape').split('\n') if data else []
        if lines and lines[-1] == '':
            lines.pop()
        new = fn(lines)
        if new is None:
            return False
        out = ('\n'.join(new) + '\n').encode('utf-8', 'surrogateescape') if new else b''
        if not os.path.exists(p):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        else:
            fd = os.open(p, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
        with os.fdopen(fd, 'wb') as f:
            f.write(out)
        return True

    @staticmethod
    def root_dovecot_line(rfiles):
        """The number of the first line of a revision's dovecot.passwd that is a mailbox record
        (active, or disabled as '#ADDRESS:...') with uid or gid 0, or None (docs/formats.md,
        dovecot-passwd: ADDRESS:PASSWORD:UID:GID::HOME::EXTRA; UID and GID decimal, no leading zero)."""
        num = re.compile(r'(0|[1-9][0-9]*)?$')
        for n, raw in enumerate(live.text_lines(rfiles.get('etc/dovecot/dovecot.passwd')), 1):
            s = raw
            if not s.strip(' \t'):
                continue
            if s[0] == '#':
                if len(s) < 2 or s[1] in ' \t#':
                    continue
                s = s[1:]
            f = s.rstrip(' \t').split(':', 7)
            if len(f) < 4 or '@' not in f[0] or re.search(r'\s', f[1]) or \
                    not num.match(f[2]) or not num.match(f[3]):
                continue
            if f[2] == '0' or f[3] == '0':
                return n
        return None

    def unsafe_dovecot_line(self, rfiles, lineno, address):
        """Why line lineno of a revision's dovecot.passwd (for address) must not be put back, seen
        independently of mailrecon: a uid/gid not its domain owner's (per the revision's exim
        passwd), a home not the mailbox's place, the nine-field form or a field that moves the
        mail; None when it is safe."""
        lines = (rfiles.get('etc/dovecot/dovecot.passwd') or b'').decode('utf-8', 'replace').split('\n')
        if lineno < 1 or lineno > len(lines):
            return None
        f = lines[lineno - 1].lstrip('#').split(':')
        if f[0].lower() != address or len(f) < 6:
            return None
        l, _, dn = address.partition('@')
        owners = {v['words'].get('owner') for k, v in live.parse_exim_passwd(
            rfiles.get('etc/exim4/passwd') or b'').items() if k.endswith('@' + dn)}
        owners.discard(None)
        if len(owners) != 1:
            return 'the owner of %s is not one user in the exim passwd (%s)' % (dn, sorted(owners))
        o = owners.pop()
        if o not in model.UID or f[2] != str(model.UID[o]) or f[3] != str(model.UID[o]):
            return 'uid:gid %s:%s, owner %s' % (f[2], f[3], o)
        if f[5].rstrip('/') != model.home_of(o, dn, l):
            return 'home %s' % f[5]
        extra = ':'.join(f[7:]) if len(f) > 7 else ''
        if extra.startswith(':') or re.search(r'(^|\s)(userdb_)?(uid|gid|home|mail)=', extra):
            return 'extra fields %s' % extra
        return None

    def hostile_home(self, owner, dn, l):
        others = [(d2['owner'], n2, l2) for n2, d2 in self.model['domains'].items() for l2 in d2['mailboxes']
                  if (n2, l2) != (dn, l)]
        kinds = ['/', '/../../x', 'domain', 'decoy', 'decoy-abs', '/var/www/%s' % owner]
        if others:
            kinds.append('other')
        k = self.r.choice(kinds)
        if k == 'domain':
            return '/var/www/%s/data/email/%s' % (owner, dn)
        if k == 'decoy':
            return '/../decoy/data/email/%s/%s' % (self.r.choice(['a.example', 'b.example']), 'info')
        if k == 'decoy-abs':
            return os.path.join(self.decoy, 'data/email/a.example/info')
        if k == 'other':
            o, n2, l2 = self.r.choice(sorted(others))
            return model.home_of(o, n2, l2)
        return k

    def op_edit(self):
        m = self.model
        mbs = [(dn, l, d['owner']) for dn, d in sorted(m['domains'].items()) for l in sorted(d['mailboxes'])]
        doms = sorted(m['domains'])
        kinds = ['exim-append', 'exim-remove', 'exim-alter', 'aliases-append', 'aliases-remove', 'domains-append',
                 'domains-remove', 'domains-alter', 'dovecot-append', 'dovecot-remove', 'dovecot-alter',
                 'dovecot-home', 'dovecot-home', 'dovecot-home', 'inject', 'inject', 'ssl-key', 'ssl-subdir',
                 'ssl-symlink']
        kind = self.r.choice(kinds)
        target = None
        if kind in ('exim-remove', 'exim-alter', 'dovecot-remove', 'dovecot-alter', 'dovecot-home') and not mbs:
            kind = 'inject'
        if kind in ('domains-remove', 'domains-alter', 'inject', 'exim-append', 'dovecot-append',
                    'aliases-append') and not doms:
            kind = 'domains-append'
        self.variant(kind)
        r = self.r
        if kind in ('exim-append', 'dovecot-append', 'inject'):
            dn = r.choice(doms)
            d = m['domains'][dn]
            l = model.free_local(r, d, model.LOCAL_POOL + ['intruder', 'x1', 'panel-new'])
            a = model.addr(l, dn)
            uid = model.UID[d['owner']]
            home = self.hostile_home(d['owner'], dn, l) if kind == 'inject' or r.random() < 0.5 else \
                model.home_of(d['owner'], dn, l)
            if kind in ('exim-append', 'inject'):
                self.edit_lines('etc/exim4/passwd', lambda ls: ls + ['%s:owner=%s' % (a, d['owner'])])
            if kind in ('dovecot-append', 'inject'):
                self.edit_lines('etc/dovecot/dovecot.passwd', lambda ls: ls + ['%s:%s:%d:%d::%s::' % (
                    a, r.choice(self.ctx['hashes']), uid, uid, home)])
            target = (dn, l)
            self.note('appended %s%s' % (a, ' (dovecot home %s)' % home if kind != 'exim-append'
                                         else ' to etc/exim4/passwd only'))
        elif kind in ('exim-remove', 'dovecot-remove'):
            dn, l, o = r.choice(mbs)
            a = model.addr(l, dn)
            rel = 'etc/exim4/passwd' if kind == 'exim-remove' else 'etc/dovecot/dovecot.passwd'
            self.edit_lines(rel, lambda ls: [x for x in ls if not x.lstrip('#').startswith(a + ':')])
            self.note('removed the line of %s from %s' % (a, rel))
        elif kind == 'exim-alter':
            dn, l, o = r.choice(mbs)
            a = model.addr(l, dn)
            others = [u for u in sorted(m['users']) if u != o]
            how = r.choice(['disable', 'owner', 'save', 'comment'] if others else ['disable', 'save', 'comment'])

            def alter(ls):
                out = []
                for x in ls:
                    if x.startswith(a + ':'):
                        if how == 'disable':
                            x = x + ' disabled=self' if 'disabled=' not in x else x.replace(' disabled=self', '')
                        elif how == 'owner':
                            other = r.choice(others)
                            x = x.replace('owner=%s' % o, 'owner=%s' % other)
                            # the live owner is a lie now: mailrecon archives (or purges) the
                            # home where the live files say it is, never a place it guesses
                            for inc in self.incs.values():
                                if inc['address'].partition('@')[2] == dn:
                                    inc['owner_edited'] = True
                        elif how == 'save':
                            x = x + ' save=no' if 'save=no' not in x else x.replace(' save=no', '')
                        else:
                            x = '#' + x
                    out.append(x)
                return out
            self.edit_lines('etc/exim4/passwd', alter)
            target = (dn, l)
            self.note('exim passwd line of %s: %s' % (a, how))
        elif kind in ('dovecot-alter', 'dovecot-home'):
            dn, l, o = r.choice(mbs)
            a = model.addr(l, dn)
            how = 'home' if kind == 'dovecot-home' else r.choice(['hash', 'uid0', 'comment', 'home'])
            home = self.hostile_home(o, dn, l)

            def alter(ls):
                out = []
                for x in ls:
                    if x.lstrip('#').startswith(a + ':'):
                        f = x.split(':')
                        if how == 'hash' and len(f) > 1:
                            f[1] = r.choice(self.ctx['hashes'])
                        elif how == 'uid0' and len(f) > 3:
                            f[2] = f[3] = '0'
                        elif how == 'home' and len(f) > 5:
                            f[5] = home
                        elif how == 'comment' and not x.startswith('#'):
                            f[0] = '#' + f[0]
                        x = ':'.join(f)
                    out.append(x)
                return out
            self.edit_lines('etc/dovecot/dovecot.passwd', alter)
            target = (dn, l)
            self.note('dovecot line of %s: %s%s' % (a, how, ' = %s' % home if how == 'home' else ''))
        elif kind == 'aliases-append':
            dn = r.choice(doms)
            d = m['domains'][dn]
            l = model.free_local(r, d, model.LOCAL_POOL + ['stray'])
            mains = sorted(d['mailboxes']) or ['nobody']
            self.edit_lines('etc/exim4/aliases', lambda ls: ls + ['%s:%s:fwd' % (model.addr(l, dn),
                                                                                 model.addr(r.choice(mains), dn))])
        elif kind == 'aliases-remove':
            if not self.edit_lines('etc/exim4/aliases', lambda ls: ls[:-1] if ls else None):
                self.note('no aliases file')
        elif kind == 'domains-append':
            dn = model.free_domain(r, set(doms)) or 'stray.example'
            self.edit_lines('etc/exim4/domains', lambda ls: ls + ['%s: :fail: No such user here' % dn])
            self.note('appended domain %s' % dn)
        elif kind == 'domains-remove':
            dn = r.choice(doms)
            self.edit_lines('etc/exim4/domains', lambda ls: [x for x in ls if not x.lstrip('#').startswith(dn + ':')])
            self.note('removed domain %s' % dn)
        elif kind == 'domains-alter':
            dn = r.choice(doms)
            new = r.choice(['#%s: :fail: No such user here' % dn, '%s: :blackhole:' % dn,
                            '%s: @%s' % (dn, r.choice(model.REMOTE_DOMAINS))])
            self.edit_lines('etc/exim4/domains', lambda ls: [new if x.lstrip('#').startswith(dn + ':') else x
                                                              for x in ls])
            self.note('domain line: %s' % new)
        else:
            ssl = os.path.join(self.root, 'etc/exim4/ssl')
            if not os.path.isdir(ssl):
                os.mkdir(ssl, 0o750)
            if kind == 'ssl-key':
                n = r.choice(['legacy.pem', 'x.key.bak', 'old.example.key', 'backup.private'])
                with open(os.path.join(ssl, n), 'w') as fh:
                    fh.write(self.cfg.private_key)
                os.chmod(os.path.join(ssl, n), 0o600)
                self.note('a private key as etc/exim4/ssl/%s' % n)
            elif kind == 'ssl-subdir':
                os.makedirs(os.path.join(ssl, 'live/mail.example'), exist_ok=True)
                with open(os.path.join(ssl, 'live/mail.example/privkey.pem'), 'w') as fh:
                    fh.write(self.cfg.private_key)
                self.note('a certbot-style sub-directory with a private key in etc/exim4/ssl')
            else:
                n = r.choice(['other.example.key', 'shared.pem'])
                if not os.path.lexists(os.path.join(ssl, n)):
                    os.symlink(os.path.join(self.decoy, 'secret/id_rsa'), os.path.join(ssl, n))
                self.note('etc/exim4/ssl/%s: a symlink to a private key outside ROOT' % n)
        self.clean = False
        if self.r.random() < 0.3 and not model.is_empty(m):
            path = self.write_state(m, 'drift')
            before = snapshot(self.root, dir_mtime=False)
            res = self.mr(['drift', '-f', path])
            if res.rc not in (0, 2):
                raise Failure('5', 'drift after a hand edit exited %s, not 0 or 2' % res.rc, res.brief(3000))
            after = snapshot(self.root, dir_mtime=False)
            if after != before:
                raise Failure('5', 'drift is read-only but it changed the tree', diff_snap(before, after))
        if self.r.random() < 0.75 and not model.is_empty(m):
            # the next apply meets the edit; half of the time it deletes the edited mailbox
            st, what = model.mutate(self.r, m, self.ctx, n=self.r.randint(0, 2) or 1)
            if target and self.r.random() < 0.5:
                dn, l = target
                if dn in st['domains'] and l in st['domains'][dn]['mailboxes']:
                    del st['domains'][dn]['mailboxes'][l]
                    model.repair(st)
                    what.append('delete the edited mailbox %s' % model.addr(l, dn))
            self.note('then apply: %s' % ', '.join(what))
            purge = self.r.random() < 0.5
            dels = sum(live.deletions(self.live_files(), st, self.root)[:3])
            res, ok, path = self.apply_state(st, self.choose_allow(dels), purge)
            if ok:
                self.check_success(st, ['-f', path])
                self.success(st, purge)

    # -- tenants --

    def rel_link(self, frm_rel, to_abs):
        return os.path.relpath(to_abs, os.path.dirname(os.path.join(self.root, frm_rel)))

    def op_tenant(self):
        m = self.model
        owners = sorted({d['owner'] for d in m['domains'].values()})
        if not owners:
            self.fallback_apply('no domain')
            return
        r = self.r
        o = r.choice(owners)
        uid = model.UID[o]
        doms = sorted(dn for dn, d in m['domains'].items() if d['owner'] == o)
        dn = r.choice(doms)
        d = m['domains'][dn]
        kind = r.choice(['data', 'email', 'domain', 'domain', 'home', 'newhome', 'newhome', 'fifo', 'file',
                         'hardlink', 'inner-symlink'])
        if kind in ('home', 'hardlink', 'inner-symlink') and not d['mailboxes']:
            kind = 'newhome'
        self.variant(kind)
        st = copy.deepcopy(m)
        what = []
        new_local = None
        if kind in ('newhome', 'fifo', 'file') or r.random() < 0.5:
            new_local = model.free_local(r, st['domains'][dn])
            if new_local and len(st['domains'][dn]['mailboxes']) < model.MAX_MAILBOXES + 1:
                st['domains'][dn]['mailboxes'][new_local] = model.new_mailbox(r, self.ctx['hashes'])
                what.append('add mailbox %s' % model.addr(new_local, dn))
            else:
                new_local = None
        existing = sorted(d['mailboxes'])
        if existing and r.random() < 0.5:
            l = r.choice(existing)
            del st['domains'][dn]['mailboxes'][l]
            what.append('delete mailbox %s' % model.addr(l, dn))
        other_owners = [x for x in model.owners_ok(st) if x != o]
        if other_owners and r.random() < 0.25 and 'owner' not in self.cfg.without_mutations:
            st['domains'][dn]['owner'] = r.choice(other_owners)
            what.append('domain %s: owner %s -> %s' % (dn, o, st['domains'][dn]['owner']))
        model.repair(st)
        # the tenant's work
        email = 'var/www/%s/data/email' % o
        other = [(x['owner'], n2, l2) for n2, x in sorted(m['domains'].items()) if x['owner'] != o
                 for l2 in sorted(x['mailboxes'])]
        decoy_dom = os.path.join(self.decoy, 'data/email', dn if os.path.isdir(
            os.path.join(self.decoy, 'data/email', dn)) else 'a.example')
        if kind == 'data':
            path = 'var/www/%s/data' % o
            target = os.path.join(self.decoy, 'data')
        elif kind == 'email':
            path = email
            target = os.path.join(self.decoy, 'data/email')
        elif kind == 'domain':
            path = '%s/%s' % (email, dn)
            if other and r.random() < 0.5:
                po, pd, pl = r.choice(other)
                target = os.path.join(self.root, 'var/www/%s/data/email/%s' % (po, pd))
            else:
                target = decoy_dom
        elif kind == 'home':
            l = r.choice(existing)
            path = '%s/%s/%s' % (email, dn, l)
            if other and r.random() < 0.5:
                po, pd, pl = r.choice(other)
                target = os.path.join(self.root, model.home_of(po, pd, pl).lstrip('/'))
            else:
                target = os.path.join(decoy_dom, 'info')
        elif kind in ('newhome', 'fifo', 'file'):
            path = '%s/%s/%s' % (email, dn, new_local or 'spare')
            target = os.path.join(decoy_dom, 'info') if kind == 'newhome' else None
        else:
            l = r.choice(existing)
            path = '%s/%s/%s/.maildir/cur/%s' % (email, dn, l, 'evil-link' if kind == 'inner-symlink' else 'evil-hard')
            target = r.choice([os.path.join(self.decoy, 'secret/id_rsa'),
                               os.path.join(self.root, 'srv/private/secret.txt')])
        full = os.path.join(self.root, path)
        aside = None
        displaced = []
        if not self.make_tenant_chain(os.path.dirname(path), uid):
            self.note('an earlier sabotage is in the way of %s' % path)
            kind = None
        if kind is None:
            pass
        elif kind in ('hardlink', 'inner-symlink'):
            if not real_dir_chain(self.root, os.path.dirname(path)) or os.path.lexists(full):
                self.note('the home is not a real directory; nothing planted')
                kind = None
            elif kind == 'hardlink':
                os.link(target, full)
            else:
                os.symlink(target, full)
        else:
            if os.path.lexists(full) and self.tainted(path):
                self.note('%s is already replaced; left as it is' % path)
                kind = None
            elif os.path.lexists(full):
                aside = os.path.join(os.path.dirname(full), '.%s.tenant-aside' % os.path.basename(full))
                if os.path.lexists(aside):
                    aside = None
                    self.note('%s is already replaced; left as it is' % path)
                    kind = None
                else:
                    os.rename(full, aside)
                    for inc in self.incs.values():
                        l2, _, dn2 = inc['address'].partition('@')
                        if dn2 in m['domains']:
                            h = model.home_of(m['domains'][dn2]['owner'], dn2, l2).lstrip('/')
                            if inc.get('stray') and inc.get('at'):
                                h = inc['at']  # its mail is where it stayed
                            if h == path or h.startswith(path + '/'):
                                inc['displaced'] = True
                                displaced.append(inc)
                    for inc in self.all_incs:
                        # the mail of an earlier incarnation that stayed in this tree goes aside too
                        h = inc.get('at')
                        if inc['status'] == 'left' and h and (h == path or h.startswith(path + '/')):
                            inc['displaced'] = True
                            displaced.append(inc)
            if kind is not None:
                if kind == 'fifo':
                    os.mkfifo(full)
                elif kind == 'file':
                    with open(full, 'w') as fh:
                        fh.write('not a directory\n')
                else:
                    os.symlink(target if r.random() < 0.5 else self.rel_link(path, target), full)
                os.lchown(full, uid, uid)
                self.taints[path] = (kind, aside, displaced)
        if kind is not None:
            self.note('tenant %s: %s %s -> %s' % (o, kind, path, target))
        self.note('then apply: %s' % ', '.join(what))
        purge = r.random() < 0.4
        path_y = self.write_state(st, 'tenant')
        before = self.root_snap()
        res = self.mr(['apply', '-f', path_y, '--allow-delete'] + (['--purge'] if purge else []))
        if res.rc == 0 or self.left_alone(res, 'Apply') is not None:
            self.check_success(st, ['-f', path_y])
            self.success(st, purge)
        elif res.rc == 1:
            self.expect_unchanged(before, res, 'an apply that failed on a hostile tenant tree')
        else:
            raise Failure('5', 'an apply over a hostile tenant tree exited %s (0 or 1 expected)' % res.rc,
                          res.brief(3000))
        self.check_mail()
        if r.random() < 0.6:
            self.undo_tenant()

    def make_tenant_chain(self, rel, uid):
        """The tenant's directories down to rel (as the tenant would make them), where missing."""
        parts = rel.split('/')
        if not real_dir_chain(self.root, '/'.join(parts[:3])):
            return False  # var/www/OWNER itself is gone (an earlier run removed it)
        for i in range(4, len(parts) + 1):
            p = os.path.join(self.root, *parts[:i])
            if not os.path.lexists(p):
                os.mkdir(p, 0o750)
                os.chown(p, uid, uid)
                if i == 7:
                    # a directory at a mailbox's place (var/www/OWNER/data/email/DOMAIN/LOCAL) that
                    # the tenant made: a move to it while the old home is still there is left
                    # alone, and said again by every later apply (exit 1) until one of the two is
                    # gone ('NEW' exists already, so 'OLD' is not moved there: docs/apply.md).
                    # The tenant keeps it (undo_tenant leaves it)
                    rel_home = '/'.join(parts[:i])
                    self.taints[rel_home] = ('dir', None, [])
                    self.note('tenant made the directory %s' % rel_home)
            elif not real_dir_chain(self.root, '/'.join(parts[:i])):
                return False  # an earlier sabotage is in the way
        return True

    def undo_tenant(self):
        for path, (kind, aside, displaced) in sorted(self.taints.items()):
            full = os.path.join(self.root, path)
            if kind == 'dir':
                continue  # a real directory the tenant made (with what it planted in it): it stays
            if os.path.lexists(full):
                mode = os.lstat(full).st_mode
                if (kind == 'fifo' and stat.S_ISFIFO(mode)) or (kind == 'file' and stat.S_ISREG(mode)) or \
                        (kind not in ('fifo', 'file') and stat.S_ISLNK(mode)):
                    os.unlink(full)
            if aside and os.path.lexists(aside):
                if not os.path.lexists(full):
                    os.rename(aside, full)
                    for inc in displaced:
                        inc['displaced'] = False
                    self.note('tenant undid %s' % path)
                else:
                    self.note('tenant could not undo %s (something is there now)' % path)
            else:
                self.note('tenant removed %s' % path)
            del self.taints[path]

    # -- a managed directory made a symlink --

    def op_mdir(self):
        r = self.r
        m = self.model
        dirs = ['etc/postgrey', 'etc/mail/spamassassin', 'etc/dovecot', 'etc/mailrecon', 'etc/exim4',
                'var/lib/mailrecon', 'var/log']
        rel = r.choice(dirs)
        self.variant(rel)
        st, what = model.mutate(r, m, self.ctx, n=1)
        # make sure this apply has to write below rel: a domain to change, a mailbox to add
        if not any(len(d['mailboxes']) < model.MAX_MAILBOXES for d in st['domains'].values()):
            if not model.owners_ok(st):
                st['users'][sorted(st['users'])[0] if st['users'] else 'ann'] = model.new_user(r)
            what.append(model.m_add_domain(r, st, self.ctx) or '')
        doms = sorted(st['domains'])
        if rel in ('etc/postgrey', 'etc/mail/spamassassin') and doms:
            # a whitelist entry to add (flag off), or one of a live domain to remove
            k = 'greylisting' if rel == 'etc/postgrey' else 'spamassassin'
            on = [dn for dn in doms if st['domains'][dn][k]]
            live_off = [dn for dn in doms if not st['domains'][dn][k] and dn in m['domains'] and
                        not m['domains'][dn][k]]
            dn = r.choice(on) if on else (r.choice(live_off) if live_off else None)
            if dn:
                st['domains'][dn][k] = not st['domains'][dn][k]
                what.append('domain %s: %s %s' % (dn, k, st['domains'][dn][k]))
        w = model.m_add_mailbox(r, st, self.ctx)
        if w:
            what.append(w)
        if rel == 'etc/mailrecon':
            dn, l = model._pick_mailbox(r, st)
            if dn:
                st['domains'][dn]['mailboxes'][l]['note'] = 'changed at step %d' % self.step
        model.repair(st)
        self.note('apply: %s' % ', '.join(what))
        full = os.path.join(self.root, rel)
        existed = os.path.lexists(full)
        dst = os.path.join(self.decoy, 'mdir-%d' % self.step, os.path.basename(rel))
        os.makedirs(os.path.dirname(dst))
        if existed:
            shutil.copytree(full, dst, symlinks=True)
        else:
            os.makedirs(dst)
            with open(os.path.join(dst, 'whitelist_recipients' if rel == 'etc/postgrey' else 'decoy'), 'w') as f:
                f.write('decoy\n')
        os.makedirs(os.path.dirname(full), exist_ok=True)
        aside = full + '.mr-aside'
        if existed:
            os.rename(full, aside)
        # root's own link in root's directory: a relative one climbs out of ROOT and is refused;
        # an absolute one is read as the server would read it, below ROOT (ROOT + the decoy's
        # path), where nothing is: a dangling link, through which nothing may be made
        absolute = r.random() < 0.5
        os.symlink(dst if absolute else os.path.relpath(dst, os.path.dirname(full)), full)
        self.note('%s -> %s link' % (rel, 'an absolute (dangling below ROOT)' if absolute else 'a relative (escaping)'))
        self.resnap_decoy()
        path = self.write_state(st, 'mdir')
        before = self.root_snap()
        try:
            res = self.mr(['apply', '-f', path, '--allow-delete'])
            below = os.path.join(self.root, dst.lstrip('/'))
            if absolute and os.path.lexists(below):
                raise Failure('mdir', 'apply made %s, the target of the dangling link %s' % (below, rel),
                              res.brief(3000))
            if rel == 'var/log':
                if res.rc not in (0, 1):
                    raise Failure('mdir', 'apply with var/log a symlink exited %s' % res.rc, res.brief(3000))
            elif absolute and res.rc == 0:
                # nothing to write below rel (its files read as missing, and stay so): the
                # rest of the apply is done; the model follows, and the next run may see drift
                if os.readlink(full) != dst:
                    raise Failure('mdir', 'apply replaced the link %s' % rel, res.brief(3000))
                self.success(st, False)  # the mail of what it deleted is archived, as after any apply
                self.clean = False
            elif res.rc not in (1, 3):
                raise Failure('mdir', 'apply with the managed directory %s a symlink out of ROOT exited %s; it must '
                                      'refuse (1 or 3) and never write through it' % (rel, res.rc), res.brief(3000))
            else:
                self.expect_unchanged(before, res, 'a refused apply (%s is a symlink)' % rel, invariant='mdir')
        finally:
            os.unlink(full)
            if existed:
                os.rename(aside, full)
        if rel == 'var/log' and (res.rc == 0 or re.search(r'^Apply complete', res.out, re.M)):
            # applied (exit 1: only the audit log could not be written): the mail of what it
            # deleted is archived, as after any apply
            self.success(st, False)
            self.clean = False

    # -- rollback --

    def op_rollback(self):
        r = self.r
        revs = self.revisions()
        if len(revs) < 2:
            self.note('fewer than two revisions')
            return
        pos = {e['id']: len(revs) - i for i, e in enumerate(revs)}
        for e in revs:
            if e['subject'].startswith('baseline:') and e['id'] not in self.model_of:
                self.model_of[e['id']] = model.empty_state()
        target = r.choice(revs[1:])
        rev = target['id']
        known = rev in self.model_of
        self.variant('known' if known else 'drift-revision')
        rfiles = self.revision_files(rev)
        before_files = self.live_files()
        lu, ld, lm = live.objects(before_files, self.root)
        ru, rd, rm = live.objects(rfiles)
        dels = len(lu - ru) + len(ld - rd) + len(lm - rm)
        allow = r.random() < 0.6
        self.note('rollback to %.12s (%s): deletes %d users, %d domains, %d mailboxes %s; %s' % (
            rev, target['subject'], len(lu - ru), len(ld - rd), len(lm - rm), sorted(lm - rm),
            '--allow-delete' if allow else 'no --allow-delete'))
        before = self.root_snap()
        res = self.mr(['rollback', rev] + (['--allow-delete'] if allow else []))
        root_line = self.root_dovecot_line(rfiles)
        if root_line:
            # a drift revision that recorded a hand edit giving a mailbox uid or gid 0 (a line the
            # next apply corrected, or deleted with its mailbox): REV is checked file by file
            # before a byte of it is written, 'no dovecot.passwd line with uid or gid 0'
            # (docs/versioning.md, rollback) -- refused, exit 3, with or without --allow-delete
            self.note('the revision\'s dovecot.passwd line %d gives a mailbox uid or gid 0: refusal expected' %
                      root_line)
            said = re.search(r"refused: the revision cannot be used: '(?:[^']*/)?etc/dovecot/dovecot\.passwd' line "
                             r"(\d+) gives a mailbox uid or gid 0 \(root\); nothing was changed", res.err)
            if res.rc != 3 or not said or int(said.group(1)) != root_line:
                raise Failure('5', 'a rollback to a revision whose dovecot.passwd line %d gives a mailbox uid or gid 0 '
                                   'exited %s, not 3 refusing it for that line' % (root_line, res.rc),
                              res.brief(3000))
            self.expect_unchanged(before, res, 'a rollback to a revision with a uid or gid 0 Dovecot line')
            return
        bad_line = re.search(r"the revision cannot be used: '[^']*/etc/dovecot/dovecot\.passwd' line (\d+) "
                             r"\(mailbox '([^']+)'\): (.*?); nothing was changed", res.err)
        if res.rc == 3 and bad_line:
            # a drift revision that recorded a hand-edited Dovecot line mail must not follow
            why = self.unsafe_dovecot_line(rfiles, int(bad_line.group(1)), bad_line.group(2))
            if not why:
                raise Failure('5', 'rollback refused line %s of the revision\'s dovecot.passwd, which is safe' %
                              bad_line.group(1), res.brief(3000))
            self.note('refused: the revision has an unsafe Dovecot line (%s)' % why)
            self.expect_unchanged(before, res, 'a rollback to a revision with an unsafe Dovecot line')
            return
        if dels and not allow:
            if res.rc != 3:
                raise Failure('5', 'a rollback that deletes %d objects without --allow-delete exited %s, not 3' % (
                    dels, res.rc), res.brief(3000))
            self.expect_unchanged(before, res, 'a refused rollback')
            return
        if res.rc != 0 and self.left_alone(res, 'Rollback') is None:
            if res.rc in (1, 3):
                self.expect_unchanged(before, res, 'a rollback that exited %d' % res.rc)
            raise Failure('5', 'rollback to %.12s exited %s, not 0' % (rev, res.rc), res.brief(3000))
        now = self.live_files()
        bad = [rel for rel in live.LINE_FILES if (now[rel] or b'') != (rfiles[rel] or b'')]
        if bad:
            ev = []
            for rel in bad:
                ev.append('%s:\n  revision: %r\n  live:     %r' % (rel, (rfiles[rel] or b'')[:600],
                                                                  (now[rel] or b'')[:600]))
            raise Failure('4', 'after rollback the line files are not those of the revision', '\n'.join(ev))
        # a mailbox of R that is not live comes back with its newest archive entry (docs/versioning.md,
        # rollback; docs/formats.md, the archive; docs/plan.md "Mailbox storage"): the incarnation
        # archived last and still in the archive, whichever revision it lived in -- not necessarily
        # the one R had, when the address was deleted again after that. Older entries stay in the
        # archive as they are (invariant 2 finds their mail there exactly once)
        head_before = self.head()
        restored = []
        for a in sorted(rm):
            if a in self.incs or a in lm:
                continue
            cands = [inc for inc in self.all_incs if inc['address'] == a and inc['status'] == 'archived']
            if cands:
                inc = max(cands, key=lambda inc: inc['archived_n'])
                restored.append(inc)
                if len(cands) > 1:
                    self.note('%s: %d archive entries; the newest comes back (planted at step %d)' % (
                        a, len(cands), inc['step']))
        found = find_messages(self.root, MAIL_TREES)
        missing = []
        rst = model.empty_state()
        if known:
            rst = copy.deepcopy(self.model_of[rev])
        owners = {}
        ep = live.parse_exim_passwd(rfiles['etc/exim4/passwd'])
        for inc in restored:
            a = inc['address']
            l, _, dn = a.partition('@')
            o = rst['domains'][dn]['owner'] if known and dn in rst['domains'] else \
                ep.get(a, {}).get('words', {}).get('owner')
            owners[a] = o
            home = model.home_of(o, dn, l).lstrip('/') if o else None
            for tok in inc['tokens']:
                locs = list(found.get(tok, {}).values())
                if not home or self.tainted(home) or inc['displaced']:
                    continue
                if not any(x.startswith(home + '/') for x in locs):
                    missing.append('%s: mail %s is at %s, not back in its home /%s' % (a, tok, locs, home))
        if missing:
            raise Failure('4', 'after rollback a mailbox of the revision does not have its mail back',
                          '\n'.join(missing))
        for inc in restored:
            inc['status'] = 'live'
            inc['archived'] = None
            self.incs[inc['address']] = inc
        self.just_restored = {id(inc) for inc in restored}
        for a in list(self.incs):
            why = self.where_mail_stays(rst, a, self.incs[a])
            stays = why or a in self.last_left
            x = self.pre_view[3].get(self.incs[a]['tokens'][0]) if self.pre_view is not None else None
            if a not in rm and x:
                # where its mail was is known: archived from there, or it stays there
                stays = why = None if self.archived_from(a, self.incs[a]) else \
                    'mailrecon archives no home there, or a tenant is in the way of it there'
            if a not in rm and stays:
                inc = self.incs.pop(a)
                inc['status'] = 'left'  # mailrecon archived a place its mail is not, or left it alone
                inc.setdefault('at', re.sub(r'/\.([^/]+)\.tenant-aside(?=/|$)', r'/\1', x) if x else
                               self.mail_place(a))
                self.note('%s: its mail stays where it was (%s)' % (a, why or 'its storage was left alone'))
            elif a in rm and why and known and not self.incs[a].get('stray'):
                self.incs[a]['stray'] = True
                self.incs[a]['at'] = self.mail_place(a)
                self.note('%s: its mail stays where it was, not in its home (%s)' % (a, why))
            elif a not in rm:
                inc = self.incs.pop(a)
                inc['status'] = 'archived'
                inc['archived'] = head_before
                self.narchived += 1
                inc['archived_n'] = self.narchived
        # who disabled what is the revision's registry now (its disabled_by=, byte for byte)
        self.disabled_by = {}
        for line in (self.live_files().get('etc/mailrecon/registry') or b'').decode('utf-8', 'replace').split('\n'):
            w = line.split()
            if len(w) >= 2 and w[0] in ('user', 'domain', 'mailbox'):
                for x in w[2:]:
                    if x.startswith('disabled_by=') and len(x) > len('disabled_by='):
                        self.disabled_by[(w[0], w[1])] = x[len('disabled_by='):]
        if known:
            if not model.is_empty(rst):
                path = self.write_state(rst, 'rolled-back')
                self.check_success(rst, ['-f', path], 'rollback')
            else:
                self.check_success(rst, None, 'rollback')
            self.model = rst
            self.clean = True
            # one on an object that is not disabled is a finding, ignored (docs/formats.md, registry)
            self.disabled_by = {x: by for x, by in self.disabled_by.items() if self._disabled_in(rst, x)}
            if self.head():
                self.model_of[self.head()] = copy.deepcopy(rst)
        else:
            older = [e['id'] for e in revs if pos[e['id']] < pos[rev] and e['id'] in self.model_of]
            self.model = copy.deepcopy(self.model_of[older[0]]) if older else model.empty_state()
            self.clean = False
        self.plant_new()

    # -- crashes --

    def op_crash(self):
        r = self.r
        st, what = model.mutate(r, self.model, self.ctx)
        self.note('mutations: %s' % ', '.join(what))
        dels = sum(live.deletions(self.live_files(), st, self.root)[:3])
        allow = True if r.random() < 0.8 else self.choose_allow(dels)
        allowed = dels == 0 or allow is True or (isinstance(allow, int) and allow >= dels)
        purge = r.random() < 0.3
        path = self.write_state(st, 'crash')
        args = ['apply', '-f', path] + self.allow_args(allow) + (['--purge'] if purge else [])
        before = self.root_snap()
        if r.random() < 0.6:
            n = r.randint(1, 40) if r.random() < 0.75 else r.randint(1, 150)
            self.variant('crash-at')
            res = self.mr(args, extra_env={'MAILRECON_CRASH_AT': str(n)}, crash_ok=True)
        else:
            delay = r.uniform(0.0, 0.06)
            self.variant('kill-9')
            res = self.mr(args, kill_after=delay, crash_ok=True)
        crashed = res.rc == 99 or res.killed
        self.note('first run: %s' % ('crashed' if crashed else 'exit %s' % res.rc))
        if crashed and r.random() < 0.25:
            res2 = self.mr(args, extra_env={'MAILRECON_CRASH_AT': str(r.randint(1, 6))}, crash_ok=True)
            self.note('recovery run crashed too' if res2.rc == 99 else 'recovery run: exit %s' % res2.rc)
        res = self.mr(args)
        if not allowed:
            if res.rc != 3:
                raise Failure('5', 'after a crash, an apply that deletes %d objects without --allow-delete exited '
                                   '%s, not 3' % (dels, res.rc), res.brief(3000))
            self.expect_unchanged(before, res, 'a refused apply after a crash')
            return
        if res.rc != 0 and self.left_alone(res, 'Apply') is None:
            raise Failure('5', 'the apply after a crash exited %s, not 0' % res.rc, res.brief(3000))
        self.check_success(st, ['-f', path], 'apply after a crash')
        self.success(st, purge)

    # -- a concurrent writer --

    def op_concurrent(self):
        r = self.r
        m = self.model
        st, what = model.mutate(r, m, self.ctx, n=r.randint(1, 3))
        cands = [dn for dn, d in sorted(st['domains'].items()) if dn in m['domains'] and
                 m['domains'][dn]['owner'] == d['owner'] and not d['disabled'] and not m['domains'][dn]['disabled']
                 and not st['users'][d['owner']]['disabled'] and not m['users'][d['owner']]['disabled']
                 # the writer (a shell, as a panel) follows links: not into a tenant's sabotage
                 and not any(t.startswith('var/www/%s/' % d['owner']) for t in self.taints)]
        if not cands:
            self.fallback_apply('no domain for the writer')
            return
        dn = r.choice(cands)
        o = st['domains'][dn]['owner']
        uid = model.UID[o]
        local = model.free_local(r, st['domains'][dn], model.LOCAL_POOL + ['panel1', 'panel2', 'panel3'])
        if local in model.names_in_domain(m['domains'][dn]):
            local = 'panel-%d' % self.step
        a = model.addr(local, dn)
        # room for one more mailbox, so that adopting the panel's mailbox keeps the state valid
        for x in (o, st['users'][o]['reseller']):
            if x and st['users'][x]['limits']['mailboxes'] is not None:
                st['users'][x]['limits']['mailboxes'] += 1
        # the writer runs just before the switch: this apply must have something to switch
        def same(a, b):  # as mailrecon sees them: a max_size of 0 is no limit
            def norm(x):
                x = copy.deepcopy(x)
                for d in x['domains'].values():
                    for mb in d['mailboxes'].values():
                        if mb['max_size'] in (0, '0'):
                            mb['max_size'] = None
                return model.to_yaml(x)
            return norm(a) == norm(b)
        for _ in range(8):
            if not same(st, m):
                break
            w = model.m_domain_flag(r, st, self.ctx) or model.m_mailbox_attr(r, st, self.ctx)
            what.append(w or '')
        pw = '{CRAM-MD5}' + ''.join(r.choice('0123456789abcdef') for _ in range(64))
        home = model.home_of(o, dn, local)
        exim_line = '%s:owner=%s' % (a, o)
        dove_line = '%s:%s:%d:%d::%s::' % (a, pw, uid, uid, home)
        marker = os.path.join(self.work, 'writer-ran-%d' % self.step)
        t = self.cfg.tools
        chain = ''
        parts = home.strip('/').split('/')
        for i in range(3, len(parts) + 1):
            p = os.path.join(self.root, *parts[:i])
            chain += "{ [ -d '%s' ] || { %s '%s' && %s %d:%d '%s' && %s %s '%s'; }; } && " % (
                p, t['mkdir'], p, t['chown'], uid, uid, p, t['chmod'], '700' if i == len(parts) else '750', p)
        # the panel makes /etc/dovecot when it is not there yet (a server with no mailbox)
        cmd = ("%s -p '%s' && printf '%%s\\n' '%s' >> '%s' && printf '%%s\\n' '%s' >> '%s' && %s: > '%s'" % (
            t['mkdir'], os.path.join(self.root, 'etc/dovecot'),
            exim_line, os.path.join(self.root, 'etc/exim4/passwd'), dove_line,
            os.path.join(self.root, 'etc/dovecot/dovecot.passwd'), chain, marker))
        self.note('mutations: %s; the panel adds %s during the apply' % (', '.join(what), a))
        path = self.write_state(st, 'concurrent')
        purge = r.random() < 0.3
        before_files = self.live_files()
        before = self.root_snap()
        res = self.mr(['apply', '-f', path, '--allow-delete'] + (['--purge'] if purge else []),
                      extra_env={'MAILRECON_TEST_BEFORE_SWITCH': cmd})
        ran = os.path.exists(marker)
        now = self.live_files()
        if not ran:
            raise Failure('concurrent', 'the writer never ran: MAILRECON_TEST_BEFORE_SWITCH is not honoured, so the '
                                        "panel's new mailbox %s cannot be proven kept (apply exited %s)" % (a, res.rc),
                          res.brief(1500))
        if res.rc == 3:
            exp = {}
            for rel, line in (('etc/exim4/passwd', exim_line), ('etc/dovecot/dovecot.passwd', dove_line)):
                exp[rel] = (before_files[rel] or b'') + line.encode() + b'\n'
                if now[rel] != exp[rel]:
                    raise Failure('concurrent', 'apply refused the concurrent change but %s is not the writer\'s' %
                                  rel, 'want tail %r\nhave tail %r' % (exp[rel][-300:], (now[rel] or b'')[-300:]))
            home_rel = home.strip('/')
            skip = {'etc/exim4/passwd', 'etc/dovecot/dovecot.passwd', 'etc/dovecot'}
            skip |= {'/'.join(parts[:i]) for i in range(3, len(parts) + 1)}
            after = self.root_snap()
            b2 = {k: v for k, v in before.items() if k not in skip}
            a2 = {k: v for k, v in after.items() if k not in skip}
            if a2 != b2:
                raise Failure('concurrent', 'apply refused the concurrent change (exit 3) but changed the tree',
                              diff_snap(b2, a2))
            self.note('refused: %s' % res.err.strip().splitlines()[-1:] if res.err.strip() else 'refused')
            if not any('chang' in x for x in res.err.splitlines()):
                raise Failure('concurrent', 'exit 3 without saying that a live file changed during apply',
                              res.brief())
            # the panel's mailbox is live now, mailrecon's apply is not
            self.adopt(self.model, dn, local, pw)
            was = copy.deepcopy(self.model['users'])
            model.repair(self.model)
            if self.model['users'] != was:
                self.clean = False  # its owner's limits had to grow: the registry is behind the model
            self.plant_new()
            return
        if res.rc != 0:
            raise Failure('concurrent', 'apply with a concurrent writer exited %s (0 or 3 expected)' % res.rc,
                          res.brief(3000))
        lost = [rel for rel, line in (('etc/exim4/passwd', exim_line), ('etc/dovecot/dovecot.passwd', dove_line))
                if line.encode() not in (now[rel] or b'').split(b'\n')]
        if lost:
            raise Failure('concurrent', "lost update: the panel's line for %s, written before the switch, is gone "
                                        "from %s and apply exited 0" % (a, ', '.join(lost)), res.brief(1500))
        self.adopt(st, dn, local, pw)
        path2 = self.write_state(st, 'adopted')
        self.check_success(st, ['-f', path2], 'apply with a concurrent writer')
        self.success(st, purge)

    def adopt(self, st, dn, local, pw):
        mb = model.new_mailbox(_NoRandom(), self.ctx['hashes'])
        mb['password'] = pw
        st['domains'][dn]['mailboxes'][local] = mb


class _NoRandom:
    def random(self):
        return 1.0

    def choice(self, seq):
        return seq[0]


def cleanup(seq):
    rmtree(seq.work)
