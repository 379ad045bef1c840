#!/usr/bin/env bash
# The help (issue 14): `mailrecon help [CMD]`, `CMD --help` and `CMD -h` print the usage, every
# option with a line, the exit codes and an example, made from the parser's option tables; and
# the man page docs/mailrecon.1 lists every option of every command in that command's entry
# (and every global option under GLOBAL OPTIONS), and no option the command does not have.
# Usage: help.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
man=$repo/docs/mailrecon.1

expect "mailrecon help: the commands, exit 0" 0 '^  passwd ' '' -- "$bin" help
expect "mailrecon -h: the same" 0 '^usage: mailrecon \[global options\] COMMAND' '' -- "$bin" -h
expect "mailrecon --help: the same" 0 '^global options' '' -- "$bin" --help
expect "help of an unknown command: exit 64" 64 '' "unknown command 'nosuch'" -- "$bin" help nosuch
expect "an unknown command names mailrecon help" 64 '' 'see mailrecon help' -- "$bin" nosuch
expect "an unknown option names the command's --help" 64 '' "plan: unknown option '--nosuch' \(see mailrecon plan --help\)" -- \
	"$bin" plan --nosuch
expect "no command: the usage on stderr, exit 64" 64 '' '^usage: mailrecon' -- "$bin"

commands=$("$bin" help | sed -n '/^commands:/,/^$/p' | awk '/^  [a-z]/ { print $1 }')
expect "the command list has every command" 0 '' '' -- \
	test "$(echo $commands)" = "validate plan apply import dns drift log show rollback route usage passwd help"

# The options of a help text's section HEADER, one "SHORT LONG" a line ("-" for none):
# "  -f, --file PATH" -> "-f --file", "  --out PLANFILE" -> "- --out", "  -n N" -> "-n -".
options_of() {
	sed -n "/^$1/,/^\$/p" | grep -oE '^  (-[a-zA-Z], )?--[a-z-]+|^  -[a-zA-Z]' | sed -E '
		s/^  (-[a-zA-Z]), (--[a-z-]+)$/\1 \2/
		s/^  (--[a-z-]+)$/- \1/
		s/^  (-[a-zA-Z])$/\1 -/'
}
"$bin" help | options_of 'global options' >"$tmp/global"
expect "the global options are listed" 0 '' '' -- test "$(wc -l <"$tmp/global")" -ge 9

# the man page's entry of a command: from its ".TP/.B CMD" line to the next command's
entry() {
	awk -v cmd="$1" -v cmds=" $(echo $commands) " '
		/^\.SH / { on = 0 }
		prev == ".TP" && /^\.B [a-z]+( |$)/ { c = $2; if (index(cmds, " " c " ")) on = (c == cmd) }
		on { print }
		{ prev = $0 }' "$man"
}
global_section() { sed -n '/^\.SH GLOBAL OPTIONS/,/^\.SH /p' "$man"; }
manesc() { sed 's/-/\\-/g'; } # --root -> \-\-root as the man source writes it

# has_help FILE FORM: the option's line, or the line after it, has words of help
has_help() { grep -A1 -E -- "^  (-[a-zA-Z], )?$2([ =[]|\$)" "$1" | grep -qE '[a-z]{3} [a-z]'; }
# in_usage FILE FORM: "[FORM" in the usage line (up to the blank line)
in_usage() { sed -n '/^usage:/,/^$/p' "$1" | grep -qF -- "[$2"; }
# man_lists FILE SHORT LONG: the man text has \fB-s or \fB--long, or a .B/.BR/.BI line
# with one of them as a word (".BR \-q ", " \-\-quiet")
man_lists() {
	local f
	for f in "$2" "$3"; do
		[ "$f" != - ] || continue
		f=$(printf '%s' "$f" | manesc)
		grep -qF -- "\\fB$f" "$1" && return 0
		awk -v f="$f" '/^\.B[IR]? / { n = split($0, w, /[ "]+/); for (i = 2; i <= n; i++) if (w[i] == f) found = 1 }
			END { exit !found }' "$1" && return 0
	done
	return 1
}

for c in $commands; do
	"$bin" help "$c" >"$tmp/help.$c" 2>&1
	expect "help $c: exit 0, usage, exit codes and an example" 0 '' '' -- \
		sh -c "grep -q '^usage: mailrecon $c' '$tmp/help.$c' && grep -q '^exit codes:' '$tmp/help.$c' &&
			grep -q '^  64  usage' '$tmp/help.$c' && grep -q '^example:' '$tmp/help.$c' && grep -q '^  mailrecon ' '$tmp/help.$c'"
	expect "$c --help is help $c" 0 '' '' -- sh -c "'$bin' $c --help | cmp -s - '$tmp/help.$c'"
	expect "$c -h is help $c" 0 '' '' -- sh -c "'$bin' $c -h | cmp -s - '$tmp/help.$c'"
	options_of 'options:' <"$tmp/help.$c" >"$tmp/opts.$c"
	entry "$c" >"$tmp/man.$c"
	expect "the man page has an entry for $c" 0 '' '' -- test -s "$tmp/man.$c"
	while read -r short long; do
		form=$long
		[ "$short" != - ] && form=$short
		expect "help $c: $short $long has a line of help" 0 '' '' -- has_help "$tmp/help.$c" "$([ "$long" != - ] && echo "$long" || echo "$short")"
		expect "help $c: $form is in the usage line" 0 '' '' -- in_usage "$tmp/help.$c" "$form"
		expect "man page: $c's entry lists $short $long" 0 '' '' -- man_lists "$tmp/man.$c" "$short" "$long"
	done <"$tmp/opts.$c"
	# and the man page's synopsis of the command has no option the command lacks
	head -n 1 "$tmp/man.$c" | grep -oE '\\fB(\\-)+[a-z]+(\\-[a-z]+)*' | sed 's/\\fB//; s/\\-/-/g' | sort -u >"$tmp/mansyn.$c"
	while read -r o; do
		expect "man page: $o in $c's synopsis is an option of $c" 0 '' '' -- grep -qwF -- "$o" "$tmp/opts.$c"
	done <"$tmp/mansyn.$c"
done
global_section >"$tmp/man.global"
while read -r short long; do
	expect "man page: GLOBAL OPTIONS lists $short $long" 0 '' '' -- man_lists "$tmp/man.global" "$short" "$long"
done <"$tmp/global"

# the parser accepts what the help lists: -h among other options, after operands
expect "-h after options and operands" 0 '^usage: mailrecon rollback REV' '' -- "$bin" rollback HEAD --no-reload -h
expect "--help wins over a bad value before it? no: a usage error first" 64 '' "needs a value" -- "$bin" plan --out
expect "log -n is short-only and listed as -n N" 0 '^  -n N ' '' -- "$bin" help log

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
