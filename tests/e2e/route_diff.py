#!/usr/bin/python3
"""tests/e2e/route_diff.py: mailrecon's routing model against the real Exim (docs/route.md).

For each seed: a random desired state (domains with every default action, redirect_domain
chains, aliases, copies with and without keep_copy, disabled mailboxes, domains and users,
copy loops) is applied to a fresh copy of a sandbox root; then, for every mailbox, alias,
copy target, forward target, a mailbox in other letter cases and random unknown addresses of
each domain, `mailrecon route --json` is compared with

  exim4 -C SANDBOX/exim4.conf -DMR_ROOT=SANDBOX -bt ADDRESS...   (one call per seed)

(the set of mailboxes, remote addresses, bounces with their texts, "discarded"), and with the
answer of `exim4 -bh` to RCPT TO of each address (one SMTP session per seed).  Run by
tests/e2e/route.sh, which makes the sandbox template.  Exit 0 only with 0 mismatches.
The cases of tests/e2e/route-cases/*.yaml (regressions) run first.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

HASH = "{SHA512-CRYPT}$6$ahQr9koTM6fcokGS$daAuycRAjlwaanwmV2h2T0vyO..54CyD3K7mSZsvW8L.8qZwJI6EKDdhs5ZLnd4RLdn1zy01DMAr.1zeOm1TP0"
NAMES = ["info", "sales", "orders", "audit", "boss", "hr", "x", "y", "z", "a.b", "team-1", "post"]


def gen_state(rng):
    """A desired state as a dict, and the addresses worth asking about."""
    nd = rng.randint(3, 8)
    domains = [f"d{i}.test" for i in range(nd)]
    users = {"mailtest": {"account": "existing"},
             "mailother": {"account": "existing", "disabled": rng.random() < 0.15}}
    boxes = {}   # domain -> [names]
    aliases = {}  # domain -> {alias: main}
    for d in domains:
        k = rng.randint(0, 7)
        names = rng.sample(NAMES, k)
        boxes[d] = names
        free = [n for n in NAMES if n not in names]
        aliases[d] = {}
        for n in names:
            for _ in range(rng.choice([0, 0, 1, 2])):
                if not free:
                    break
                a = free.pop(rng.randrange(len(free)))
                aliases[d][a] = n
    disabled_domains = {d for d in domains if rng.random() < 0.15}
    all_boxes = [f"{n}@{d}" for d in domains for n in boxes[d]]
    all_aliases = [f"{a}@{d}" for d in domains for a in aliases[d]]

    def some_target(own=None):
        r = rng.random()
        if r < 0.45 and all_boxes:
            return rng.choice(all_boxes)
        if r < 0.6 and all_aliases:
            return rng.choice(all_aliases)
        if r < 0.75:
            return f"nobody{rng.randint(0, 2)}@{rng.choice(domains)}"
        if r < 0.9:
            return f"r{rng.randint(0, 3)}@remote.test"
        return f"q@gone{rng.randint(0, 1)}.test"

    doc = {"version": 1, "users": users, "domains": {}}
    forwards = []
    for i, d in enumerate(domains):
        owner = rng.choice(["mailtest", "mailother"])
        r = rng.random()
        if r < 0.25:
            act = "reject"
        elif r < 0.45:
            act = "discard"
        elif r < 0.75:
            local = [a for a in all_boxes + all_aliases]
            t = rng.choice(local) if local and rng.random() < 0.8 else f"fw{rng.randint(0, 2)}@remote.test"
            act = {"forward": t}
            forwards.append(t)
        else:
            later = domains[i + 1:]
            t = rng.choice(later) if later and rng.random() < 0.8 else "other.test"
            act = {"redirect_domain": t}
        dd = {"owner": owner, "default_action": act}
        if d in disabled_domains:
            dd["disabled"] = True
        mbs = {}
        for n in boxes[d]:
            addr = f"{n}@{d}"
            mb = {"password": {"hash": HASH}}
            al = sorted(a for a, m in aliases[d].items() if m == n)
            if al:
                mb["aliases"] = al
            copies = []
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                t = some_target()
                if t != addr and t not in copies:
                    copies.append(t)
            if copies:
                mb["copy_to"] = copies
                if rng.random() < 0.35:
                    mb["keep_copy"] = False
            if rng.random() < 0.15:
                mb["disabled"] = True
            mbs[n] = mb
        if mbs:
            dd["mailboxes"] = mbs
        doc["domains"][d] = dd

    asks = set(all_boxes) | set(all_aliases) | set(forwards)
    for d in domains:
        for n in boxes[d]:
            for t in doc["domains"][d]["mailboxes"][n].get("copy_to", []):
                asks.add(t)
        for _ in range(6):
            asks.add(f"u{rng.randint(0, 999)}@{d}")
        for n in NAMES:  # the names of other domains here: unknown, or the same local part elsewhere
            if rng.random() < 0.3:
                asks.add(f"{n}@{d}")
    asks.add("someone@remote.test")
    variants = set()
    for a in sorted(asks):
        if rng.random() < 0.1:
            lp, dom = a.rsplit("@", 1)
            variants.add(lp.upper() + "@" + (dom.upper() if rng.random() < 0.5 else dom))
    return doc, sorted(asks), sorted(variants)


def yaml_dump(doc):
    """The small YAML subset the generator needs (JSON is YAML: flow style)."""
    return json.dumps(doc, indent=1) + "\n"


def run(cmd, inp=None):
    p = subprocess.run(cmd, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def parse_bt(out):
    """exim -bt output -> {top-level address (lower): result dict}."""
    res = {}
    entries = []
    cur = None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            cur = {"head": line, "parents": [], "router": None}
            entries.append(cur)
        elif cur is not None:
            m = re.match(r"^\s+<-- (.*)$", line)
            if m:
                cur["parents"].append(m.group(1))
            m = re.match(r"^\s+router = (\S+), transport = (\S+)$", line)
            if m:
                cur["router"] = m.group(1)

    def slot(a):
        return res.setdefault(a.lower(), {"mailboxes": set(), "remote": set(), "bounces": set(),
                                         "discard": False, "other": []})
    for e in entries:
        h = e["head"]
        m = re.match(r"^mail to (\S+) is discarded$", h)
        if m:
            slot(m.group(1))["discard"] = True
            continue
        m = re.match(r"^(\S+) is undeliverable: (.*)$", h)
        if m:
            top = e["parents"][-1] if e["parents"] else m.group(1)
            slot(top)["bounces"].add((m.group(1).lower(), m.group(2)))
            continue
        m = re.match(r"^(\S+)(\s+\[duplicate, would not be delivered\])?$", h)
        if m and e["router"]:
            top = e["parents"][-1] if e["parents"] else m.group(1)
            if e["router"] == "mr_mailbox":
                slot(top)["mailboxes"].add(m.group(1).lower())
            elif e["router"] == "mr_smarthost":
                slot(top)["remote"].add(m.group(1).lower())
            else:
                slot(top)["other"].append(h + " router " + e["router"])
            continue
        if m and not e["router"]:
            # an address alone on a line without a router: not expected
            top = e["parents"][-1] if e["parents"] else m.group(1)
            slot(top)["other"].append(h)
            continue
        slot(h.split()[0])["other"].append(h)
    return res


def parse_bh(out, n):
    codes = [l for l in out.replace("\r", "").splitlines() if re.match(r"^[245]\d\d ", l)]
    # 220 banner, 250 HELO, 250 MAIL, then one answer per RCPT, 221 QUIT
    return codes[3:3 + n]


class Runner:
    def __init__(self, a):
        self.a = a
        self.checks = 0
        self.smtp_checks = 0
        self.mismatches = 0
        self.states = 0

    def fail(self, what, detail):
        self.mismatches += 1
        print(f"MISMATCH {what}\n{detail}", flush=True)

    def one(self, label, ypath, asks, keep=None):
        a = self.a
        sbx = tempfile.mkdtemp(prefix="mailrecon-route-", dir=a.tmp)
        try:
            shutil.rmtree(sbx)
            shutil.copytree(a.template, sbx, symlinks=True)
            os.chmod(sbx, 0o755)
            rc, out, err = run([a.bin, "apply", "--root", sbx, "-f", ypath, "--allow-delete", "--no-reload"])
            if rc != 0:
                self.fail(f"{label}: mailrecon apply failed ({rc})", err[-3000:])
                return
            self.states += 1
            rc, out, err = run([a.bin, "--root", sbx, "route", "--json", "-f", ypath] + asks)
            if rc != 0:
                self.fail(f"{label}: mailrecon route failed ({rc})", err[-3000:])
                return
            model = {}
            for line in out.splitlines():
                o = json.loads(line)
                model[o["address"]] = o
            rc, out2, err2 = run([a.bin, "--root", sbx, "route", "--live", "--json"] + asks)
            if rc != 0 or out2 != out:
                self.fail(f"{label}: route --live differs from route -f after apply", err2[-2000:] +
                          "\n".join(l1 + "\n  live: " + l2 for l1, l2 in zip(out.splitlines(), out2.splitlines()) if l1 != l2)[:4000])
            E = [a.exim, "-C", os.path.join(sbx, "exim4.conf"), "-DMR_ROOT=" + sbx,
                 "-DMR_DELIVERY=mr_maildir", "-DMR_SMARTHOST=127.0.0.1::2525"]
            shutil.copy(a.conf, os.path.join(sbx, "exim4.conf"))
            # -bt: addresses that differ only in case go to separate calls (the top-level
            # address of each result is told by its last "<--" line)
            batches = []
            for addr in asks:
                for b in batches:
                    if addr.lower() not in b[1]:
                        b[0].append(addr)
                        b[1].add(addr.lower())
                        break
                else:
                    batches.append(([addr], {addr.lower()}))
            exim = {}
            for b, _ in batches:
                rc, out, err = run(E + ["-bt"] + b)
                exim.update(parse_bt(out + "\n" + "\n".join(l for l in err.splitlines() if "lost privilege" not in l)))
            for addr in asks:
                o = model.get(addr)
                x = exim.get(addr.lower(), {"mailboxes": set(), "remote": set(), "bounces": set(),
                                            "discard": False, "other": []})
                self.checks += 1
                got = {"mailboxes": set(o["mailboxes"]), "remote": set(o["remote"]),
                       "bounces": {(b["address"], b["text"]) for b in o["bounces"]},
                       "discard": o["outcome"] == "discard", "other": []}
                if o.get("incomplete"):
                    got["other"].append("incomplete")
                if got != x:
                    self.fail(f"{label}: {addr}", f"  mailrecon: {json.dumps(o)}\n  exim -bt:  {x}\n  state: {ypath}")
            # -bh: one SMTP session, one RCPT per address
            sess = "HELO client.test\r\nMAIL FROM:<sender@remote.test>\r\n" + \
                "".join(f"RCPT TO:<{x}>\r\n" for x in asks) + "QUIT\r\n"
            rc, out, err = run(E + ["-bh", "192.0.2.25"], sess)
            answers = parse_bh(out, len(asks))
            if len(answers) != len(asks):
                self.fail(f"{label}: exim -bh gave {len(answers)} answers for {len(asks)} RCPTs", out[-3000:])
                return
            for addr, ans in zip(asks, answers):
                o = model[addr]
                want = "250" if o["smtp"]["code"] == 250 else "550 " + o["smtp"]["text"]
                got = ans.split(" ", 1)[0] if ans.startswith("250") else ans
                self.smtp_checks += 1
                if got != want:
                    self.fail(f"{label}: RCPT TO:<{addr}>", f"  mailrecon: {want}\n  exim -bh:  {ans}\n  state: {ypath}")
        finally:
            if keep is None and not a.keep:
                shutil.rmtree(sbx, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--exim", required=True)
    ap.add_argument("--template", required=True, help="sandbox root made by route.sh")
    ap.add_argument("--conf", required=True, help="root-owned copy of contrib/exim4/exim4.conf")
    ap.add_argument("--cases", required=True, help="directory of regression states (*.yaml + *.addresses)")
    ap.add_argument("--seeds", default="1-30")
    ap.add_argument("--min-checks", type=int, default=0)
    ap.add_argument("--tmp", default="/tmp")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    r = Runner(a)
    work = tempfile.mkdtemp(prefix="mailrecon-route-states-", dir=a.tmp)
    try:
        for name in sorted(os.listdir(a.cases)):
            if not name.endswith(".yaml"):
                continue
            y = os.path.join(a.cases, name)
            with open(y[:-5] + ".addresses") as f:
                asks = [l.strip() for l in f if l.strip() and not l.startswith("#")]
            r.one(f"case {name}", y, asks)
        lo, _, hi = a.seeds.partition("-")
        for seed in range(int(lo), int(hi or lo) + 1):
            rng = random.Random(seed)
            doc, asks, variants = gen_state(rng)
            y = os.path.join(work, f"seed-{seed}.yaml")
            with open(y, "w") as f:
                f.write(yaml_dump(doc))
            r.one(f"seed {seed}", y, asks + variants)
    finally:
        if r.mismatches == 0 and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"states kept in {work}")
    print(f"route differential: {r.states} states, {r.checks} address checks against exim -bt, "
          f"{r.smtp_checks} RCPT checks against exim -bh, {r.mismatches} mismatches")
    if r.checks < a.min_checks:
        print(f"FAIL: fewer than {a.min_checks} address checks")
        return 1
    return 0 if r.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
