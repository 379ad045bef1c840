"""Desired states: the generator, the mutations, the validity rules and the YAML writer.

A state is plain data (dicts, lists, tuples), so that deep copies and comparisons are cheap:

    {'server': {'rate_per_hour': int|None},
     'users': {NAME: {'role': 'user'|'reseller'|'admin', 'reseller': NAME|None, 'disabled': bool,
                      'limits': {'mail_domains': int|None, 'mailboxes': int|None, 'rate_per_hour': int|None}}},
     'domains': {NAME: {'owner': NAME, 'action': ('reject',)|('discard',)|('forward', ADDR)|('redirect_domain', DOM),
                        'greylisting': bool, 'spamassassin': bool, 'antivirus': bool, 'disabled': bool, 'dkim': bool,
                        'mailboxes': {LOCAL: {'password': HASH, 'aliases': [..], 'copy_to': [..], 'keep_copy': bool,
                                              'max_size': str|None, 'rate_per_hour': int|None, 'disabled': bool,
                                              'note': str|None, 'greylisting': bool, 'spamassassin': bool}}}}}

Every state this module hands out is valid per docs/desired-state.md (repair() enforces the
rules after every mutation); a state `mailrecon validate` rejects is a bug here.
"""

import copy

# The system accounts of every sandbox (etc/passwd): uid == gid, all >= 1000.
POOL_USERS = [('ann', 1001), ('ben', 1002), ('cat', 1003), ('dan', 1004), ('eve', 1005), ('fay', 1006)]
UID = dict(POOL_USERS)
USER_NAMES = [u for u, _ in POOL_USERS]

DOMAIN_POOL = ['a.example', 'b.example', 'c.example.org', 'shop.example.net', 'mail-1.example', 'x.test',
               'lists.example.com', 'z9.example', 'old-brand.example', 'new.example.org']
LOCAL_POOL = ['info', 'sales', 'office', 'bob', 'alice', 'it-desk', 'no.reply', 'team1', 'billing', 'hr', 'abuse',
              'news', 'ceo', 'dev-ops', 'a', 'm.x', 'support', 'jobs']
# addresses and domains that are never declared: copies and forwards leave the server
REMOTE_ADDRS = ['ext@remote.example.net', 'boss@partner.example.org', 'u1@far.example', 'list+tag@lists.remote.example',
                "o'brien@far.example"]
REMOTE_DOMAINS = ['elsewhere.example.net', 'parked.example', 'brand.remote.example']
NOTES = ['front desk', 'closed: use orders@ since 2024', '50% off = #1', 'Müller & Söhne', 'x', 'a "quoted" note \\ ok',
         'tab-free; colon: yes; hash # yes']
SIZES = ['1G', '500M', '2G', '1048576', '10M', '0']

MAX_USERS, MAX_DOMAINS, MAX_MAILBOXES = 4, 5, 5


def addr(local, dom):
    return '%s@%s' % (local, dom)


def empty_state():
    return {'server': {'rate_per_hour': None}, 'users': {}, 'domains': {}}


def is_empty(st):
    return not st['users'] and not st['domains']


def new_user(r, role='user'):
    u = {'role': role, 'reseller': None, 'disabled': False,
         'limits': {'mail_domains': None, 'mailboxes': None, 'rate_per_hour': None}}
    if r.random() < 0.25:
        u['limits']['rate_per_hour'] = r.choice([0, 10, 200, 1000])
    return u


def new_mailbox(r, hashes):
    mb = {'password': r.choice(hashes), 'aliases': [], 'copy_to': [], 'keep_copy': True, 'max_size': None,
          'rate_per_hour': None, 'disabled': False, 'note': None, 'greylisting': True, 'spamassassin': True}
    if r.random() < 0.3:
        mb['max_size'] = r.choice(SIZES)
    if r.random() < 0.25:
        mb['rate_per_hour'] = r.choice([0, 1, 50, 500])
    if r.random() < 0.1:
        mb['disabled'] = True
    if r.random() < 0.2:
        mb['note'] = r.choice(NOTES)
    if r.random() < 0.1:
        mb['greylisting'] = False
    if r.random() < 0.1:
        mb['spamassassin'] = False
    return mb


