#!/usr/bin/env bash
# tests/contrib/check.sh REPO_ROOT: check the files of contrib/.
#
#   - contrib/systemd: `systemd-analyze verify` on the services, the timers and the notify
#     template. Any message fails, because verify exits 0 even on an unknown key or a bad
#     value, and only warns. The notify hook's command is run with a stub journalctl.
#   - contrib/ci: the GitLab and GitHub files parse as YAML and have the jobs the READMEs
#     describe; their validate scripts, run with stub sudo/ssh/mailrecon, pass the {env:}
#     secrets (MAILRECON_SECRET_*) through sudo explicitly, and only those.
#
# Nothing is skipped silently: a missing tool fails the test and says what to install
# (Debian: systemd for systemd-analyze, man-db for the man page check, and node with
# tests/schema/node_modules or python3-yaml for the YAML).
set -uo pipefail

if [ $# -ne 1 ] || [ ! -d "$1/contrib" ]; then
	echo "usage: $0 REPO_ROOT" >&2
	exit 64
fi
root=$(cd "$1" && pwd)
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- systemd units ----
if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "FAIL: systemd-analyze is not installed (Debian: apt-get install systemd); the units cannot be verified" >&2
	exit 1
fi
if ! command -v man >/dev/null 2>&1; then
	echo "FAIL: man is not installed (Debian: apt-get install man-db); systemd-analyze verify checks Documentation=man:mailrecon(1) with it" >&2
	exit 1
fi

# Work on copies. The services are templates (contrib/systemd/*.service.in, filled in by
# CMake's configure_file): here @MAILRECON_BIN@ is a stub in the temporary directory, because
# verify checks that ExecStart='s program exists and is executable, and
# @MAILRECON_ENV_FILE@ is /etc/default/mailrecon. Nothing runs the stub: verify only loads the
# units. The other programs (/bin/sh, install) exist everywhere. The installed units of the
# packages are verified the same way by tests/package/check.sh.
units="$tmp/units"
mkdir -p "$units" "$tmp/man/man1"
printf '#!/bin/sh\nexit 0\n' >"$tmp/mailrecon"
chmod 755 "$tmp/mailrecon"
for u in mailrecon-reconcile.service mailrecon-reconcile.timer mailrecon-drift.service mailrecon-drift.timer \
	mailrecon-notify@.service; do
	src="$root/contrib/systemd/$u"
	[ -f "$src" ] || src="$src.in"
	if [ ! -f "$src" ]; then
		fail "contrib/systemd/$u(.in) is missing"
		continue
	fi
	sed -e "s|@MAILRECON_BIN@|$tmp/mailrecon|g" -e "s|@MAILRECON_ENV_FILE@|/etc/default/mailrecon|g" "$src" >"$units/$u"
	if grep -n '@[A-Z_]*@' "$units/$u"; then
		fail "contrib/systemd/$u: a placeholder that CMake does not fill in (above)"
	fi
done
for u in mailrecon-reconcile.service mailrecon-drift.service; do
	if grep -v '^#' "$root/contrib/systemd/$u.in" | grep -q '/usr/local/bin\|/usr/bin/mailrecon'; then
		fail "contrib/systemd/$u.in names a binary path: use @MAILRECON_BIN@"
	fi
done
grep -q "^ExecStart=$tmp/mailrecon apply " "$units/mailrecon-reconcile.service" ||
	fail "the service's ExecStart= does not run @MAILRECON_BIN@ apply"
grep -q "^ExecStart=$tmp/mailrecon drift " "$units/mailrecon-drift.service" ||
	fail "mailrecon-drift.service's ExecStart= does not run @MAILRECON_BIN@ drift"
# the notify template is verified as the instance the services' OnFailure= starts
cp "$units/mailrecon-notify@.service" "$units/mailrecon-notify@mailrecon-reconcile.service.service"

# Documentation=man:mailrecon(1) is checked by running man. MANPATH points it at the man page
# of this tree, so the check is that docs/mailrecon.1 exists, not that it is installed.
cp "$root/docs/mailrecon.1" "$tmp/man/man1/mailrecon.1"

out=$(cd "$units" && MANPATH="$tmp/man" SYSTEMD_LOG_COLOR=0 \
	systemd-analyze verify ./mailrecon-reconcile.service ./mailrecon-reconcile.timer \
	./mailrecon-drift.service ./mailrecon-drift.timer ./mailrecon-notify@mailrecon-reconcile.service.service 2>&1)
rc=$?
echo "systemd-analyze verify: exit $rc"
[ -z "$out" ] || printf '%s\n' "$out"
if [ $rc -ne 0 ]; then
	fail "systemd-analyze verify exited $rc"
elif [ -n "$out" ]; then
	fail "systemd-analyze verify printed warnings (above)"
fi

# The promises the READMEs make about the units.
svc="$units/mailrecon-reconcile.service"
for want in '^Type=oneshot$' '^EnvironmentFile=-/etc/default/mailrecon$' \
	'^ProtectSystem=strict$' '^ProtectHome=yes$' '^PrivateTmp=yes$' '^NoNewPrivileges=yes$' \
	'^RestrictAddressFamilies=AF_UNIX$' '^UMask=0022$' '^ReadWritePaths=-/var/www$' \
	'^ReadWritePaths=/var/log/mailrecon.log$' '^ReadWritePaths=/var/lib/mailrecon$' \
	'^OnFailure=mailrecon-notify@%n.service$' '^ReadWritePaths=-/var/lib/prometheus/node-exporter$' \
	'--metrics-file=\$\{MAILRECON_METRICS_FILE\}'; do
	grep -Eq -- "$want" "$svc" || fail "mailrecon-reconcile.service: no line matching $want"
done
drs="$units/mailrecon-drift.service"
for want in '^Type=oneshot$' '^EnvironmentFile=-/etc/default/mailrecon$' '^ProtectSystem=strict$' \
	'^SuccessExitStatus=2$' '^OnFailure=mailrecon-notify@%n.service$' '^PrivateNetwork=yes$' \
	'--metrics-file=\$\{MAILRECON_DRIFT_METRICS_FILE\}'; do
	grep -Eq -- "$want" "$drs" || fail "mailrecon-drift.service: no line matching $want"
done
# drift only reads: nothing of the mail server is writable to it
if grep -Eq '^ReadWritePaths=.*(/etc|/var/www|/var/log)' "$drs"; then
	fail "mailrecon-drift.service: a live path is writable"
fi
# A file directly in /etc cannot be made writable on its own (see the unit's comment).
if grep -Eq '^ReadWritePaths=.*/etc/(passwd|group|shadow|gshadow|clamav\.whitelist)( |$)' "$svc"; then
	fail "mailrecon-reconcile.service: a file directly in /etc in ReadWritePaths= (rename over it fails)"
fi
if grep -Eq '^Environment=.*--allow-delete' "$svc" ||
	grep -Eq '^MAILRECON_ARGS=.*--allow-delete' "$root/contrib/systemd/mailrecon.default"; then
	fail "the timer must not allow deletions by default"
fi
for t in reconcile drift; do
	tim="$root/contrib/systemd/mailrecon-$t.timer"
	for want in '^OnCalendar=\*:0/15$' '^RandomizedDelaySec=' '^Persistent=true$' '^WantedBy=timers.target$' \
		"^Unit=mailrecon-$t.service\$"; do
		grep -Eq "$want" "$tim" || fail "mailrecon-$t.timer: no line matching $want"
	done
done

# The notify hook, run as systemd would run it: its ExecStart= with the $$ and %i of the unit
# file resolved, journalctl replaced by a stub that prints what it was asked, and the
# operator's command given the failed unit's name.
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "journalctl $*"\n' >"$tmp/bin/journalctl"
chmod 755 "$tmp/bin/journalctl"
cmd=$(sed -n 's/^ExecStart=//p' "$units/mailrecon-notify@.service" |
	sed -e 's/%i/mailrecon-reconcile.service/g' -e 's/\$\$/$/g')
notified=$(PATH="$tmp/bin:$PATH" MAILRECON_NOTIFY_LINES=7 \
	MAILRECON_NOTIFY_COMMAND='echo "operator command for $1"; exit 3' eval "$cmd" 2>&1)
nrc=$?
printf '%s\n' "$notified" | sed 's/^/  notify: /'
[ $nrc -eq 3 ] || fail "mailrecon-notify@: the operator's command's exit status is not the unit's (got $nrc)"
printf '%s\n' "$notified" | grep -qx 'journalctl --no-pager -o short-iso -n 7 -u mailrecon-reconcile.service' ||
	fail "mailrecon-notify@: the failed unit's journal lines are not logged"
printf '%s\n' "$notified" | grep -qx 'operator command for mailrecon-reconcile.service' ||
	fail "mailrecon-notify@: MAILRECON_NOTIFY_COMMAND did not run with the unit's name as \$1"
notified=$(PATH="$tmp/bin:$PATH" MAILRECON_NOTIFY_LINES=30 MAILRECON_NOTIFY_COMMAND= eval "$cmd" 2>&1) ||
	fail "mailrecon-notify@: fails without a command"

# ---- CI files ----
# Parse with the yaml package of tests/schema (npm ci --prefix tests/schema), else PyYAML.
# Each prints the parsed document as JSON, and the shape is checked on that JSON with node
# or python, whichever parsed it.
yaml_to_json() { # FILE
	if [ -n "${NODE_YAML:-}" ]; then
		node -e '
			const YAML = require(process.argv[1]);
			const fs = require("fs");
			const doc = YAML.parseDocument(fs.readFileSync(process.argv[2], "utf8"), { uniqueKeys: true });
			const problems = [...doc.errors, ...doc.warnings];
			if (problems.length) { for (const p of problems) console.error(p.message); process.exit(1); }
			process.stdout.write(JSON.stringify(doc.toJS()));
		' "$NODE_YAML" "$1"
	else
		python3 -c '
import json, sys, yaml
class Strict(yaml.SafeLoader):
    pass
def mapping(loader, node, deep=False):
    seen = set()
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), k.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)
Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, lambda l, n: dict(mapping(l, n, True)))
with open(sys.argv[1]) as f:
    doc = yaml.load(f, Loader=Strict)
