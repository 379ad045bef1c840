#!/usr/bin/env bash
# mailrecon route as a user runs it: the routes of tests/e2e/route-cases/loops.yaml (whose
# answers tests/e2e/route.sh holds equal to the real exim4 -bt) against golden files, text
# and --json, each JSON line against schema/route.schema.json with ajv; --live on a live
# fixture; usage errors. MR_UPDATE_GOLDEN=1 rewrites the golden files.
# Usage: route.sh MAILRECON REPO_ROOT [NODE]
set -u
bin=$1
repo=$2
node=${3:-node}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
golden=$repo/tests/fixtures/route
state=$repo/tests/e2e/route-cases/loops.yaml
mapfile -t addrs < <(grep -v '^#' "$repo/tests/e2e/route-cases/loops.addresses")

check_golden() { # NAME FILE GOT
	if [ "${MR_UPDATE_GOLDEN:-}" = 1 ]; then cp "$3" "$2"; fi
	if cmp -s "$2" "$3"; then pass=$((pass + 1)); echo "ok   $1"; else
		fail=$((fail + 1)); echo "FAIL $1"; diff -u "$2" "$3" | head -40 | sed 's/^/     /'; fi
}

"$bin" --root "$tmp" route -f "$state" "${addrs[@]}" >"$tmp/text" 2>"$tmp/err"
check_golden "route: the text lines of the loop cases" "$golden/loops.txt" "$tmp/text"
"$bin" --root "$tmp" route --json -f "$state" "${addrs[@]}" >"$tmp/json" 2>>"$tmp/err"
check_golden "route --json: the objects of the loop cases" "$golden/loops.jsonl" "$tmp/json"
expect "route prints nothing on stderr" 0 '' '' -- cat "$tmp/err"
n=0
while IFS= read -r line; do
	n=$((n + 1))
	printf '%s\n' "$line" >"$tmp/line-$n.json"
done <"$tmp/json"
expect "route --json: one line per address" 0 "^${#addrs[@]}\$" '' -- echo "$n"
expect "route --json: every line valid against schema/route.schema.json (ajv)" 0 '^ok ' '' -- \
	"$node" "$repo/tests/schema/validate.mjs" "$repo" route.schema.json "$tmp"/line-*.json

expect "route: a mailbox of the example tree" 0 '^info@example\.com -> deliver: alice@example\.com, info@example\.com$' '' -- \
	"$bin" --root "$live/debian/hosting" route -f "$repo/tests/fixtures/live/debian/hosting/import.yaml" info@example.com
expect "route --live: an alias reads the live aliases file" 0 '^Sales@Example\.com -> deliver: alice@example\.com, info@example\.com$' '' -- \
	"$bin" --root "$live/debian/hosting" route --live Sales@Example.com
expect "route --live: a redirect_domain to a discard domain" 0 '^x@example\.net -> discard$' '' -- \
	"$bin" --root "$live/debian/hosting" route --live x@example.net
expect "route --live: keep_copy false with copies" 0 \
	'^orders@shop\.example\.com -> deliver: alice@example\.com, archive@example\.com, info@example\.com$' '' -- \
	"$bin" --root "$live/debian/hosting" route --live orders@shop.example.com
expect "route without an address: usage" 64 '' 'route: name at least one address' -- "$bin" --root "$tmp" route -f "$state"
expect "route of something that is no address: usage" 64 '' "route: 'nobody' is not an address" -- \
	"$bin" --root "$tmp" route -f "$state" nobody
expect "route --live with -f: usage" 64 '' 'route: --live reads the live files: it takes no -f' -- \
	"$bin" --root "$tmp" route --live -f "$state" a@b.test
expect "route of a bad desired state: exit 1 with the error" 1 '' 'errors? in the desired state' -- \
	"$bin" --root "$tmp" route -f "$repo/tests/fixtures/invalid/$(ls "$repo/tests/fixtures/invalid" | grep -m1 '\.yaml$')" a@b.test
# a plan with no object changes routes no address (the no-op plan of every timer run) but
# still warns about the target's loops; one change shows its flows again
tree debian/hosting "$tmp/applied"
echo 'mailtest:x:5001:5001::/var/www/mailtest:/usr/sbin/nologin' >>"$tmp/applied/etc/passwd"
echo 'mailtest:x:5001:' >>"$tmp/applied/etc/group"
expect "apply the loop cases to a copy of the example tree" 0 '^Apply complete' '' -- \
	"$bin" -q --root "$tmp/applied" apply -f "$state" --allow-delete --yes