def new_domain(r, owner, dkim_rate):
    return {'owner': owner, 'action': ('reject',), 'greylisting': r.random() > 0.15,
            'spamassassin': r.random() > 0.15, 'antivirus': r.random() > 0.15, 'disabled': r.random() < 0.08,
            'dkim': r.random() < dkim_rate, 'mailboxes': {}}


def owners_ok(st):
    """The users that may own a domain: role user or admin."""
    return sorted(u for u, v in st['users'].items() if v['role'] in ('user', 'admin'))


def names_in_domain(d):
    names = set(d['mailboxes'])
    for mb in d['mailboxes'].values():
        names.update(mb['aliases'])
    return names


def all_addresses(st):
    return sorted(addr(l, dn) for dn, d in st['domains'].items() for l in d['mailboxes'])


def free_local(r, d, pool=LOCAL_POOL):
    used = names_in_domain(d)
    free = [l for l in pool if l not in used]
    return r.choice(free) if free else None


def free_domain(r, taken):
    free = [x for x in DOMAIN_POOL if x not in taken]
    return r.choice(free) if free else None


def fill_references(r, st):
    """Random aliases, copies and default actions over the whole state."""
    addrs = all_addresses(st)
    for dn, d in st['domains'].items():
        for l, mb in d['mailboxes'].items():
            for _ in range(r.choice([0, 0, 1, 2])):
                a = free_local(r, d)
                if a:
                    mb['aliases'].append(a)
            for _ in range(r.choice([0, 0, 1, 2])):
                t = r.choice(addrs + REMOTE_ADDRS) if r.random() < 0.5 else r.choice(REMOTE_ADDRS)
                if t != addr(l, dn) and t not in mb['copy_to']:
                    mb['copy_to'].append(t)
            if mb['copy_to'] and r.random() < 0.3:
                mb['keep_copy'] = False
        d['action'] = random_action(r, st, dn)


def random_action(r, st, dn):
    d = st['domains'][dn]
    x = r.random()
    if x < 0.45:
        return ('reject',)
    if x < 0.6:
        return ('discard',)
    if x < 0.8:
        local = sorted(names_in_domain(d))
        if local and r.random() < 0.7:
            return ('forward', addr(r.choice(local), dn))
        return ('forward', r.choice(REMOTE_ADDRS))
    others = [o for o in st['domains'] if o != dn]
    if others and r.random() < 0.6:
        return ('redirect_domain', r.choice(others))
    return ('redirect_domain', r.choice(REMOTE_DOMAINS))


def counts(st):
    """(domains, mailboxes) per owner."""
    nd, nm = {}, {}
    for d in st['domains'].values():
        nd[d['owner']] = nd.get(d['owner'], 0) + 1
        nm[d['owner']] = nm.get(d['owner'], 0) + len(d['mailboxes'])
    return nd, nm


def reseller_totals(st, res):
    nd, nm = counts(st)
    users = [u for u, v in st['users'].items() if v['reseller'] == res]
    return sum(nd.get(u, 0) for u in users), sum(nm.get(u, 0) for u in users)


def limit_violations(st):
    """The limits the state breaks, as text (empty when it holds)."""
    out = []
    nd, nm = counts(st)
    for u, v in st['users'].items():
        lim = v['limits']
        if v['role'] == 'reseller':
            d, m = reseller_totals(st, u)
        else:
            d, m = nd.get(u, 0), nm.get(u, 0)
        if lim['mail_domains'] is not None and d > lim['mail_domains']:
            out.append('%s: %d domains > %d' % (u, d, lim['mail_domains']))
        if lim['mailboxes'] is not None and m > lim['mailboxes']:
            out.append('%s: %d mailboxes > %d' % (u, m, lim['mailboxes']))
    return out


def redirect_loops(st, dn):
    seen = set()
    cur = dn
    while cur in st['domains'] and st['domains'][cur]['action'][0] == 'redirect_domain':
        if cur in seen:
            return True
        seen.add(cur)
        cur = st['domains'][cur]['action'][1]
    return False


