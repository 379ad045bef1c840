#!/usr/bin/env bash
# Shell completion (issue 14): `cmake --install` puts the bash and zsh files in place, and the
# installed bash completion, run for a few words as bash would run it, completes the commands,
# a command's options (from its help, that is from the parser's tables), option values, and
# domain, mailbox and user names from the desired state given with -f.
# Usage: completion.sh MAILRECON REPO_ROOT BUILD_DIR
set -u
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # absolute: linked from another directory
repo=$2
build=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"

expect "cmake --install into a prefix" 0 '' '' -- sh -c "cmake --install '$build' --prefix '$tmp/inst' >/dev/null"
bashc=$tmp/inst/share/bash-completion/completions/mailrecon
expect "the bash completion is installed" 0 '' '' -- test -s "$bashc"
expect "... the zsh one too, sourcing the bash one where it was installed" 0 '' '' -- \
	grep -q '^source .*/share/bash-completion/completions/mailrecon' "$tmp/inst/share/zsh/site-functions/_mailrecon"
expect "the bash completion is valid bash" 0 '' '' -- bash -n "$bashc"

# comp WORD...: COMPREPLY for the words, the cursor on the last one, as one sorted line
mkdir -p "$tmp/bin" && ln -s "$bin" "$tmp/bin/mailrecon"
comp() {
	PATH=$tmp/bin:$PATH bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_mailrecon; printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " " | sed "s/ \$//"; echo' _ "$bashc" "$@"
}
is() { # is "EXPECTED" WORD...
	local want=$1
	shift
	local got
	got=$(comp "$@")
	[ "$got" = "$want" ] || { echo "     got: '$got'"; return 1; }
}
expect "complete -F _mailrecon mailrecon is registered" 0 '' '' -- \
	bash -c ". '$bashc'; complete -p mailrecon | grep -q -- '-F _mailrecon'"
expect "mailrecon <TAB>: every command" 0 '' '' -- \
	is "apply dns drift help import log passwd plan rollback route show usage validate" mailrecon ""
expect "mailrecon pl<TAB>: plan" 0 '' '' -- is "plan" mailrecon pl
expect "mailrecon plan --d<TAB>: --detailed-exitcode" 0 '' '' -- is "--detailed-exitcode" mailrecon plan --d
expect "mailrecon apply --<TAB> has --yes, --allow-delete and the global options" 0 '' '' -- \
	sh -c "$(declare -f comp); tmp='$tmp' bashc='$bashc'; comp mailrecon apply -- | tr ' ' '\n' | grep -cxE -- '--(yes|allow-delete|root|plan)' | grep -qx 4"
expect "mailrecon passwd --<TAB>: its own and the global options, no apply option" 1 '' '' -- \
	sh -c "$(declare -f comp); tmp='$tmp' bashc='$bashc'; comp mailrecon passwd -- | tr ' ' '\n' | grep -qx -- '--allow-delete'"
expect "mailrecon --layout <TAB>: the layouts" 0 '' '' -- is "auto debian rhel" mailrecon --layout ""
expect "mailrecon --color=<TAB> (split at '=' as bash does)" 0 '' '' -- is "always auto never" mailrecon --color = ""
expect "mailrecon passwd --scheme <TAB>: the schemes" 0 '' '' -- \
	is "BLF-CRYPT CRAM-MD5 SHA256-CRYPT SHA512-CRYPT" mailrecon passwd --scheme ""
expect "mailrecon help ro<TAB>: rollback route" 0 '' '' -- is "rollback route" mailrecon help ro
expect "dns -f DIR <TAB>: the desired state's domains" 0 '' '' -- \
	is "example.com example.net example.org shop.example.com" mailrecon dns -f "$repo/examples/hosting" ""
expect "dns -f DIR example.n<TAB>" 0 '' '' -- is "example.net" mailrecon dns -f "$repo/examples/hosting" example.n
expect "plan -f DIR -f FILE --scope <TAB>: the users of both" 0 '' '' -- \
	is "alice bob carol demo" mailrecon plan -f "$repo/examples/hosting" -f "$repo/examples/minimal.yaml" --scope ""
expect "plan --ta<TAB>: --target" 0 '' '' -- is "--target" mailrecon plan --ta
expect "apply -f FILE --target <TAB>: its domains, mailboxes and users" 0 '' '' -- \
	is "demo example.com info@example.com" mailrecon apply -f "$repo/examples/minimal.yaml" --target ""
expect "the mailbox names of a desired state (for an ADDRESS or OBJECT value)" 0 '' '' -- \
	bash -c ". '$bashc'; _mailrecon_names mailboxes '$repo/examples/minimal.yaml' | tr '\n' ' ' | grep -qx 'info@example.com '"
expect "... of a directory: every file's" 0 '' '' -- \
	bash -c ". '$bashc'; _mailrecon_names mailboxes '$repo/examples/hosting' | grep -qx 'billing@example.org'"
expect "plan -f DIR --host <TAB>: the fleet's hosts (server.hosts)" 0 '' '' -- \
	is "mx1 mx2" mailrecon plan -f "$repo/examples/fleet" --host ""
expect "mailrecon --<TAB> has --host" 0 '' '' -- \
	sh -c "$(declare -f comp); tmp='$tmp' bashc='$bashc'; comp mailrecon -- | tr ' ' '\n' | grep -qx -- '--host'"
expect "--host NAME is skipped when looking for the command" 0 '' '' -- \
	is "mx1 mx2" mailrecon --host mx1 plan -f "$repo/examples/fleet" --host ""
expect "no -f: no names (and no error)" 0 '' '' -- is "" mailrecon dns ""
expect "apply --plan <TAB>: file names" 0 '' '' -- is "$repo/examples/hosting" mailrecon apply --plan "$repo/examples/hos"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