# the revision records the plan apply showed, Mail flow included (apply's second plan takes
# the first's flow instead of routing again)
rev=$("$bin" --root "$tmp/applied" log -n 1 | awk '{ print $1; exit }')
expect "the applied revision's message has the Mail flow" 0 '^  ~ \*@b\.test: remote: \*@b\.test -> deliver: x@a\.test; remote: r@remote\.test$' '' -- \
	"$bin" --root "$tmp/applied" show "$rev"
"$bin" --root "$tmp/applied" plan -f "$state" >"$tmp/noop" 2>&1
expect "plan with nothing to change: no changes" 0 '^No changes\.' '' -- cat "$tmp/noop"
expect "... and no route changes" 1 '' '' -- grep -Eq '^  ~ ' "$tmp/noop"
expect "... but the loop warnings of the target" 0 "warning: mail to 'orders@a\.test' comes back to an address it went through" '' -- \
	cat "$tmp/noop"
sed '/^ *audit: /s/keep_copy: false/keep_copy: true/' "$state" >"$tmp/changed.yaml"
expect "a plan with one change: its flows again" 0 '^  ~ [a-z]+@a\.test: ' '' -- \
	sh -c "'$bin' --root '$tmp/applied' plan -f '$tmp/changed.yaml' 2>/dev/null"
# plan's Mail flow held to route itself: for variants of the applied loop cases (a change in
# one domain that others reach through copies, forwards and redirects, or that nobody
# reaches), an address is in the Mail flow exactly when `route --live` and `route -f VARIANT`
# answer differently for it (plan routes only the domains a change can reach)
flow_check() { # NAME SED-EXPRESSION
	sed "$2" "$state" >"$tmp/v.yaml"
	if cmp -s "$state" "$tmp/v.yaml"; then
		fail=$((fail + 1)); echo "FAIL Mail flow = route: $1 (the variant changes nothing)"; return
	fi
	"$bin" --root "$tmp/applied" plan -f "$tmp/v.yaml" --allow-delete >"$tmp/vplan" 2>/dev/null
	local bad=0 a shown changed=0 i
	local addrs=(orders@a.test audit@a.test sales@a.test lone@a.test two@a.test x@a.test p@a.test q@a.test
		s@a.test nobody@a.test q@d.test r@remote.test m@off.test q@b.test q@c.test q@e.test)
	local old new
	mapfile -t old < <("$bin" --root "$tmp/applied" route --live "${addrs[@]}" 2>&1)
	mapfile -t new < <("$bin" --root "$tmp/applied" route -f "$tmp/v.yaml" "${addrs[@]}" 2>&1)
	if [ ${#old[@]} -ne 16 ] || [ ${#new[@]} -ne 16 ]; then
		fail=$((fail + 1)); echo "FAIL Mail flow = route: $1 (route did not answer each address)"; return
	fi
	for i in "${!addrs[@]}"; do
		a=${addrs[$i]}
		case $a in q@b.test | q@c.test | q@e.test) shown="*@${a#*@}" ;; *) shown=$a ;; esac
		if [ "${old[$i]}" != "${new[$i]}" ]; then
			changed=$((changed + 1))
			grep -qF "  ~ $shown: " "$tmp/vplan" || { bad=1; echo "     $a: its route changed, not in the Mail flow"; }
		elif grep -qF "  ~ $shown: " "$tmp/vplan"; then
			bad=1; echo "     $a: its route is the same, but it is in the Mail flow"
		fi
	done
	if [ $bad -eq 0 ]; then pass=$((pass + 1)); echo "ok   Mail flow = route: $1 ($changed of 16 addresses change)"
	else fail=$((fail + 1)); echo "FAIL Mail flow = route: $1"; fi
}
flow_check "d.test discards -> rejects (reached from a, b, c, e)" 's/default_action: discard/default_action: reject/'
flow_check "e.test redirects -> rejects (reached from nowhere)" 's/{redirect_domain: d.test}/reject/'
flow_check "audit keeps its copy" '/^ *audit: /s/keep_copy: false/keep_copy: true/'
flow_check "q disabled" '/^ *q: /s/keep_copy: false}/keep_copy: false, disabled: true}/'
flow_check "c.test forwards to p, not x" 's/{forward: x@a.test}/{forward: p@a.test}/'
flow_check "off.test enabled" '/^  off.test:/,$ {/^    disabled: true$/d}'
flow_check "q gets a quota and a send limit (no route reads them)" '/^ *q: /s/keep_copy: false}/keep_copy: false, max_size: 1G, rate_per_hour: 50}/'
echo "cli route: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