def repair(st, raise_limits=True):
    """Make the state valid again after mutations (the validator's rules)."""
    users = st['users']
    for u, v in users.items():
        if v['role'] != 'user' or v['reseller'] not in users or users[v['reseller']]['role'] != 'reseller':
            v['reseller'] = None
    owners = owners_ok(st)
    if st['domains'] and not owners:
        # someone must be able to own the domains: the first user becomes a plain user
        first = sorted(users)[0] if users else None
        if first is None:
            first = 'ann'
            users[first] = new_user(_Fixed(), 'user')
        users[first]['role'] = 'user'
        for v in users.values():
            if v['reseller'] == first:
                v['reseller'] = None
        owners = owners_ok(st)
    for dn, d in sorted(st['domains'].items()):
        if d['owner'] not in owners:
            d['owner'] = owners[0]
    for dn, d in st['domains'].items():
        mbs = d['mailboxes']
        taken = set(mbs)
        for l, mb in sorted(mbs.items()):
            keep = []
            for a in mb['aliases']:
                if a not in taken:
                    keep.append(a)
                    taken.add(a)
            mb['aliases'] = keep
            seen = []
            for t in mb['copy_to']:
                if t != addr(l, dn) and t not in seen:
                    seen.append(t)
            mb['copy_to'] = seen
            if not mb['copy_to']:
                mb['keep_copy'] = True
    for dn, d in st['domains'].items():
        act = d['action']
        if act[0] == 'forward':
            local, _, tdom = act[1].partition('@')
            if tdom in st['domains'] and local not in names_in_domain(st['domains'][tdom]):
                d['action'] = ('reject',)
        elif act[0] == 'redirect_domain' and act[1] == dn:
            d['action'] = ('reject',)
    for dn in sorted(st['domains']):
        if redirect_loops(st, dn):
            st['domains'][dn]['action'] = ('reject',)
    if raise_limits:
        nd, nm = counts(st)
        for u, v in users.items():
            lim = v['limits']
            if v['role'] == 'reseller':
                d, m = reseller_totals(st, u)
            else:
                d, m = nd.get(u, 0), nm.get(u, 0)
            if lim['mail_domains'] is not None and d > lim['mail_domains']:
                lim['mail_domains'] = d
            if lim['mailboxes'] is not None and m > lim['mailboxes']:
                lim['mailboxes'] = m
    return st


class _Fixed:
    def random(self):
        return 1.0

    def choice(self, seq):
        return seq[0]


def set_limits(r, st, users=None):
    nd, nm = counts(st)
    for u in users or list(st['users']):
        v = st['users'][u]
        if v['role'] == 'admin':
            continue
        if v['role'] == 'reseller':
            d, m = reseller_totals(st, u)
        else:
            d, m = nd.get(u, 0), nm.get(u, 0)
        if r.random() < 0.5:
            v['limits']['mail_domains'] = d + r.choice([0, 0, 1, 2])
        if r.random() < 0.5:
            v['limits']['mailboxes'] = m + r.choice([0, 0, 1, 3])


def fresh(r, hashes, dkim_rate=0.0):
    """A new random valid state: 1-4 users, 1-5 domains, 0-5 mailboxes each."""
    st = empty_state()
    if r.random() < 0.3:
        st['server']['rate_per_hour'] = r.choice([100, 500, 0])
    names = r.sample(USER_NAMES, r.randint(1, MAX_USERS))
    for i, u in enumerate(names):
        x = r.random()
        role = 'user' if (i == 0 or x < 0.6) else ('reseller' if x < 0.8 else 'admin')
        st['users'][u] = new_user(r, role)
        if r.random() < 0.07:
            st['users'][u]['disabled'] = True
    resellers = [u for u, v in st['users'].items() if v['role'] == 'reseller']
    for u, v in st['users'].items():
        if v['role'] == 'user' and resellers and r.random() < 0.6:
            v['reseller'] = r.choice(resellers)
    owners = owners_ok(st)
    for dn in r.sample(DOMAIN_POOL, r.randint(1, MAX_DOMAINS)):
        d = st['domains'][dn] = new_domain(r, r.choice(owners), dkim_rate)
        for _ in range(r.randint(0, MAX_MAILBOXES)):
            l = free_local(r, d)
            if l:
                d['mailboxes'][l] = new_mailbox(r, hashes)
    fill_references(r, st)
    set_limits(r, st)
    return repair(st)


# ---- mutations: each takes (r, st, ctx) and changes st in place; a no-op when it cannot apply ----

