#!/usr/bin/python3
# -*- coding: utf-8 -*-
# The mailrecon Ansible module (docs/fleet.md). Ansible runs it on each mail server; it runs
# the mailrecon binary there. Check mode is `mailrecon plan --json` (changed when the plan
# changes something; with --diff, the plan text as the diff); otherwise `plan --json --out`
# then `apply --plan` of exactly that plan, so what is reported is what was applied.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: mailrecon
short_description: Keep an Exim + Dovecot mail server in the state of a mailrecon desired state
description:
  - Runs C(mailrecon plan) and C(mailrecon apply) on the managed host (see mailrecon(1)).
  - In check mode, and with I(state=planned), only plans; C(changed) says whether the plan
    changes something (with I(state=planned) outside check mode, C(changed) is false and
    C(pending) says it).
  - With I(state=applied), the plan is saved with C(plan --out) and applied with
    C(apply --plan), which refuses (exit 3) when a live file changed in between (with
    I(purge), C(apply --purge) plans again itself: plan has no C(--purge)).
  - Every result carries the plan as JSON (schema/plan.schema.json) in C(plan).
options:
  root:
    description: Every live path is taken below this directory (C(--root)).
    type: path
    default: /
  state_dir:
    description: The state directory, below I(root) (C(--state-dir)).
    type: str
    default: /var/lib/mailrecon
  sources:
    description: Desired-state sources (C(-f)), files, directories or C(git:REPO#REF); none means ROOT/etc/mailrecon/desired.
    type: list
    elements: str
    default: []
  host:
    description: The fleet's host to reconcile (C(--host)); default the server's short host name.
    type: str
  allow_delete:
    description: Deletions apply may make (C(--allow-delete=N)); -1 means any number.
    type: int
    default: 0
  purge:
    description: Remove a deleted mailbox's mail instead of archiving it (C(--purge)).
    type: bool
    default: false
  no_reload:
    description: Do not reload the services (C(--no-reload)); for sandbox roots.
    type: bool
    default: false
  lock_timeout:
    description: Seconds to wait for another apply's lock (C(--lock-timeout)).
    type: int
    default: 300
  state:
    description: C(applied) makes the server match; C(planned) only plans.
    type: str
    choices: [planned, applied]
    default: applied
  binary:
    description: The mailrecon program.
    type: path
    default: mailrecon
"""

EXAMPLES = r"""
- name: Reconcile this server's part of the fleet
  mailrecon:
    sources: [/srv/mail-desired]
    host: "{{ inventory_hostname_short }}"
    allow_delete: 2
"""

RETURN = r"""
plan:
  description: The plan as mailrecon plan --json prints it (schema/plan.schema.json).
  type: dict
  returned: when a plan was made
pending:
  description: Whether the plan changes something.
  type: bool
  returned: when a plan was made
stdout:
  description: What apply printed.
  type: str
  returned: when apply ran
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def global_args(p):
    args = [p["binary"], "--root", p["root"], "--state-dir", p["state_dir"],
            "--lock-timeout", str(p["lock_timeout"]), "--color", "never"]
    if p["host"]:
        args += ["--host", p["host"]]
    return args


def allow_delete_arg(p):
    n = p["allow_delete"]
    return "--allow-delete" if n < 0 else "--allow-delete=%d" % n


def sources_args(p):
    args = []
    for s in p["sources"]:
        args += ["-f", s]
    return args


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path", default="/"),
            state_dir=dict(type="str", default="/var/lib/mailrecon"),
            sources=dict(type="list", elements="str", default=[]),
            host=dict(type="str"),
            allow_delete=dict(type="int", default=0),
            purge=dict(type="bool", default=False),
            no_reload=dict(type="bool", default=False),
            lock_timeout=dict(type="int", default=300),
            state=dict(type="str", choices=["planned", "applied"], default="applied"),
            binary=dict(type="path", default="mailrecon"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["allow_delete"] < -1:
        module.fail_json(msg="allow_delete must be -1 (any number) or more")
    apply_now = p["state"] == "applied" and not module.check_mode
    env = {"NO_COLOR": "1", "LC_ALL": "C.UTF-8"}
    planfile = None
    if apply_now:
        fd, planfile = tempfile.mkstemp(prefix="mailrecon-", suffix=".plan")
        os.close(fd)
    try:
        cmd = global_args(p) + ["plan", "--json", allow_delete_arg(p)] + sources_args(p)
        if planfile:
            cmd += ["--out", planfile]
        rc, out, err = module.run_command(cmd, environ_update=env)
        if rc != 0:
            module.fail_json(msg="mailrecon plan failed (exit %d)" % rc, rc=rc, stdout=out, stderr=err, cmd=cmd)
        try:
            plan = json.loads(out)
        except ValueError as e:
            module.fail_json(msg="mailrecon plan --json printed no JSON: %s" % e, stdout=out, stderr=err)
        pending = bool(plan.get("summary", {}).get("changes"))
        result = dict(plan=plan, pending=pending, changed=False)
        if module._diff and pending:
            trc, text, terr = module.run_command(
                global_args(p) + ["plan", allow_delete_arg(p)] + sources_args(p), environ_update=env)
            result["diff"] = dict(prepared=text if trc == 0 else terr)
        if p["state"] == "planned":
            result["changed"] = pending and module.check_mode
            module.exit_json(**result)
        if module.check_mode or not pending:
            result["changed"] = pending
            module.exit_json(**result)
        if p["purge"]:
            # plan has no --purge (its homes would read "archived"): apply plans again itself
            cmd = global_args(p) + ["apply", allow_delete_arg(p), "--yes", "--purge"] + sources_args(p)
        else:
            cmd = global_args(p) + ["apply", "--plan", planfile, allow_delete_arg(p), "--yes"]
        if p["no_reload"]:
            cmd.append("--no-reload")
        rc, out, err = module.run_command(cmd, environ_update=env)
        result.update(stdout=out, stderr=err, rc=rc)
        if rc != 0:
            why = {3: "refused by a safety rule (deletions over allow_delete, or a live file changed since the plan)",
                   4: "another run held the lock longer than lock_timeout"}.get(rc, "failed")
            module.fail_json(msg="mailrecon apply %s (exit %d)" % (why, rc), **result)
        result["changed"] = True
        module.exit_json(**result)
    finally:
        if planfile and os.path.exists(planfile):
            os.unlink(planfile)


if __name__ == "__main__":
    main()
