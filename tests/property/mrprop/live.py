"""An independent reading of the live line files (docs/formats.md), written from the documented
grammar and not from src/codec, so that it can disagree with mailrecon.

Exim lookups follow lsearch: '#' lines and blank lines are not records, the key runs to the
first ':' or white space, the first record with a key wins.  A '#' line whose text after the
'#' parses as a record (no space after '#') is a disabled record (docs/formats.md).

One thing is read from the tree, not from a line file: the owner of a domain no line names
comes from the one user's tree that has a directory for it (domain_owners()).
"""

import os
import re
import stat

from . import model

LINE_FILES = [
    'etc/exim4/passwd', 'etc/exim4/aliases', 'etc/exim4/ratelimits', 'etc/exim4/domains', 'etc/exim4/domainips',
    'etc/dovecot/dovecot.passwd', 'etc/postgrey/whitelist_recipients', 'etc/mail/spamassassin/local.cf',
    'etc/clamav.whitelist', 'etc/mailrecon/registry',
]

_KEY = re.compile(r'([^:\s]+)\s*:?\s*(.*)$', re.S)


def text_lines(data):
    if data is None:
        return []
    return data.decode('utf-8', 'surrogateescape').split('\n')


def lsearch(data):
    """[(key, value, commented)] in file order, every record (duplicates included)."""
    out = []
    for raw in text_lines(data):
        s = raw.rstrip(' \t\r')
        if not s:
            continue
        commented = False
        if s[0] == '#':
            s = s[1:]
            if not s or s[0] in ' \t#':
                continue
            commented = True
        if s[0] in ' \t':
            continue
        m = _KEY.match(s)
        if not m:
            continue
        out.append((m.group(1).lower(), m.group(2), commented))
    return out


def first_wins(recs):
    d = {}
    for k, v, c in recs:
        if k not in d:
            d[k] = (v, c)
    return d


def parse_exim_passwd(data):
    res = {}
    for k, (v, commented) in first_wins(lsearch(data)).items():
        words = {}
        for w in v.split():
            if '=' in w:
                a, _, b = w.partition('=')
                words.setdefault(a, b)
        res[k] = {'words': words, 'commented': commented, 'raw': v}
    return res


def parse_dovecot(data):
    res = {}
    for raw in text_lines(data):
        s = raw.rstrip('\r')
        if not s.strip():
            continue
        disabled = False
        if s[0] == '#':
            s = s[1:]
            if not s or s[0] in ' \t#' or ':' not in s:
                continue
            disabled = True
        f = s.split(':')
        user = f[0].lower()
        if not user or user in res:
            continue
        extra = ':'.join(f[7:]) if len(f) > 7 else ''
        res[user] = {'password': f[1] if len(f) > 1 else '', 'uid': f[2] if len(f) > 2 else '',
                     'gid': f[3] if len(f) > 3 else '', 'home': f[5] if len(f) > 5 else '',
                     'extra': extra, 'disabled': disabled or 'nologin' in extra.split() or 'deny=yes' in extra}
    return res


def parse_aliases(data):
    """(aliases {(alias, main)}, copies {(target, main)}) of the records Exim reads."""
    aliases, copies = set(), set()
    for raw in text_lines(data):
        s = raw.rstrip(' \t\r')
        if not s or s[0] == '#':
            continue
        f = s.split(':')
        if len(f) == 3 and f[2] == 'fwd':
            aliases.add((f[0].lower(), f[1].lower()))
        elif len(f) == 3 and f[2] == 'user':
            copies.add((f[0].lower(), f[1].lower()))
    return aliases, copies


def domain_action(v):
    v = v.strip()
    if v.startswith(':fail:'):
        return ('reject',)
    if v.startswith(':blackhole:'):
        return ('discard',)
    if v.startswith('@'):
        return ('redirect_domain', v[1:].lower())
    return ('forward', v.lower())


def parse_domains(data):
    return {k: {'action': domain_action(v), 'disabled': c} for k, (v, c) in first_wins(lsearch(data)).items()}


def parse_registry(data):
    users, domains = {}, {}
    for raw in text_lines(data):
        s = raw.strip()
        if not s or s[0] == '#':
            continue
        w = s.split()
        if len(w) < 2:
            continue
        attrs = dict(x.split('=', 1) for x in w[2:] if '=' in x)
        if w[0] == 'user':
            users.setdefault(w[1], attrs)
        elif w[0] == 'domain':
            domains.setdefault(w[1], attrs)
    return users, domains


_USER_NAME = re.compile(r'[a-z_][a-z0-9_-]{0,31}$')  # a user name mailrecon accepts (docs/formats.md)


