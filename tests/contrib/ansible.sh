#!/usr/bin/env bash
# contrib/ansible (issue 18, docs/fleet.md): the example playbook site.yml and the module
# library/mailrecon.py, run by the real ansible-playbook against localhost (connection: local)
# on two sandbox roots playing mx1 and mx2, the desired state in a git repository as in
# production. Four playbook runs (ansible-playbook starts slowly):
#   1. --check --diff: nothing changes on either root, the module reports changed with the
#      JSON plan and the plan text as the diff;
#   2. apply: each root gets its own domains only;
#   3. apply again: nothing changed;
#   4. one commit moves example.org from mx1 to mx2: one run moves it.
# Then the alert rule of docs/fleet.md through promtool check rules.
# Usage: ansible.sh MAILRECON REPO_ROOT
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$repo/tests/cli/lib.sh"

for tool in ansible-playbook promtool git python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL: $tool is not installed (Debian: ansible-core, prometheus, git, python3; bash scripts/quickstart test installs them)" >&2
		exit 1
	fi
done

# the desired state: a git repository holding examples/fleet
git init -q -b main "$tmp/desired"
cp "$repo"/examples/fleet/*.yaml "$tmp/desired/"
gitc() { git -C "$tmp/desired" -c user.name=ci -c user.email=ci@example.invalid "$@"; }
gitc add . && gitc commit -qm "the fleet"

for h in mx1 mx2; do
	mkdir -p "$tmp/$h/etc/exim4"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin' \
		'carol:x:1002:1002::/var/www/carol:/usr/sbin/nologin' 'bob:x:1003:1003::/var/www/bob:/usr/sbin/nologin' \
		>"$tmp/$h/etc/passwd"
done
cat >"$tmp/inventory.ini" <<EOF
[mailservers]
mx1 ansible_connection=local mailrecon_root=$tmp/mx1 mailrecon_checkout=$tmp/checkout-mx1
mx2 ansible_connection=local mailrecon_root=$tmp/mx2 mailrecon_checkout=$tmp/checkout-mx2

[mailservers:vars]
ansible_python_interpreter=$py3
mailrecon_repo=$tmp/desired
mailrecon_version=main
mailrecon_binary=$bin
mailrecon_no_reload=true
mailrecon_allow_delete=5
EOF

# play NAME ARGS...: one run of the example playbook; the module's result per host is kept by
# the tree callback in $tmp/tree.NAME/HOST (the last task of each host: the module's)
play() {
	local name=$1
	shift
	rm -rf "$tmp/tree.$name"
	ANSIBLE_PIPELINING=true ANSIBLE_CALLBACKS_ENABLED=tree ANSIBLE_CALLBACK_TREE_DIR="$tmp/tree.$name" ANSIBLE_NOCOLOR=1 \
		ANSIBLE_HOST_KEY_CHECKING=false ANSIBLE_LOCAL_TEMP="$tmp/ansible-local" ANSIBLE_REMOTE_TEMP="$tmp/ansible-remote" \
		HOME="$tmp" ansible-playbook -i "$tmp/inventory.ini" "$repo/contrib/ansible/site.yml" "$@" \
		>"$tmp/play.$name" 2>&1
}
# result NAME HOST PYTHON-EXPRESSION: the expression over r, the module's result, is true
result() {
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
		"$tmp/tree.$1/$2" "$3"
}
recap() { # recap NAME HOST: "ok=N changed=N ... failed=N" of the PLAY RECAP
	sed -n "s/^$2 *: //p" "$tmp/play.$1" | tr -s ' '
}
snap() { (cd "$tmp/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . | sort); }
show() { echo "     --- ansible-playbook output:"; sed 's/^/     /' "$tmp/play.$1" | tail -40; }

# ---- 1. check mode with --diff ----
snap mx1 >"$tmp/mx1.before"
snap mx2 >"$tmp/mx2.before"
if ! play check --check --diff; then show check; fi
expect "check mode: the playbook succeeds" 0 '' '' -- grep -q 'mx2 .*failed=0' "$tmp/play.check"
for h in mx1 mx2; do
	expect "check mode: $h's root is unchanged" 0 '' '' -- sh -c "$(declare -f snap); tmp='$tmp'; snap $h | cmp -s - '$tmp/$h.before'"
	expect "check mode: the module on $h reports changed" 0 '' '' -- result check $h 'r["changed"] is True and r["pending"] is True'
	expect "... with the JSON plan (schema format 2, changes to make)" 0 '' '' -- \
		result check $h 'r["plan"]["format_version"] == 2 and r["plan"]["summary"]["changes"] and r["plan"]["summary"]["add"] == 7'
done
expect "... mx1's plan has mx1's domains only" 0 '' '' -- result check mx1 \
	'sorted(c["id"] for c in r["plan"]["changes"] if c["object"] == "domain") == ["example.com", "example.org"]'
expect "... mx2's plan has mx2's domains only" 0 '' '' -- result check mx2 \
	'sorted(c["id"] for c in r["plan"]["changes"] if c["object"] == "domain") == ["example.info", "example.net"]'
expect "--diff shows the plan text" 0 '' '' -- grep -q '^  + domain example\.info$' "$tmp/play.check"

# ---- 2. apply ----
if ! play apply; then show apply; fi
expect "apply: the playbook succeeds" 0 '' '' -- grep -q 'mx2 .*failed=0' "$tmp/play.apply"
expect "apply: mx1's module changed" 0 '' '' -- result apply mx1 'r["changed"] is True and "Apply complete" in r["stdout"]'
expect "apply: mx1 has example.com and example.org only" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx1/etc/exim4/domains' | sort | tr '\n' ' ' | grep -qx 'example.com example.org '"
expect "apply: mx2 has example.info and example.net only" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx2/etc/exim4/domains' | sort | tr '\n' ' ' | grep -qx 'example.info example.net '"
expect "apply: each root's mailboxes are its own" 0 '' '' -- sh -c "
	cut -d: -f1 '$tmp/mx1/etc/dovecot/dovecot.passwd' | sort | tr '\n' ' ' | grep -qx 'carol@example.org info@example.com ' &&
	cut -d: -f1 '$tmp/mx2/etc/dovecot/dovecot.passwd' | sort | tr '\n' ' ' | grep -qx 'archive@example.net shop@example.info '"
expect "apply: each root recorded a revision" 0 '' '' -- test -d "$tmp/mx2/var/lib/mailrecon/repo"

# ---- 3. apply again: nothing to do ----
if ! play again; then show again; fi
for h in mx1 mx2; do
	expect "second run: $h changed=0" 0 '' '' -- sh -c "$(declare -f recap); tmp='$tmp'; recap again $h | grep -q 'changed=0 .*failed=0'"
	expect "... the module says no change, with its plan" 0 '' '' -- result again $h 'r["changed"] is False and not r["plan"]["summary"]["changes"]'
done

# ---- 4. move example.org from mx1 to mx2: one commit, one run ----
python3 - "$tmp/desired" <<'EOF'
import sys
d = sys.argv[1]
mx1 = open(d + "/mx1.yaml").read()
i = mx1.index("  example.org:")
open(d + "/mx1.yaml", "w").write(mx1[:i])
open(d + "/mx2.yaml", "a").write(mx1[i:].replace("host: mx1", "host: mx2"))
EOF
gitc commit -qam "move example.org to mx2"
if ! play move; then show move; fi
expect "move: the playbook succeeds" 0 '' '' -- grep -q 'mx2 .*failed=0' "$tmp/play.move"
expect "move: mx1's plan said where the domain went" 0 '' '' -- result move mx1 \
	'[c["moved_to"] for c in r["plan"]["changes"] if c.get("moved_to")] == ["mx2"]'
expect "move: example.org left mx1" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx1/etc/exim4/domains' | tr '\n' ' ' | grep -qx 'example.com '"
expect "move: its mail is in mx1's archive" 0 '' '' -- test -d "$tmp/mx1/var/lib/mailrecon/archive/carol@example.org"
expect "move: example.org is on mx2" 0 '' '' -- \
	sh -c "cut -d: -f1 '$tmp/mx2/etc/exim4/domains' | sort | tr '\n' ' ' | grep -qx 'example.info example.net example.org '"
expect "move: carol@example.org's home is made on mx2" 0 '' '' -- \
	test -d "$tmp/mx2/var/www/carol/data/email/example.org/carol"

# ---- the alert rule of docs/fleet.md ----
awk '/^<!-- alert-rule -->$/ { on = 1; next } on && /^```yaml$/ { body = 1; next } body && /^```$/ { exit } body' \
	"$repo/docs/fleet.md" >"$tmp/mailrecon.rules.yml"
expect "docs/fleet.md has the alert rule" 0 '' '' -- grep -q 'mailrecon_drift_objects' "$tmp/mailrecon.rules.yml"
expect "promtool check rules: the alert rule" 0 'SUCCESS: 1 rules found' '' -- promtool check rules "$tmp/mailrecon.rules.yml"
# it fires for a host after an hour of drift (objects changed outside mailrecon, or pending
# changes), per host, and not before: mx1 drifts from 0 min, mx2 has pending changes from 50 min
alert() { # alert HOST: one expected alert
	printf '          - exp_labels: {severity: warning, host: %s}\n            exp_annotations:\n' "$1"
	printf '              summary: "mail server %s differs from its desired state for more than 1 h"\n' "$1"
	printf '              description: "mailrecon drift on %s has found objects changed outside mailrecon or changes to apply for an hour: see mailrecon drift there."\n' "$1"
}
{
	cat <<EOF
rule_files: [mailrecon.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 5m
    input_series:
      - {series: 'mailrecon_drift_objects{command="drift",host="mx1"}', values: '1x30'}
      - {series: 'mailrecon_pending_changes{command="drift",host="mx1"}', values: '0x30'}
      - {series: 'mailrecon_drift_objects{command="drift",host="mx2"}', values: '0x30'}
      - {series: 'mailrecon_pending_changes{command="drift",host="mx2"}', values: '0x10 3x20'}
    alert_rule_test:
      - {eval_time: 55m, alertname: MailreconDrift, exp_alerts: []}
      - eval_time: 65m
        alertname: MailreconDrift
        exp_alerts:
EOF
	alert mx1
	cat <<EOF
      - eval_time: 115m
        alertname: MailreconDrift
        exp_alerts:
EOF
	alert mx1
	alert mx2
} >"$tmp/mailrecon.rules.test.yml"
expect "promtool test rules: it fires per host after 1 h, not before" 0 'SUCCESS' '' -- \
	sh -c "cd '$tmp' && promtool test rules mailrecon.rules.test.yml"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
