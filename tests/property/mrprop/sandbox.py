"""The sandbox of one sequence: the ROOT tree, the DECOY beside it, snapshots, planted mail and
the runner of the mailrecon binary."""

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from . import model


class Failure(Exception):
    """An invariant does not hold: which one, what, and the evidence."""

    def __init__(self, invariant, what, evidence=''):
        super().__init__(what)
        self.invariant = invariant
        self.what = what
        self.evidence = evidence


# ---- snapshots ----

def _nofollow(path, flags):
    """open() opener: never through a symlink at the last component, never blocking on a FIFO."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


# content digests by (path, dev, inode, size, mtime, ctime): any write or chmod/chown/link moves
# ctime, which no process can set back, so an unchanged key means unchanged content
_DIGESTS = {}


def _digest(path, st):
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    d = _DIGESTS.get(key)
    if d is None:
        try:
            with open(path, 'rb', opener=_nofollow) as fh:
                d = hashlib.sha256(fh.read()).hexdigest()[:16]
        except OSError as e:
            return 'unreadable:%s' % e.errno
        if len(_DIGESTS) > 200000:
            _DIGESTS.clear()
        _DIGESTS[key] = d
    return d


def _entry(path, st, dir_mtime):
    mode = st.st_mode
    t = stat.S_IFMT(mode)
    if stat.S_ISREG(mode):
        digest = _digest(path, st)
        return ('f', oct(stat.S_IMODE(mode)), st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, digest)
    if stat.S_ISLNK(mode):
        return ('l', st.st_uid, st.st_gid, os.readlink(path))
    if stat.S_ISDIR(mode):
        return ('d', oct(stat.S_IMODE(mode)), st.st_uid, st.st_gid, st.st_mtime_ns if dir_mtime else 0)
    return ('o%o' % t, oct(stat.S_IMODE(mode)), st.st_uid, st.st_gid)


def snapshot(top, exclude=(), dir_mtime=True):
    """{relpath: entry} of everything below top (top itself as '.'), symlinks never followed.
    exclude: relative paths whose whole subtree is left out."""
    out = {}
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return out
    out['.'] = _entry(top, st, dir_mtime)
    if not stat.S_ISDIR(st.st_mode):
        return out
    stack = ['']
    while stack:
        rel = stack.pop()
        d = os.path.join(top, rel) if rel else top
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for n in names:
            r = os.path.join(rel, n) if rel else n
            if r in exclude:
                continue
            p = os.path.join(top, r)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            out[r] = _entry(p, st, dir_mtime)
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)
    return out


def snapshot_paths(root, rels, dir_mtime=True):
    out = {}
    for rel in rels:
        for k, v in snapshot(os.path.join(root, rel), dir_mtime=dir_mtime).items():
            out[rel if k == '.' else os.path.join(rel, k)] = v
    return out


def diff_snap(a, b, limit=25):
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            if k not in a:
                lines.append('  + %s %s' % (k, b[k]))
            elif k not in b:
                lines.append('  - %s %s' % (k, a[k]))
            else:
                lines.append('  ~ %s %s -> %s' % (k, a[k], b[k]))
    if len(lines) > limit:
        lines = lines[:limit] + ['  ... %d more' % (len(lines) - limit)]
    return '\n'.join(lines)


def read_rel(root, rel):
    try:
        with open(os.path.join(root, rel), 'rb', opener=_nofollow) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        return ('<unreadable: %s>' % e.strerror).encode()


def real_dir_chain(root, rel):
    """True when every component of ROOT/rel is a real directory (no symlink, no other type)."""
    p = root
    for part in rel.strip('/').split('/'):
        p = os.path.join(p, part)
        try:
            st = os.lstat(p)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return False
    return True


# ---- mail ----

MSG_PREFIX = b'MRPROP-MESSAGE '


def plant(root, home_rel, token, uid):
    """A message with unique content in HOME/.maildir/cur, as the owner; False when the home is
    not a real directory below ROOT (a tenant replaced part of the path)."""
    home_rel = home_rel.strip('/')
    if not real_dir_chain(root, home_rel):
        return False
    home = os.path.join(root, home_rel)
    d = home
    for part in ('.maildir', 'cur'):
        d = os.path.join(d, part)
        try:
            os.mkdir(d, 0o700)
            os.chown(d, uid, uid)
        except FileExistsError:
            if not real_dir_chain(root, os.path.relpath(d, root)):
                return False
    p = os.path.join(d, '%s:2,S' % token)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(MSG_PREFIX + token.encode() + b'\n\nplanted by tests/property\n')
    os.chown(p, uid, uid)
    return True


def find_messages(root, tops):
    """{token: {(dev, ino): relpath}} for every planted message below the given trees."""
    found = {}
    for top in tops:
        base = os.path.join(root, top)
        stack = [base]
        while stack:
            d = stack.pop()
            try:
                it = list(os.scandir(d))
            except OSError:
                continue
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(e.path)
                elif stat.S_ISREG(st.st_mode) and st.st_size < 4096:
                    try:
                        with open(e.path, 'rb', opener=_nofollow) as f:
                            head = f.read(200)
                    except OSError:
                        continue
                    if head.startswith(MSG_PREFIX):
                        tok = head[len(MSG_PREFIX):].split(b'\n', 1)[0].decode()
                        found.setdefault(tok, {})[(st.st_dev, st.st_ino)] = os.path.relpath(e.path, root)
    return found


# ---- the sandbox tree ----

def make_tree(sb, private_key):
    """SB/root laid out like tests/fixtures/live/debian/empty plus the pool's accounts, and
    SB/decoy: files a confined mailrecon never reaches."""
    root = os.path.join(sb, 'root')
    decoy = os.path.join(sb, 'decoy')
    os.makedirs(os.path.join(root, 'etc/exim4'))
    os.makedirs(os.path.join(root, 'etc/cron.d'))
    os.makedirs(os.path.join(root, 'var/lib'))
    os.makedirs(os.path.join(root, 'var/log'))
    os.makedirs(os.path.join(root, 'var/www'))
    with open(os.path.join(root, 'etc/passwd'), 'w') as f:
        f.write('root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n')
        for u, uid in model.POOL_USERS:
            f.write('%s:x:%d:%d::/var/www/%s:/usr/sbin/nologin\n' % (u, uid, uid, u))
    with open(os.path.join(root, 'etc/group'), 'w') as f:
        f.write('root:x:0:\nDebian-exim:x:105:\ndovecot:x:106:\n')
        for u, uid in model.POOL_USERS:
            f.write('%s:x:%d:\n' % (u, uid))
    with open(os.path.join(root, 'etc/login.defs'), 'w') as f:
        f.write('UID_MIN 1000\nUID_MAX 60000\n')
    with open(os.path.join(root, 'etc/shadow'), 'w') as f:
        f.write('root:$6$decoy$notarealhash:19000:0:99999:7:::\n')
    os.chmod(os.path.join(root, 'etc/shadow'), 0o640)
    for u, uid in model.POOL_USERS:
        p = os.path.join(root, 'var/www', u)
        os.mkdir(p, 0o750)
        os.chmod(p, 0o750)
        os.chown(p, uid, uid)
    # host files below ROOT that no tenant path may reach either
    os.makedirs(os.path.join(root, 'root/.ssh'), 0o700)
    with open(os.path.join(root, 'root/.ssh/authorized_keys'), 'w') as f:
        f.write('ssh-ed25519 AAAAdecoy root@host\n')
    os.makedirs(os.path.join(root, 'srv/private/sub'), 0o700)
    with open(os.path.join(root, 'srv/private/secret.txt'), 'w') as f:
        f.write('in-root secret\n')
    with open(os.path.join(root, 'srv/private/sub/data'), 'w') as f:
        f.write('in-root data\n')
    # the decoy, outside ROOT
    os.makedirs(os.path.join(decoy, 'secret'), 0o700)
    os.chmod(os.path.join(decoy, 'secret'), 0o700)
    with open(os.path.join(decoy, 'secret/id_rsa'), 'w') as f:
        f.write(private_key)
    os.chmod(os.path.join(decoy, 'secret/id_rsa'), 0o600)
    with open(os.path.join(decoy, 'notes.txt'), 'w') as f:
        f.write('decoy notes\n')
    # a mail tree shaped like a tenant's, for symlinks and hostile home fields to point at
    for dn in model.DOMAIN_POOL:
        for l in ('info', 'sales', 'bob'):
            p = os.path.join(decoy, 'data/email', dn, l, '.maildir/cur')
            os.makedirs(p)
            with open(os.path.join(p, 'decoy-mail'), 'w') as f:
                f.write('decoy mail %s@%s\n' % (l, dn))
    for rel, text in (('etc/postgrey/whitelist_recipients', 'postmaster@\n'),
                      ('etc/mailrecon/registry', '# decoy registry\n'),
                      ('etc/dovecot/dovecot.passwd', ''), ('etc/mail/spamassassin/local.cf', '# decoy\n'),
                      ('deep/a/b/c/file', 'deep\n')):
        p = os.path.join(decoy, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'w') as f:
            f.write(text)
    os.symlink('notes.txt', os.path.join(decoy, 'link-to-notes'))
    os.mkfifo(os.path.join(decoy, 'fifo'))
    os.chmod(decoy, 0o755)
    return root, decoy


def protected_rels():
    """Host files below ROOT: no run may change them."""
    return ['etc/passwd', 'etc/group', 'etc/login.defs', 'etc/shadow', 'etc/cron.d', 'root', 'srv']


def tmp_files(root):
    out = []
    for d, dirs, files in os.walk(root):
        for n in files + dirs:
            if '.mailrecon-tmp.' in n:
                out.append(os.path.relpath(os.path.join(d, n), root))
    return out


def rmtree(path):
    """Remove a sandbox even when a test left odd entries (FIFOs, read-only dirs)."""
    def onerr(func, p, exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerr)


# ---- the binary ----

SANITIZER_MARKS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error:', 'UndefinedBehaviorSanitizer')
ALLOWED_EXITS = (0, 1, 2, 3, 4, 64)


class Result:
    def __init__(self, argv, env, rc, out, err, secs, killed=False):
        self.argv, self.env, self.rc, self.out, self.err, self.secs, self.killed = argv, env, rc, out, err, secs, killed

    def brief(self, n=1500):
        def cut(s):
            s = s.strip()
            return s if len(s) <= n else s[:n] + ' ...[%d more]' % (len(s) - n)
        return 'exit %s\n  stdout: %s\n  stderr: %s' % (self.rc, cut(self.out).replace('\n', '\n          '),
                                                        cut(self.err).replace('\n', '\n          '))


def _private_tmp_argv(private_tmp, tmpdir, argv):
    """argv run with TMPDIR bound on its own /tmp: through the privtmp launcher
    (tests/tools/privtmp.c) when private_tmp names it, else through unshare, sh and mount."""
    if len(private_tmp) == 1:
        return [private_tmp[0], tmpdir] + argv
    unshare, sh, mount = private_tmp
    return [unshare, '-m', '--propagation', 'private', sh, '-c', '%s --bind "$0" /tmp && exec "$@"' % mount,
            tmpdir] + argv


def private_tmp_probe(private_tmp, base):
    """True when a run can get its own /tmp (a mount namespace with TMPDIR bound on /tmp), so
    that what a run leaves in /tmp is seen, and no other process's /tmp is touched.
    private_tmp: (privtmp,) or (unshare, sh, mount)."""
    if not all(private_tmp):
        return False
    d = tempfile.mkdtemp(prefix='mrprop-probe-', dir=base)
    try:
        p = subprocess.run(_private_tmp_argv(private_tmp, d, ['/bin/sh', '-c', ': > /tmp/probe']),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return p.returncode == 0 and os.path.exists(os.path.join(d, 'probe'))
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Runner:
    def __init__(self, binary, root, work, pathdir, log, private_tmp=None):
        """private_tmp: (privtmp,) or (unshare, sh, mount) to run each call with its TMPDIR as /tmp, or None."""
        self.private_tmp = private_tmp
        self.binary = binary
        self.root = root
        self.work = work
        self.tmpdir = os.path.join(work, 'tmp')
        os.makedirs(self.tmpdir, exist_ok=True)
        self.pathdir = pathdir
        self.log = log  # callable(text) or None
        self.calls = 0
        self.secs = 0.0

    def env(self, extra=None):
        e = {'PATH': self.pathdir, 'HOME': self.work, 'TMPDIR': self.tmpdir, 'LANG': 'C', 'LC_ALL': 'C',
             'NO_COLOR': '1', 'USER': 'root', 'LOGNAME': 'root'}
        for k, v in os.environ.items():
            if k.startswith(('ASAN_', 'UBSAN_', 'LSAN_', 'MSAN_', 'GCOV_')):  # sanitizers; coverage runs
                e[k] = v
        if extra:
            e.update(extra)
        return e

    def run(self, args, extra_env=None, timeout=60, kill_after=None, crash_ok=False):
        argv = [self.binary, '--root', self.root] + list(args)
        env = self.env(extra_env)
        run_argv = argv
        if self.private_tmp:
            run_argv = _private_tmp_argv(self.private_tmp, self.tmpdir, argv)
        if self.log:
            shown = ' '.join("%s='%s'" % (k, v) for k, v in (extra_env or {}).items())
            self.log('$ %s%s%s' % (shown + ' ' if shown else '', ' '.join(_shq(a) for a in argv),
                                   '   # kill -9 after %.3f s' % kill_after if kill_after is not None else ''))
        t0 = time.monotonic()
        p = subprocess.Popen(run_argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             cwd=self.work)
        killed = False
        try:
            if kill_after is not None:
                try:
                    out, err = p.communicate(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    killed = True
                    out, err = p.communicate(timeout=timeout)
            else:
                out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            raise Failure('5', 'mailrecon hung: no exit within %d s' % timeout,
                          '$ %s\n%s' % (' '.join(argv), (err or b'').decode('utf-8', 'replace')[-2000:]))
        secs = time.monotonic() - t0
        self.calls += 1
        self.secs += secs
        res = Result(argv, extra_env, p.returncode, out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace'),
                     secs, killed)
        if self.log:
            self.log('  -> exit %s in %.3f s%s' % (res.rc, secs, ' (killed)' if killed else ''))
            for line in (res.err.strip().splitlines() if res.err.strip() else [])[:40]:
                self.log('  ! %s' % line)
        for mark in SANITIZER_MARKS:
            if mark in res.err:
                raise Failure('6', 'a sanitizer report on stderr (%s)' % mark, res.brief(6000))
        ok = res.rc in ALLOWED_EXITS or (crash_ok and (res.rc == 99 or (killed and res.rc == -signal.SIGKILL)))
        if not ok:
            what = 'killed by signal %d' % -res.rc if res.rc < 0 else 'exit %d' % res.rc
            raise Failure('5', 'mailrecon ended with %s (allowed: 0, 1, 2, 3, 4, 64)' % what,
                          '$ %s\n%s' % (' '.join(argv), res.brief()))
        left = os.listdir(self.tmpdir)
        if left:
            for n in left:
                rmtree(os.path.join(self.tmpdir, n)) if os.path.isdir(os.path.join(self.tmpdir, n)) else \
                    os.unlink(os.path.join(self.tmpdir, n))
            raise Failure('1', 'mailrecon left files in %s, outside ROOT: %s' % (
                'its /tmp' if self.private_tmp else 'TMPDIR', sorted(left)), '$ %s\n%s' % (' '.join(argv), res.brief()))
        return res


def _shq(s):
    if s and all(c.isalnum() or c in '-_./=:@,+' for c in s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def make_pathdir(path):
    """A PATH with the tools a run may spawn, without the slow real checks (spamassassin --lint
    takes a second; exim4/doveconf only run when their configuration is in ROOT)."""
    os.makedirs(path, exist_ok=True)
    for tool in ('sh', 'bash', 'dash', 'cat', 'printf', 'echo', 'mkdir', 'chown', 'chmod', 'ln', 'mv', 'rm', 'sleep',
                 'env', 'true', 'false', 'test', 'touch', 'ls', 'stat', 'git', 'openssl'):
        src = shutil.which(tool, path='/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin')
        if src and not os.path.exists(os.path.join(path, tool)):
            os.symlink(src, os.path.join(path, tool))
    return path