def _pick_domain(r, st, pred=lambda d: True):
    c = [dn for dn, d in sorted(st['domains'].items()) if pred(d)]
    return r.choice(c) if c else None


def _pick_mailbox(r, st, domains=None, ctx=None):
    frozen = (ctx or {}).get('frozen', ())
    c = [(dn, l) for dn, d in sorted(st['domains'].items()) if domains is None or dn in domains
         for l in sorted(d['mailboxes']) if ('mailbox', addr(l, dn)) not in frozen]
    return r.choice(c) if c else (None, None)


def m_add_mailbox(r, st, ctx, domains=None):
    dn = _pick_domain(r, st, lambda d: len(d['mailboxes']) < MAX_MAILBOXES) if domains is None else \
        (r.choice([x for x in domains if len(st['domains'][x]['mailboxes']) < MAX_MAILBOXES])
         if [x for x in domains if len(st['domains'][x]['mailboxes']) < MAX_MAILBOXES] else None)
    if not dn:
        return None
    d = st['domains'][dn]
    l = free_local(r, d)
    if not l:
        return None
    mb = d['mailboxes'][l] = new_mailbox(r, ctx['hashes'])
    if ctx.get('no_disable'):
        mb['disabled'] = False
    if r.random() < 0.3:
        a = free_local(r, d)
        if a:
            mb['aliases'].append(a)
    if r.random() < 0.3:
        mb['copy_to'].append(r.choice(all_addresses(st) + REMOTE_ADDRS))
    return 'add mailbox %s' % addr(l, dn)