# YAML 1.1 (PyYAML) reads the key `on` of a GitHub workflow as true; GitHub reads YAML 1.2
if isinstance(doc, dict) and True in doc and "on" not in doc:
    doc["on"] = doc.pop(True)
json.dump(doc, sys.stdout)
' "$1"
	fi
}
json_check() { # JSON-FILE JS-EXPRESSION PY-EXPRESSION MESSAGE: the expression of "d" must be true
	local ok
	if command -v node >/dev/null 2>&1; then
		ok=$(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(Boolean(eval(process.argv[2])))' "$1" "$2")
	else
		ok=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("true" if eval(sys.argv[2]) else "false")' "$1" "$3")
	fi
	[ "$ok" = true ] || fail "$4"
}

NODE_YAML=
if command -v node >/dev/null 2>&1 && [ -f "$root/tests/schema/node_modules/yaml/package.json" ]; then
	NODE_YAML="$root/tests/schema/node_modules/yaml"
	echo "YAML: node with $NODE_YAML"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' 2>/dev/null; then
	echo "YAML: python3 with PyYAML"
else
	echo "FAIL: no YAML parser: run 'npm ci --prefix tests/schema' (needs node), or install python3-yaml" >&2
	exit 1
fi

gl="$root/contrib/ci/gitlab-ci.yml"
gh="$root/contrib/ci/github-actions.yml"
if yaml_to_json "$gl" >"$tmp/gitlab.json"; then
	echo "contrib/ci/gitlab-ci.yml: parses"
	json_check "$tmp/gitlab.json" \
		'JSON.stringify(d.stages) === JSON.stringify(["validate", "plan", "apply"])' \
		'd["stages"] == ["validate", "plan", "apply"]' \
		"gitlab-ci.yml: the stages are not validate, plan, apply"
	json_check "$tmp/gitlab.json" \
		'd.validate.stage === "validate" && d.plan.stage === "plan" && d.apply.stage === "apply"' \
		'd["validate"]["stage"] == "validate" and d["plan"]["stage"] == "plan" and d["apply"]["stage"] == "apply"' \
		"gitlab-ci.yml: the jobs validate, plan and apply are not in their stages"
	json_check "$tmp/gitlab.json" \
		'typeof d.apply.resource_group === "string" && d.plan.artifacts.paths.includes("plan.out")' \
		'isinstance(d["apply"].get("resource_group"), str) and "plan.out" in d["plan"]["artifacts"]["paths"]' \
		"gitlab-ci.yml: apply has no resource_group, or plan does not keep plan.out"
	json_check "$tmp/gitlab.json" \
		'd.plan.script.join("\n").includes("--detailed-exitcode") && d.apply.script.join("\n").includes("apply -f ")' \
		'"--detailed-exitcode" in "\n".join(d["plan"]["script"]) and "apply -f " in "\n".join(d["apply"]["script"])' \
		"gitlab-ci.yml: plan does not use --detailed-exitcode, or apply does not use -f"
	json_check "$tmp/gitlab.json" \
		'd[".mail-server"].before_script.join("\n").split("\n").some(l => l.trim() === "set -o pipefail")' \
		'any(l.strip() == "set -o pipefail" for l in "\n".join(d[".mail-server"]["before_script"]).split("\n"))' \
		"gitlab-ci.yml: the shared before_script does not set -o pipefail"
	json_check "$tmp/gitlab.json" \
		'["validate", "plan", "apply"].every(j => d[j].extends === ".mail-server" && !d[j].before_script)' \
		'all(d[j].get("extends") == ".mail-server" and "before_script" not in d[j] for j in ("validate", "plan", "apply"))' \
		"gitlab-ci.yml: a job does not run the shared before_script (and its set -o pipefail)"
else
	fail "contrib/ci/gitlab-ci.yml does not parse as YAML"
fi
if yaml_to_json "$gh" >"$tmp/github.json"; then
	echo "contrib/ci/github-actions.yml: parses"
	json_check "$tmp/github.json" \
		'"pull_request" in d.on && "push" in d.on && d.jobs.validate && d.jobs.plan && d.jobs.apply' \
		'"pull_request" in d["on"] and "push" in d["on"] and all(j in d["jobs"] for j in ("validate", "plan", "apply"))' \
		"github-actions.yml: not triggered on pull_request and push, or a job of validate, plan, apply is missing"
	json_check "$tmp/github.json" \
		'd.jobs.apply.concurrency && d.jobs.apply.concurrency["cancel-in-progress"] === false && d.jobs.apply["runs-on"].includes("self-hosted")' \
		'd["jobs"]["apply"]["concurrency"]["cancel-in-progress"] is False and "self-hosted" in d["jobs"]["apply"]["runs-on"]' \
		"github-actions.yml: apply has no concurrency group that waits, or does not run on a self-hosted runner"
	json_check "$tmp/github.json" \
		'd.defaults && d.defaults.run && d.defaults.run.shell === "bash"' \
		'd.get("defaults", {}).get("run", {}).get("shell") == "bash"' \
		"github-actions.yml: run steps do not use shell: bash (-eo pipefail)"
	json_check "$tmp/github.json" \
		'(() => { const s = d.jobs.plan.steps.find(x => x.name === "comment the plan").with.script; return s.includes("updateComment") && s.includes("listComments") && s.includes("<!-- mailrecon-plan -->"); })()' \
		'(lambda s: "updateComment" in s and "listComments" in s and "<!-- mailrecon-plan -->" in s)([x for x in d["jobs"]["plan"]["steps"] if x.get("name") == "comment the plan"][0]["with"]["script"])' \
		"github-actions.yml: the plan comment is not found by its marker and updated"
else
	fail "contrib/ci/github-actions.yml does not parse as YAML"
fi

# ---- {env:} secrets reach mailrecon through sudo, explicitly ----
# The jobs' scripts are run (taken from the parsed YAML) with stubs: `sudo` resets the
# environment as sudo does and keeps only what --preserve-env names (refusing a name that the
# sudoers line of contrib/ci/README.md would refuse), `ssh` passes no environment, and
# "mailrecon" prints the MAILRECON_SECRET_* variables it sees.
json_get() { # JSON-FILE JS-EXPRESSION PY-EXPRESSION: print the string the expression gives
	if command -v node >/dev/null 2>&1; then
		node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(eval(process.argv[2])))' "$1" "$2"
	else
		python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.stdout.write(str(eval(sys.argv[2])))' "$1" "$3"
	fi
}
grep -qF 'env_keep += "MAILRECON_SECRET_*"' "$root/contrib/ci/README.md" ||
	fail "contrib/ci/README.md: the sudoers lines do not keep MAILRECON_SECRET_* (env_keep)"