def home_owner(home, dn, local):
    """OWNER when home is exactly /var/www/OWNER/data/email/DN/LOCAL (a final '/' allowed), else None."""
    h = home[:-1] if home.endswith('/') else home
    pre, suf = '/var/www/', '/data/email/%s/%s' % (dn, local)
    if not h.startswith(pre) or not h.endswith(suf):
        return None
    o = h[len(pre):len(h) - len(suf)]
    return o if _USER_NAME.match(o) else None


def dir_owners(root, dn):
    """The users whose tree has ROOT/var/www/USER/data/email/DN as a directory reached without a
    link (a tenant can make one in its own tree: docs/formats.md, registry)."""
    try:
        names = sorted(os.listdir(os.path.join(root, 'var/www')))
    except OSError:
        return []
    out = []
    for u in names:
        if u.startswith('.') or not _USER_NAME.match(u):
            continue
        p = root
        ok = True
        for part in ('var', 'www', u, 'data', 'email', dn):
            p = os.path.join(p, part)
            try:
                ok = stat.S_ISDIR(os.lstat(p).st_mode)
            except OSError:
                ok = False
            if not ok:
                break
        if ok:
            out.append(u)
    return out


def domain_owners(files, root=None):
    """{domain: owner or None} as a live server reads the owner (docs/formats.md, registry; docs/plan.md
    "Scope"): a domain with a line in exim-domains takes it from its registry line; else from owner=
    in exim-passwd, else from its mailbox homes (the first of its mailboxes, in the order of
    exim-passwd, then of the Dovecot lines not in it, that has either), else -- root given, for the
    live tree; a revision's files are read with no tree -- from a /var/www/OWNER/data/email/DOMAIN
    directory when exactly one user's tree has one."""
    _, reg_domains = parse_registry(files.get('etc/mailrecon/registry'))
    ep = parse_exim_passwd(files.get('etc/exim4/passwd'))
    dp = parse_dovecot(files.get('etc/dovecot/dovecot.passwd'))
    listed = parse_domains(files.get('etc/exim4/domains'))
    order = list(ep) + [a for a in dp if a not in ep]
    owners = {dn: (reg_domains.get(dn, {}).get('owner') if dn in listed else None) for dn in listed}
    for a in order:
        if '@' in a:
            owners.setdefault(a.rpartition('@')[2], None)
    for a in order:
        l, _, dn = a.rpartition('@')
        if not l or owners.get(dn):
            continue
        eo = ep[a]['words'].get('owner') if a in ep else None
        ho = home_owner(dp[a]['home'], dn, l) if a in dp and dp[a]['home'] else None
        owners[dn] = eo or ho
    for dn in owners:
        if not owners[dn] and root is not None:
            claims = dir_owners(root, dn)
            # two trees claiming it: neither is the owner
            owners[dn] = claims[0] if len(claims) == 1 else None
    return owners


def objects(files, root=None):
    """Users, domains and mailboxes a set of live files declares (for counting deletions).

    files: {relpath: bytes or None}; root: the tree the files are live in (its domain
    directories can name an owner), None for a revision's files."""
    users, _ = parse_registry(files.get('etc/mailrecon/registry'))
    ep = parse_exim_passwd(files.get('etc/exim4/passwd'))
    mbs = set(ep) | set(parse_dovecot(files.get('etc/dovecot/dovecot.passwd')))
    # an owner= that names no registered user is a live user too
    users = set(users) | {v['words']['owner'] for v in ep.values() if v['words'].get('owner')}
    # ... and every domain's owner, however it is known (its registry line, a home, a directory
    # in a user's tree): each is read as a user (role: user, account: existing) that a state
    # without it deletes
    users |= {o for o in domain_owners(files, root).values() if o}
    # a domain is live when exim-domains lists it, or a mailbox names it (a mailbox keeps it even
    # without its domains line). A registry domain line alone is not one: 'a registry entry for an
    # unknown domain' is a finding (docs/formats.md, Findings), "domain 'D' has no line in
    # exim-domains", ignored -- its owner= too -- and dropped by the next apply, not deleted
    domains = set(parse_domains(files.get('etc/exim4/domains'))) | \
        {a.partition('@')[2] for a in mbs if '@' in a}
    return users, domains, mbs


def deletions(before_files, st, root=None):
    """How many users, domains and mailboxes an apply of st deletes from the live files (of the
    tree root, when given)."""
    users, domains, mbs = objects(before_files, root)
    want_m = set(model.all_addresses(st))
    return (len(users - set(st['users'])), len(domains - set(st['domains'])), len(mbs - want_m),
            sorted(mbs - want_m))


