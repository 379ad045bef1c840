# bash completion for mailrecon. Installed by `cmake --install` as
# share/bash-completion/completions/mailrecon.
#
# The commands, the options and what each option's value is come from `mailrecon help` and
# `mailrecon help COMMAND`, which are made from the parser's own option tables: nothing here
# lists them again. Domain, mailbox and user names come from the desired state given with
# -f (a YAML file or a directory of them; not a git: source), read with awk, and so do the
# fleet's hosts (server.hosts) for --host.

# _mailrecon_help BIN [CMD]: the help text (a few milliseconds: not cached, so a new
# mailrecon is seen at once; plain sh syntax, so that zsh's bashcompinit runs it too)
_mailrecon_help() {
	"$1" help ${2:+"$2"} 2>/dev/null
}

# the option lines of the "options:" and "global options" sections: "-f, --file PATH"
_mailrecon_optlines() {
	_mailrecon_help "$1" "$2" | awk '/^(options:|global options)/ { on = 1; next } /^$/ { on = 0 }
		on && /^  -/ { sub(/^  /, ""); sub(/  +.*/, ""); print }'
}

# the value name of option $3 of command $2 ("PATH", "USER", ...), or nothing
_mailrecon_argname() {
	_mailrecon_optlines "$1" "$2" | awk -v o="$3" '{
		line = $0; n = split(line, w, /,? /)
		for (i = 1; i <= n; i++) { f = w[i]; sub(/\[?=.*/, "", f); if (f == o) { v = w[n]; if (v ~ /^-/) v = ""; gsub(/[\[\]=]/, "", v); print v; exit } }
	}'
}

# names in the desired state: KIND is domains, mailboxes (ADDRESS), users or hosts (server.hosts)
_mailrecon_names() {
	local kind=$1 src files=()
	shift
	for src in "$@"; do
		if [[ -d $src ]]; then
			while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$src" \( -name '*.yaml' -o -name '*.yml' \) -type f -print0 2>/dev/null)
		elif [[ -f $src ]]; then
			files+=("$src")
		fi
	done
	((${#files[@]})) || return 0
	awk -v kind="$kind" '
		function key(s) { sub(/^ */, "", s); sub(/:.*/, "", s); gsub(/["'\'']/, "", s); return s }
		/^[^ #]/ { top = key($0); next }
		top == "server" && kind == "hosts" && /^  hosts:/ { inh = 1; v = $0; sub(/^  hosts: */, "", v); sub(/#.*/, "", v)
			gsub(/[]["'\'' ]/, "", v); n = split(v, h, ","); for (i = 1; i <= n; i++) if (h[i] != "") print h[i]; next }
		top == "server" && inh && /^    - / { v = $0; sub(/^    - */, "", v); sub(/ *#.*/, "", v); gsub(/["'\'']/, "", v); print v; next }
		/^  [^ ]/ { inh = 0 }
		top == "users" && kind == "users" && /^  [^ #]/ { print key($0) }
		top == "domains" && /^  [^ #]/ { dom = key($0); if (kind == "domains") print dom; next }
		top == "domains" && /^    mailboxes:/ { inmb = 1; next }
		top == "domains" && /^    [^ ]/ { inmb = 0 }
		top == "domains" && inmb && kind == "mailboxes" && /^      [^ #]/ { print key($0) "@" dom }
	' "${files[@]}" | sort -u
}

_mailrecon() {
	local bin=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmd= i w sources=() arg=
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-f | --file) sources+=("${COMP_WORDS[i+1]}") ;;
		--file=*) sources+=("${w#--file=}") ;;
		--root | --layout | --state-dir | --lock-timeout | --color | --host) ((i++)) ;;
		-*) ;;
		*) [[ -z $cmd ]] && cmd=$w ;;
		esac
	done
	# "--color=a" is three words when COMP_WORDBREAKS has '=' (the default): --color = a
	[[ $prev == = && COMP_CWORD -ge 2 ]] && prev=${COMP_WORDS[COMP_CWORD-2]}
	[[ $cur == = ]] && cur=
	[[ $prev == -* && $cur != -* ]] && arg=$(_mailrecon_argname "$bin" "$cmd" "$prev")
	if [[ $cur == --*=* ]]; then
		arg=$(_mailrecon_argname "$bin" "$cmd" "${cur%%=*}")
		prev=${cur%%=*}
		cur=${cur#*=}
	fi
	COMPREPLY=()
	if [[ -n $arg ]]; then
		case $arg in
		PATH | PLANFILE | DIR) COMPREPLY=($(compgen -f -- "$cur")) ;;
		USER) COMPREPLY=($(compgen -W "$(_mailrecon_names users "${sources[@]}")" -- "$cur")) ;;
		DOMAIN) COMPREPLY=($(compgen -W "$(_mailrecon_names domains "${sources[@]}")" -- "$cur")) ;;
		ADDRESS) COMPREPLY=($(compgen -W "$(_mailrecon_names mailboxes "${sources[@]}")" -- "$cur")) ;;
		OBJECT) COMPREPLY=($(compgen -W "$(_mailrecon_names domains "${sources[@]}") $(_mailrecon_names mailboxes "${sources[@]}") $(_mailrecon_names users "${sources[@]}")" -- "$cur")) ;;
		NAME) [[ $prev == --host ]] && COMPREPLY=($(compgen -W "$(_mailrecon_names hosts "${sources[@]}")" -- "$cur")) ;;
		SCHEME) COMPREPLY=($(compgen -W "SHA512-CRYPT SHA256-CRYPT BLF-CRYPT CRAM-MD5" -- "$cur")) ;;
		*'|'*) COMPREPLY=($(compgen -W "${arg//|/ }" -- "$cur")) ;;
		esac
		return 0
	fi
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$(_mailrecon_optlines "$bin" "" | grep -oE -- '--?[a-z][a-z-]*' | sort -u)" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_mailrecon_help "$bin" | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }')" -- "$cur"))
		fi
		return 0
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_mailrecon_optlines "$bin" "$cmd" | grep -oE -- '(^|, )--?[a-z][a-z-]*' | sed 's/^, //' | sort -u)" -- "$cur"))
		return 0
	fi
	# operands, from the usage line: "[DOMAIN]...", "[COMMAND]"
	case $(_mailrecon_help "$bin" "$cmd" | awk '/^usage:/ { print $4; exit }' | tr -d '[].') in
	DOMAIN) COMPREPLY=($(compgen -W "$(_mailrecon_names domains "${sources[@]}")" -- "$cur")) ;;
	COMMAND) COMPREPLY=($(compgen -W "$(_mailrecon_help "$bin" | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }')" -- "$cur")) ;;
	REV) COMPREPLY=($(compgen -W "HEAD HEAD~1 HEAD~2" -- "$cur")) ;;
	esac
	return 0
}
complete -F _mailrecon mailrecon