grep -q -- '--preserve-env' "$root/contrib/ci/README.md" ||
	fail "contrib/ci/README.md does not say that the secrets are passed with sudo --preserve-env"
stubs="$tmp/stubs"
mkdir -p "$stubs" "$tmp/desired"
echo 'version: 1' >"$tmp/desired/state.yaml"
cat >"$stubs/sudo" <<'EOF'
#!/usr/bin/env bash
# sudo -n [--preserve-env=LIST] CMD...: env_reset, then only the listed MAILRECON_SECRET_* kept
keep=()
while [ $# -gt 0 ]; do
	case $1 in
	-n) shift ;;
	--preserve-env=*) IFS=, read -ra keep <<<"${1#*=}"; shift ;;
	-*) echo "sudo stub: unexpected option $1" >&2; exit 1 ;;
	*) break ;;
	esac
done
set_env=()
for n in "${keep[@]}"; do
	case $n in
	MAILRECON_SECRET_*) [ -z "${!n+x}" ] || set_env+=("$n=${!n}") ;;
	*) echo "sudo: sorry, you are not allowed to set the following environment variables: $n" >&2; exit 1 ;;
	esac
done
exec env -i PATH="$PATH" "${set_env[@]}" "$@"
EOF
cat >"$stubs/ssh" <<'EOF'
#!/usr/bin/env bash
# ssh [-o X]... [-i KEY] HOST CMD: CMD in a login shell that has none of the caller's variables
while [ $# -gt 1 ]; do case $1 in -o|-i) shift 2 ;; *) shift; break ;; esac; done
exec env -i PATH="$PATH" HOME="$HOME" bash -c "$1"
EOF
cat >"$stubs/mailrecon" <<'EOF'
#!/bin/sh
env | grep '^MAILRECON_SECRET_' | sort | sed 's/^/seen /'
echo "args $*"
EOF
chmod 755 "$stubs/sudo" "$stubs/ssh" "$stubs/mailrecon"
: >"$tmp/key"
: >"$tmp/known_hosts"
secret_val="s3cr'et \$value \"with\" quotes"
want_secrets() { # OUTPUT-FILE WHAT
	grep -qxF "seen MAILRECON_SECRET_INFO=$secret_val" "$1" && grep -qxF "seen MAILRECON_SECRET_DB=x" "$1" ||
		{ fail "$2: the {env:} secrets did not reach mailrecon"; sed 's/^/    /' "$1" >&2; }
	! grep -q 'OTHER_VAR' "$1" || fail "$2: a variable that is not a secret reached mailrecon"
}
if [ -s "$tmp/gitlab.json" ]; then
	json_get "$tmp/gitlab.json" 'd[".mail-server"].before_script.join("\n")' \
		'"\n".join(d[".mail-server"]["before_script"])' >"$tmp/gl-before.sh"
	for job in validate plan apply; do
		json_get "$tmp/gitlab.json" "d.$job.script.join(\"\\n\")" "\"\\n\".join(d[\"$job\"][\"script\"])" >"$tmp/gl-$job.sh"
		grep -q 'mr "\$d" "' "$tmp/gl-$job.sh" || fail "gitlab-ci.yml: $job does not run mailrecon through mr (the secrets)"
		if grep -n '\$MR ' "$tmp/gl-$job.sh"; then fail "gitlab-ci.yml: $job runs \$MR without its secrets (above)"; fi
	done
	for mode in runner ssh; do
		host=
		[ $mode = ssh ] && host=ci@mail.example.com
		(cd "$tmp" && env PATH="$stubs:$PATH" MAILRECON="$stubs/mailrecon" MAILRECON_DIR="$tmp/desired" \
			MAILRECON_RELEASES="$tmp/rel" MAILRECON_SSH_HOST="$host" MAILRECON_SSH_KEY="$tmp/key" \
			MAILRECON_SSH_KNOWN_HOSTS="$tmp/known_hosts" MAILRECON_SECRET_INFO="$secret_val" MAILRECON_SECRET_DB=x \
			OTHER_VAR=y bash -c ". '$tmp/gl-before.sh' && . '$tmp/gl-validate.sh'") >"$tmp/gl-$mode.out" 2>&1 ||
			fail "gitlab-ci.yml: the validate job failed with the stubs ($mode)"
		want_secrets "$tmp/gl-$mode.out" "gitlab-ci.yml validate ($mode)"
		grep -q '^args validate -f ' "$tmp/gl-$mode.out" || fail "gitlab-ci.yml validate ($mode): mailrecon validate did not run"
	done
	if ls /var/tmp/mailrecon-ci.* >/dev/null 2>&1 && grep -rl "s3cr'et" /var/tmp/mailrecon-ci.* 2>/dev/null; then
		fail "gitlab-ci.yml: the secrets file was left on the server (above)"
	fi
	# without secrets: no --preserve-env at all
	(cd "$tmp" && env PATH="$stubs:$PATH" MAILRECON="$stubs/mailrecon" MAILRECON_DIR="$tmp/desired" \
		MAILRECON_RELEASES="$tmp/rel" bash -c ". '$tmp/gl-before.sh' && echo \"MR=\$MR\"") >"$tmp/gl-none.out" 2>&1
	grep -qx "MR=sudo -n $stubs/mailrecon" "$tmp/gl-none.out" || fail "gitlab-ci.yml: without secrets, MR is not plain sudo -n"
fi
if [ -s "$tmp/github.json" ]; then
	for job in validate plan apply; do
		json_get "$tmp/github.json" "d.jobs.$job.steps.filter(s => s.run).map(s => s.run).join(\"\\n\")" \
			"\"\\n\".join(s[\"run\"] for s in d[\"jobs\"][\"$job\"][\"steps\"] if \"run\" in s)" >"$tmp/gh-$job.sh"
		if grep -v '^[[:space:]]*#' "$tmp/gh-$job.sh" | grep 'sudo ' | grep -v -- '--preserve-env=\$keep'; then
			fail "github-actions.yml: $job runs sudo without passing the secrets (above)"
		fi
	done
	(cd "$tmp" && env PATH="$stubs:$PATH" MAILRECON="$stubs/mailrecon" MAILRECON_DIR="$tmp/desired" \
		MAILRECON_SECRET_INFO="$secret_val" MAILRECON_SECRET_DB=x OTHER_VAR=y bash -eo pipefail "$tmp/gh-validate.sh") \
		>"$tmp/gh.out" 2>&1 || fail "github-actions.yml: the validate step failed with the stubs"
	want_secrets "$tmp/gh.out" "github-actions.yml validate"
fi

if [ $failures -ne 0 ]; then
	echo "contrib: $failures failure(s)" >&2
	exit 1
fi
echo "contrib: ok"