def compare(files, st):
    """Differences between the live files and what state st says, as text lines."""
    diffs = []
    ep = parse_exim_passwd(files.get('etc/exim4/passwd'))
    dp = parse_dovecot(files.get('etc/dovecot/dovecot.passwd'))
    want = {}
    for dn, d in st['domains'].items():
        for l, mb in d['mailboxes'].items():
            want[model.addr(l, dn)] = (dn, l, mb, d)
    if set(ep) != set(want):
        diffs.append('etc/exim4/passwd mailboxes: extra %s, missing %s' % (sorted(set(ep) - set(want)),
                                                                           sorted(set(want) - set(ep))))
    if set(dp) != set(want):
        diffs.append('etc/dovecot/dovecot.passwd mailboxes: extra %s, missing %s' % (sorted(set(dp) - set(want)),
                                                                                     sorted(set(want) - set(dp))))
    for a, (dn, l, mb, d) in sorted(want.items()):
        reasons = model.effective_disabled(st, dn, l)
        e = ep.get(a)
        if e:
            dis = e['words'].get('disabled')
            live_dis = e['commented'] or dis is not None
            if live_dis != bool(reasons):
                diffs.append('etc/exim4/passwd %s: disabled=%s (commented %s), want disabled by %s' % (
                    a, dis, e['commented'], sorted(reasons) or 'nobody'))
            elif dis is not None and dis not in reasons:
                diffs.append('etc/exim4/passwd %s: disabled=%s, want one of %s' % (a, dis, sorted(reasons)))
            if e['words'].get('owner') != d['owner'] and not e['commented']:
                diffs.append('etc/exim4/passwd %s: owner=%s, want %s' % (a, e['words'].get('owner'), d['owner']))
            if (e['words'].get('save') == 'no') != (not mb['keep_copy']):
                diffs.append('etc/exim4/passwd %s: save=%s, want keep_copy %s' % (a, e['words'].get('save'),
                                                                                  mb['keep_copy']))
        v = dp.get(a)
        if v:
            if v['disabled'] != bool(reasons):
                diffs.append('etc/dovecot/dovecot.passwd %s: disabled %s, want %s' % (a, v['disabled'], bool(reasons)))
            uid = model.UID.get(d['owner'])
            if v['uid'] != str(uid) or v['gid'] != str(uid):
                diffs.append('etc/dovecot/dovecot.passwd %s: uid:gid %s:%s, want %s (owner %s)' % (
                    a, v['uid'], v['gid'], uid, d['owner']))
            if v['home'] != model.home_of(d['owner'], dn, l):
                diffs.append('etc/dovecot/dovecot.passwd %s: home %s, want %s' % (a, v['home'],
                                                                                   model.home_of(d['owner'], dn, l)))
            if v['password'] != mb['password']:
                diffs.append('etc/dovecot/dovecot.passwd %s: the password hash differs from the desired one' % a)
    aliases, copies = parse_aliases(files.get('etc/exim4/aliases'))
    want_al, want_cp = set(), set()
    for dn, d in st['domains'].items():
        for l, mb in d['mailboxes'].items():
            for x in mb['aliases']:
                want_al.add((model.addr(x, dn), model.addr(l, dn)))
            for t in mb['copy_to']:
                want_cp.add((t.lower(), model.addr(l, dn)))
    if aliases != want_al:
        diffs.append('etc/exim4/aliases aliases: extra %s, missing %s' % (sorted(aliases - want_al),
                                                                           sorted(want_al - aliases)))
    if copies != want_cp:
        diffs.append('etc/exim4/aliases copies: extra %s, missing %s' % (sorted(copies - want_cp),
                                                                          sorted(want_cp - copies)))
    doms = parse_domains(files.get('etc/exim4/domains'))
    if set(doms) != set(st['domains']):
        diffs.append('etc/exim4/domains: extra %s, missing %s' % (sorted(set(doms) - set(st['domains'])),
                                                                  sorted(set(st['domains']) - set(doms))))
    for dn, d in sorted(st['domains'].items()):
        x = doms.get(dn)
        if not x:
            continue
        if x['disabled'] != d['disabled']:
            diffs.append('etc/exim4/domains %s: disabled %s, want %s' % (dn, x['disabled'], d['disabled']))
        want_act = d['action'] if d['action'][0] in ('reject', 'discard') else (d['action'][0], d['action'][1].lower())
        if x['action'] != want_act:
            diffs.append('etc/exim4/domains %s: default action %s, want %s' % (dn, x['action'], want_act))
    return diffs