def m_del_mailbox(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    del st['domains'][dn]['mailboxes'][l]
    return 'delete mailbox %s' % addr(l, dn)


def m_rename_mailbox(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    d = st['domains'][dn]
    n = free_local(r, d)
    if not n:
        return None
    d['mailboxes'][n] = d['mailboxes'].pop(l)
    return 'rename mailbox %s -> %s' % (addr(l, dn), n)


def m_alias(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    mb = st['domains'][dn]['mailboxes'][l]
    if mb['aliases'] and r.random() < 0.5:
        a = mb['aliases'].pop(r.randrange(len(mb['aliases'])))
        return 'remove alias %s of %s' % (a, addr(l, dn))
    a = free_local(r, st['domains'][dn])
    if not a:
        return None
    mb['aliases'].append(a)
    return 'add alias %s to %s' % (a, addr(l, dn))


def m_copy(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    mb = st['domains'][dn]['mailboxes'][l]
    if mb['copy_to'] and r.random() < 0.5:
        t = mb['copy_to'].pop(r.randrange(len(mb['copy_to'])))
        return 'remove copy %s of %s' % (t, addr(l, dn))
    t = r.choice(all_addresses(st) + REMOTE_ADDRS)
    if t == addr(l, dn) or t in mb['copy_to']:
        return None
    mb['copy_to'].append(t)
    if r.random() < 0.3:
        mb['keep_copy'] = False
    return 'add copy %s to %s' % (t, addr(l, dn))


def m_mailbox_attr(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    mb = st['domains'][dn]['mailboxes'][l]
    k = r.choice(['max_size', 'rate_per_hour', 'note', 'greylisting', 'spamassassin', 'keep_copy', 'password'])
    if k == 'max_size':
        mb[k] = r.choice(SIZES + [None])
    elif k == 'rate_per_hour':
        mb[k] = r.choice([None, 0, 5, 100])
    elif k == 'note':
        mb[k] = r.choice(NOTES + [None])
    elif k == 'password':
        mb[k] = r.choice(ctx['hashes'])
    elif k == 'keep_copy':
        if not mb['copy_to']:
            return None
        mb[k] = not mb[k]
    else:
        mb[k] = not mb[k]
    return 'mailbox %s: %s' % (addr(l, dn), k)


def m_mailbox_disable(r, st, ctx, domains=None):
    dn, l = _pick_mailbox(r, st, domains, ctx)
    if not dn:
        return None
    mb = st['domains'][dn]['mailboxes'][l]
    if ctx.get('no_enable') and mb['disabled']:
        return None
    if ('mailbox', addr(l, dn)) in ctx.get('frozen', ()):
        return None
    mb['disabled'] = not mb['disabled']
    return '%s mailbox %s' % ('disable' if mb['disabled'] else 'enable', addr(l, dn))


def m_domain_disable(r, st, ctx, domains=None):
    dn = _pick_domain(r, st) if domains is None else (r.choice(sorted(domains)) if domains else None)
    if not dn:
        return None
    d = st['domains'][dn]
    if ctx.get('no_enable') and d['disabled']:
        return None
    if ('domain', dn) in ctx.get('frozen', ()):
        return None
    d['disabled'] = not d['disabled']
    return '%s domain %s' % ('disable' if d['disabled'] else 'enable', dn)


def m_domain_flag(r, st, ctx, domains=None):
    dn = _pick_domain(r, st) if domains is None else (r.choice(sorted(domains)) if domains else None)
    if not dn:
        return None
    k = r.choice(['greylisting', 'spamassassin', 'antivirus'] + (['dkim'] if ctx.get('dkim_rate') else []))
    st['domains'][dn][k] = not st['domains'][dn][k]
    return 'domain %s: %s %s' % (dn, k, st['domains'][dn][k])


def m_domain_action(r, st, ctx, domains=None):
    dn = _pick_domain(r, st) if domains is None else (r.choice(sorted(domains)) if domains else None)
    if not dn:
        return None
    act = random_action(r, st, dn)
    if domains is not None and act[0] == 'redirect_domain' and act[1] in st['domains']:
        act = ('redirect_domain', r.choice(REMOTE_DOMAINS))  # a scoped file: only outside targets
    st['domains'][dn]['action'] = act
    return 'domain %s: default_action %s' % (dn, '/'.join(act))


def m_domain_owner(r, st, ctx, domains=None, owners=None):
    dn = _pick_domain(r, st) if domains is None else (r.choice(sorted(domains)) if domains else None)
    if not dn:
        return None
    cands = [u for u in (owners if owners is not None else owners_ok(st)) if u != st['domains'][dn]['owner']]
    if not cands:
        return None
    old = st['domains'][dn]['owner']
    st['domains'][dn]['owner'] = r.choice(cands)
    return 'domain %s: owner %s -> %s' % (dn, old, st['domains'][dn]['owner'])


def m_add_domain(r, st, ctx, owners=None, taken=()):
    if len(st['domains']) >= MAX_DOMAINS:
        return None
    owners = owners if owners is not None else owners_ok(st)
    if not owners:
        return None
    dn = free_domain(r, set(st['domains']) | set(taken))
    if not dn:
        return None
    d = st['domains'][dn] = new_domain(r, r.choice(owners), ctx.get('dkim_rate', 0))
    if ctx.get('no_disable'):
        d['disabled'] = False
    for _ in range(r.randint(0, 2)):
        l = free_local(r, d)
        if l:
            d['mailboxes'][l] = new_mailbox(r, ctx['hashes'])
            if ctx.get('no_disable'):
                d['mailboxes'][l]['disabled'] = False
    return 'add domain %s (owner %s)' % (dn, d['owner'])


def m_del_domain(r, st, ctx, domains=None):
    dn = _pick_domain(r, st) if domains is None else (r.choice(sorted(domains)) if domains else None)
    if not dn:
        return None
    del st['domains'][dn]
    return 'delete domain %s' % dn


def m_add_user(r, st, ctx):
    free = [u for u in USER_NAMES if u not in st['users']]
    if len(st['users']) >= MAX_USERS or not free:
        return None
    u = r.choice(free)
    x = r.random()
    st['users'][u] = new_user(r, 'user' if x < 0.6 else 'reseller' if x < 0.8 else 'admin')
    return 'add user %s (%s)' % (u, st['users'][u]['role'])


def m_del_user(r, st, ctx):
    if len(st['users']) <= 1:
        return None
    u = r.choice(sorted(st['users']))
    del st['users'][u]
    gone = [dn for dn, d in st['domains'].items() if d['owner'] == u]
    rest = [x for x in owners_ok(st)]
    for dn in gone:
        if rest and r.random() < 0.5 and 'owner' not in ctx.get('without_mutations', ()):
            st['domains'][dn]['owner'] = r.choice(rest)
        else:
            del st['domains'][dn]
    return 'delete user %s' % u


def m_user_role(r, st, ctx):
    if not st['users']:
        return None
    u = r.choice(sorted(st['users']))
    v = st['users'][u]
    new = r.choice([x for x in ('user', 'reseller', 'admin') if x != v['role']])
    if new == 'reseller':
        owns = any(d['owner'] == u for d in st['domains'].values())
        if owns and 'owner' in ctx.get('without_mutations', ()):
            return None
        rest = [x for x in owners_ok(st) if x != u]
        if not rest and any(d['owner'] == u for d in st['domains'].values()):
            return None
        for d in st['domains'].values():
            if d['owner'] == u:
                d['owner'] = r.choice(rest)
    v['role'] = new
    return 'user %s: role %s' % (u, new)


def m_user_disable(r, st, ctx):
    if not st['users']:
        return None
    u = r.choice(sorted(st['users']))
    st['users'][u]['disabled'] = not st['users'][u]['disabled']
    return '%s user %s' % ('disable' if st['users'][u]['disabled'] else 'enable', u)


def m_user_limits(r, st, ctx):
    if not st['users']:
        return None
    u = r.choice(sorted(st['users']))
    lim = st['users'][u]['limits']
    k = r.choice(['mail_domains', 'mailboxes', 'rate_per_hour'])
    lim[k] = None if lim[k] is not None and r.random() < 0.4 else r.choice([0, 1, 2, 5, 8, 20])
    return 'user %s: limits.%s %s' % (u, k, lim[k])


def m_user_reseller(r, st, ctx):
    users = [u for u, v in sorted(st['users'].items()) if v['role'] == 'user']
    res = [u for u, v in sorted(st['users'].items()) if v['role'] == 'reseller']
    if not users:
        return None
    u = r.choice(users)
    st['users'][u]['reseller'] = r.choice(res + [None]) if res else None
    return 'user %s: reseller %s' % (u, st['users'][u]['reseller'])


def m_server(r, st, ctx):
    st['server']['rate_per_hour'] = r.choice([None, 0, 100, 500])
    return 'server rate_per_hour %s' % st['server']['rate_per_hour']


ADMIN_MUTATIONS = [
    (m_add_mailbox, 6), (m_del_mailbox, 4), (m_rename_mailbox, 2), (m_alias, 3), (m_copy, 3), (m_mailbox_attr, 3),
    (m_mailbox_disable, 2), (m_domain_disable, 1), (m_domain_flag, 2), (m_domain_action, 2), (m_domain_owner, 3),
    (m_add_domain, 2), (m_del_domain, 1.5), (m_add_user, 1), (m_del_user, 0.7), (m_user_role, 0.7),
    (m_user_disable, 0.5), (m_user_limits, 1), (m_user_reseller, 0.7), (m_server, 0.3),
]


MUTATION_NAMES = {
    'add-mailbox': m_add_mailbox, 'delete-mailbox': m_del_mailbox, 'rename-mailbox': m_rename_mailbox,
    'alias': m_alias, 'copy': m_copy, 'mailbox-attr': m_mailbox_attr, 'mailbox-disable': m_mailbox_disable,
    'domain-disable': m_domain_disable, 'domain-flag': m_domain_flag, 'domain-action': m_domain_action,
    'owner': m_domain_owner, 'add-domain': m_add_domain, 'delete-domain': m_del_domain, 'add-user': m_add_user,
    'delete-user': m_del_user, 'role': m_user_role, 'user-disable': m_user_disable, 'limits': m_user_limits,
    'reseller': m_user_reseller, 'server': m_server,
}


def weighted(r, table):
    total = sum(w for _, w in table)
    x = r.random() * total
    for f, w in table:
        x -= w
        if x < 0:
            return f
    return table[-1][0]


def mutate(r, st, ctx, n=None):
    """A mutated copy of st (1-4 admin mutations), valid; and the list of what was done."""
    st = copy.deepcopy(st)
    if is_empty(st) or r.random() < 0.07:
        new = fresh(r, ctx['hashes'], ctx.get('dkim_rate', 0))
        if 'owner' in ctx.get('without_mutations', ()):
            # a domain that stays keeps its owner
            for dn in [x for x in new['domains'] if x in st['domains']]:
                o = st['domains'][dn]['owner']
                if o in new['users'] and new['users'][o]['role'] in ('user', 'admin'):
                    new['domains'][dn]['owner'] = o
                else:
                    del new['domains'][dn]
            repair(new)
        return new, ['a new random state']
    done = []
    skip = {MUTATION_NAMES[x] for x in ctx.get('without_mutations', ())}
    table = [(f, w) for f, w in ADMIN_MUTATIONS if f not in skip]
    for _ in range(n or r.randint(1, 4)):
        for _try in range(5):
            what = weighted(r, table)(r, st, ctx)
            if what:
                done.append(what)
                break
    repair(st)
    if not st['users']:
        st['users']['ann'] = new_user(r)
    return st, done


# ---- YAML ----

def q(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def b(x):
    return 'true' if x else 'false'


def to_yaml(st, users=None, domains=None, server=True):
    """The state as a desired-state document; users/domains restrict what is declared."""
    out = ['version: 1']
    if server and st['server']['rate_per_hour'] is not None:
        out += ['server:', '  rate_per_hour: %d' % st['server']['rate_per_hour']]
    us = sorted(st['users']) if users is None else sorted(users)
    if us:
        out.append('users:')
    for u in us:
        v = st['users'][u]
        out.append('  %s:' % u)
        out.append('    role: %s' % v['role'])
        if v.get('reseller'):
            out.append('    reseller: %s' % v['reseller'])
        if v['disabled']:
            out.append('    disabled: true')
        elif v.get('enable'):
            out.append('    disabled: false')  # said outright: a scope user who leaves it out keeps it
        lim = {k: x for k, x in v['limits'].items() if x is not None}
        if lim:
            out.append('    limits: {%s}' % ', '.join('%s: %d' % (k, lim[k]) for k in sorted(lim)))
    ds = sorted(st['domains']) if domains is None else sorted(domains)
    if ds:
        out.append('domains:')
    for dn in ds:
        d = st['domains'][dn]
        out.append('  %s:' % dn)
        out.append('    owner: %s' % d['owner'])
        act = d['action']
        if act[0] in ('reject', 'discard'):
            out.append('    default_action: %s' % act[0])
        else:
            out.append('    default_action: {%s: %s}' % (act[0], q(act[1])))
        for k in ('greylisting', 'spamassassin', 'antivirus'):
            if not d[k]:
                out.append('    %s: false' % k)
        if d['disabled']:
            out.append('    disabled: true')
        if d.get('dkim'):
            out.append('    dkim: {selector: dkim, bits: 1024}')
        if d['mailboxes']:
            out.append('    mailboxes:')
        for l in sorted(d['mailboxes']):
            mb = d['mailboxes'][l]
            out.append('      %s:' % l)
            out.append('        password: {hash: %s}' % q(mb['password']))
            if mb['aliases']:
                out.append('        aliases: [%s]' % ', '.join(q(a) for a in mb['aliases']))
            if mb['copy_to']:
                out.append('        copy_to: [%s]' % ', '.join(q(a) for a in mb['copy_to']))
            if not mb['keep_copy']:
                out.append('        keep_copy: false')
            if mb['max_size'] is not None:
                out.append('        max_size: %s' % mb['max_size'])
            if mb['rate_per_hour'] is not None:
                out.append('        rate_per_hour: %d' % mb['rate_per_hour'])
            for k in ('greylisting', 'spamassassin'):
                if not mb[k]:
                    out.append('        %s: false' % k)
            if mb['disabled']:
                out.append('        disabled: true')
            if mb['note'] is not None:
                out.append('        note: %s' % q(mb['note']))
    return '\n'.join(out) + '\n'


def summary(st):
    nm = sum(len(d['mailboxes']) for d in st['domains'].values())
    return '%d users, %d domains, %d mailboxes' % (len(st['users']), len(st['domains']), nm)


# ---- what the live server should look like ----

def effective_disabled(st, dn, l):
    d = st['domains'][dn]
    reasons = set()
    if d['mailboxes'][l]['disabled']:
        reasons.add('self')
    if d['disabled']:
        reasons.add('domain')
    if st['users'].get(d['owner'], {}).get('disabled'):
        reasons.add('user')
    return reasons


def home_of(owner, dn, l):
    return '/var/www/%s/data/email/%s/%s' % (owner, dn, l)
