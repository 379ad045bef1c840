#!/usr/bin/env bash
# Issue 12 (confinement and safety): one regression test per numbered case, each on a fresh
# sandbox root with a decoy directory beside it (outside the root) that must come out byte for
# byte, mode and owner unchanged wherever the case is about escaping the root.  Each case failed
# on a49b13a, the main before issue 12.
# Case 8 (--scope from a hostile file) is tests/cli/scope.sh; the input limits of case 12 are in
# tests/cli/validate.sh, plan.sh and import.sh and the invalid fixtures.
# Usage: confine.sh MAILRECON REPO_ROOT
set -u
bin=$1
repo=$2
tmp=$(mktemp -d)
pass=0
fail=0
. "$(dirname "$0")/lib.sh"
live=$repo/tests/fixtures/live
certs=$repo/tests/fixtures/certs
root=$tmp/root
decoy=$tmp/decoy
state=$root/var/lib/mailrecon
git_repo=$state/repo
email=$root/var/www/alice/data/email
# a mark in every revision (a note in the registry): /tmp/mailrecon-drift.* copies an older
# mailrecon left behind are found by it, reported (case 6) and removed
token=confine-$$-$RANDOM
ls /tmp >"$tmp/tmp.start"
cleanup() {
	ls /tmp | grep '^mailrecon-drift\.' | while read -r d; do
		grep -qx "$d" "$tmp/tmp.start" || ! grep -rqF "$token" "/tmp/$d" 2>/dev/null || rm -rf "/tmp/${d:?}"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

mr() { "$bin" --root "$root" "$@"; }
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

H='{hash: "{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6"}'
# gen FILE OWNER LOCAL...: alice and bob; example.com owned by OWNER with the mailboxes LOCAL...;
# bob's example.org with info@ (the token in its note)
gen() {
	local f=$1 owner=$2 m
	shift 2
	{
		printf 'version: 1\nusers:\n  alice: {}\n  bob: {}\ndomains:\n  example.com:\n    owner: %s\n    mailboxes:\n' "$owner"
		for m in "$@"; do printf '      %s: {password: %s}\n' "$m" "$H"; done
		printf '  example.org:\n    owner: bob\n    mailboxes:\n      info: {password: %s, note: "%s"}\n' "$H" "$token"
	} >"$f"
}
gen "$tmp/base.yaml" alice info keep
gen "$tmp/plus.yaml" alice info keep hr
gen "$tmp/minus.yaml" alice keep
gen "$tmp/owner.yaml" bob info keep
gen "$tmp/grow.yaml" alice info keep hr sales
printf '  shop.example:\n    owner: bob\n    mailboxes:\n      orders: {password: %s}\n' "$H" >>"$tmp/grow.yaml"
sed 's/^      keep: {password: \(.*\)}$/      keep: {password: \1, greylisting: false}/' "$tmp/base.yaml" >"$tmp/grey.yaml"

# sandbox [base]: a fresh root (the empty Debian tree, alice uid 1001 and bob uid 1003 with
# their /var/www trees; with base, base.yaml applied to it, once and copied) and a fresh decoy
# beside it
sandbox() {
	rm -rf "$root" "$decoy"
	if [ "${1:-}" = base ]; then
		if [ ! -d "$tmp/base.root" ]; then
			sandbox
			mr -q apply -f "$tmp/base.yaml" >/dev/null 2>&1
			mv "$root" "$tmp/base.root"
		fi
		cp -a "$tmp/base.root" "$root"
	else
		cp -a "$live/debian/empty" "$root"
		rm -f "$root/findings.txt" "$root/import.yaml" "$root/import.err"
		printf '%s\n' 'alice:x:1001:1001::/var/www/alice:/usr/sbin/nologin' \
			'bob:x:1003:1003::/var/www/bob:/usr/sbin/nologin' >>"$root/etc/passwd"
		mkdir -p "$root/var/www/alice" "$root/var/www/bob"
		chown 1001:1001 "$root/var/www/alice"
		chown 1003:1003 "$root/var/www/bob"
		chmod 750 "$root/var/www/alice" "$root/var/www/bob"
	fi
	rm -rf "$decoy"
	mkdir -p "$decoy/example.com/info" "$decoy/example.com/keep" "$decoy/victim/cur" "$decoy/postgrey" "$decoy/cron.d"
	echo 'decoy mail' >"$decoy/example.com/info/msg"
	echo 'decoy mail' >"$decoy/victim/cur/msg"
	echo 'orig@example.net' >"$decoy/postgrey/whitelist_recipients"
	printf 'root:$6$decoy$x:19000:0:99999:7:::\n' >"$decoy/shadow"
	chmod 640 "$decoy/shadow"
	chown -R 1001:1001 "$decoy/example.com" "$decoy/victim"
	chmod 700 "$decoy/example.com/info" "$decoy/example.com/keep"
}
# the decoy: every path with type, size, mode, owner and mtime, and every file's hash
snap_decoy() {
	(cd "$decoy" 2>/dev/null && find . -print0 | sort -z | xargs -0 stat -c '%n %F %s %a %u %g %Y' &&
		find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
# the root but the state directory and the audit log, the same way
snap_root() {
	(cd "$root" && find . -path ./var/lib/mailrecon -prune -o -path ./var/log -prune -o -print0 | sort -z |
		xargs -0 stat -c '%n %F %s %a %u %g %Y' &&
		find . -path ./var/lib/mailrecon -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}
decoy_same() { # decoy_same NAME: the decoy is as snap_decoy left it in $tmp/decoy.before
	snap_decoy >"$tmp/decoy.after"
	expect "$1" 0 '' '' -- cmp -s "$tmp/decoy.before" "$tmp/decoy.after"
}
plant() { # plant HOME_DIR TEXT: a message file owned like its maildir
	echo "$2" >"$1/msg"
	chown --reference="$1" "$1/msg"
}

# Cases 1 to 4 are about paths that lead out of the root: they run with openat2 and again with
# the O_NOFOLLOW walk mailrecon falls back to on kernels without it (MAILRECON_RESOLVE=walk).
for M in '' ' [walk]'; do
	[ -n "$M" ] && export MAILRECON_RESOLVE=walk
	# ---------------------------------------------------------------------------------------------
	# case 1: a DOMAIN directory of a tenant's mail tree is a symlink (to the decoy outside the root,
	# or to another tenant's domain): nothing is made, archived or purged through it
	sandbox base
	rm -rf "$email/example.com"
	ln -s "$decoy/example.com" "$email/example.com"
	snap_decoy >"$tmp/decoy.before"
	expect "case 1$M: a new mailbox below a symlinked domain directory: warning, exit 1" 1 '^Plan: 1 to add' \
		"the storage of 'hr@example\.com' is left alone: .*symbolic link" -- mr apply -f "$tmp/plus.yaml"
	decoy_same "case 1$M: ... nothing was made through the link (decoy unchanged)"
	expect "case 1$M: ... the rest is applied" 0 '' '' -- grep -q '^hr@example\.com:' "$root/etc/dovecot/dovecot.passwd"
	expect "case 1$M: ... and the link is left as it is" 0 '' '' -- test -L "$email/example.com"
	for purge in '' --purge; do
		for target in decoy bob; do
			sandbox base
			plant "$root/var/www/bob/data/email/example.org/info" 'bob mail'
			rm -rf "$email/example.com"
			if [ $target = decoy ]; then
				ln -s "$decoy/example.com" "$email/example.com"
			else # bob's domain has an info@ too: alice's link would hand its mail to her delete
				ln -s ../../../bob/data/email/example.org "$email/example.com"
			fi
			snap_decoy >"$tmp/decoy.before"
			expect "case 1$M: delete a mailbox through a link to $target ${purge:-(archive)}: warning, exit 1" 1 '^Plan: ' \
				"the storage of 'info@example\.com' is left alone" -- mr apply -f "$tmp/minus.yaml" --allow-delete $purge
			decoy_same "case 1$M: ... $target ${purge:-(archive)}: the decoy is unchanged"
			expect "case 1$M: ... $target ${purge:-(archive)}: bob's mail is where it was" 0 '^bob mail$' '' -- \
				cat "$root/var/www/bob/data/email/example.org/info/msg"
			expect "case 1$M: ... $target ${purge:-(archive)}: nothing was archived" 1 '' '' -- test -e "$state/archive/info@example.com"
			expect "case 1$M: ... $target ${purge:-(archive)}: the rest is applied" 1 '' '' -- grep -q '^info@example\.com:' "$root/etc/exim4/passwd"
		done
	done

	# ---------------------------------------------------------------------------------------------
	# case 2: the home field of a live dovecot.passwd line is data: deleting the mailbox acts on its
	# exact place only, whatever the field says (/../decoy/victim is the issue's /../../x, aimed at
	# the decoy), and the plan shows the field as an update
	for home in /../decoy/victim / /var/www/alice/data/email/example.com /var/www/bob/data/email/example.org/info; do
		for purge in '' --purge; do
			sandbox base
			plant "$email/example.com/info" 'info mail'
			plant "$email/example.com/keep" 'keep mail'
			plant "$root/var/www/bob/data/email/example.org/info" 'bob mail'
			sed -i "s|^\(info@example\.com:[^:]*:[^:]*:[^:]*:[^:]*:\)[^:]*|\1$home|" "$root/etc/dovecot/dovecot.passwd"
			snap_decoy >"$tmp/decoy.before"
			what="home $home ${purge:-(archive)}"
			if [ -z "$purge" ]; then
				expect "case 2$M: $home: the plan shows home as an update to the mailbox's place" 0 \
					"^      home: $home -> /var/www/alice/data/email/example\.com/info\$" '' -- mr plan -f "$tmp/base.yaml"
			fi
			expect "case 2$M: $what: delete the mailbox" 0 '^Plan: ' '' -- mr apply -f "$tmp/minus.yaml" --allow-delete $purge
			decoy_same "case 2$M: $what: the decoy is unchanged"
			expect "case 2$M: $what: the root and the state repository survive" 0 '^[0-9a-f]{40}$' '' -- \
				git --git-dir="$git_repo" rev-parse HEAD
			expect "case 2$M: $what: keep@'s mail survives" 0 '^keep mail$' '' -- cat "$email/example.com/keep/msg"
			expect "case 2$M: $what: bob's mail survives" 0 '^bob mail$' '' -- cat "$root/var/www/bob/data/email/example.org/info/msg"
			expect "case 2$M: $what: the mailbox's own place is gone" 1 '' '' -- test -e "$email/example.com/info"
			if [ -z "$purge" ]; then
				expect "case 2$M: $what: its mail is in the archive" 0 '^info mail$' '' -- \
					sh -c "cat '$state'/archive/info@example.com/*/msg"
			else
				expect "case 2$M: $what: nothing archived with --purge" 1 '' '' -- test -e "$state/archive/info@example.com"
			fi
		done
	done

	# ---------------------------------------------------------------------------------------------
	# case 3: a managed file's parent directory is a symlink (etc/postgrey -> the decoy)
	sandbox base
	ln -s ../../decoy/postgrey "$root/etc/postgrey"
	snap_decoy >"$tmp/decoy.before"
	expect "case 3$M: plan refuses a managed directory that is a symlink" 1 '' \
		"reached through the symbolic link '[^']*/etc/postgrey'; refused" -- mr plan -f "$tmp/grey.yaml"
	snap_root >"$tmp/root.before"
	expect "case 3$M: apply refuses it" 1 '' "reached through the symbolic link '[^']*/etc/postgrey'; refused" -- \
		mr apply -f "$tmp/grey.yaml"
	decoy_same "case 3$M: ... nothing was written through it (decoy unchanged)"
	snap_root >"$tmp/root.after"
	expect "case 3$M: ... nor anywhere below the root" 0 '' '' -- cmp -s "$tmp/root.before" "$tmp/root.after"

	# ---------------------------------------------------------------------------------------------
	# case 4: a crafted revision in the state repository (git plumbing, a Mailrecon-Version
	# trailer) holds a path with '..', an absolute name or a path mailrecon does not manage.
	# '../T/decoy/pwned' (T: the name of $tmp, $tmp/T a link to $tmp itself) reaches the decoy both
	# from the root and from a copy of the revision in /tmp/mailrecon-drift.* (a49b13a's drift).
	g() { git --git-dir="$git_repo" "$@"; }
	new_drift_dirs() { # the /tmp/mailrecon-drift.* entries made since $tmp/tmp.before
		ls /tmp | grep '^mailrecon-drift\.' | grep -vxF -f "$tmp/tmp.before"
	}
	raw_tree() { # lines "MODE ID NAME" on stdin, in git's order -> a tree id; names are taken as they are
		perl -ne 'chomp; my ($m, $s, $n) = split / /, $_, 3; print "$m $n\0", pack("H*", $s);' |
			g hash-object -t tree --literally -w --stdin
	}
	entries() { g ls-tree "$1" | sed 's/^\([0-9]*\) [a-z]* \([0-9a-f]*\)	/\1 \2 /'; }
	craft() { # craft TREE: a commit on HEAD that looks like one of mailrecon's
		printf 'crafted\n\nDesired-Source: (none)\nHost: x\nActor: mallory\nMailrecon-Version: 0.1.0\n' |
			g -c user.name=m -c user.email=m@m commit-tree "$1" -p HEAD
	}
	ln -sfn . "$tmp/$(basename "$tmp")"
	crafted() { # crafted KIND: a tree of HEAD's files and one bad entry
		local blob t
		blob=$(printf 'pwned\n' | g hash-object -w --stdin)
		case $1 in
		dotdot)
			t=$(echo "100644 $blob pwned" | raw_tree)
			t=$(echo "40000 $t decoy" | raw_tree)
			t=$(echo "40000 $t $(basename "$tmp")" | raw_tree)
			{ echo "40000 $t .."; entries HEAD; } | LC_ALL=C sort -k3 | raw_tree
			;;
		absolute) { echo "100644 $blob $decoy/abs"; entries HEAD; } | LC_ALL=C sort -k3 | raw_tree ;;
		cron)
			t=$(echo "100644 $blob x" | raw_tree)
			t=$({ echo "40000 $t cron.d"; entries HEAD:etc; } | LC_ALL=C sort -k3 | raw_tree)
			{ echo "40000 $t etc"; entries HEAD | grep -v ' etc$'; } | LC_ALL=C sort -k3 | raw_tree
			;;
		esac
	}
	for kind in dotdot absolute cron; do
		sandbox base
		mr -q apply -f "$tmp/plus.yaml" >/dev/null 2>&1
		rev=$(craft "$(crafted $kind)")
		snap_decoy >"$tmp/decoy.before"
		snap_root >"$tmp/root.before"
		expect "case 4$M: rollback to a revision with a $kind entry: exit 3" 3 '' 'refused: the revision cannot be used' -- \
			mr rollback "$rev"
		decoy_same "case 4$M: ... $kind: the decoy is unchanged"
		snap_root >"$tmp/root.after"
		expect "case 4$M: ... $kind: nothing was written below the root" 0 '' '' -- cmp -s "$tmp/root.before" "$tmp/root.after"
	done
	# the same entries at HEAD (a crafted HEAD), then a hand edit: drift and apply read HEAD back
	sandbox base
	mr -q apply -f "$tmp/plus.yaml" >/dev/null 2>&1
	for kind in dotdot absolute cron; do
		g update-ref refs/heads/main "$(craft "$(crafted $kind)")"
	done
	echo 'intruder@example.com:owner=alice' >>"$root/etc/exim4/passwd"
	snap_decoy >"$tmp/decoy.before"
	ls /tmp >"$tmp/tmp.before"
	expect "case 4$M: drift with a crafted HEAD: exit 2" 2 '^Files changed outside mailrecon' '' -- mr drift -f "$tmp/plus.yaml"
	decoy_same "case 4$M: ... drift wrote nothing outside the root"
	expect "case 4$M: apply with a crafted HEAD" 0 'recorded revision' '' -- mr apply -f "$tmp/plus.yaml" --allow-delete
	decoy_same "case 4$M: ... apply wrote nothing outside the root"
	new_drift_dirs >"$tmp/left"
	expect "case 4$M: ... and left no copy of a revision in /tmp" 0 '' '' -- test ! -s "$tmp/left"
	expect "case 4$M: ... nor a non-managed path below it" 1 '' '' -- \
		sh -c "test -e '$root/etc/cron.d' || test -e '$root$decoy' || test -e '$root/$(basename "$tmp")'"
done
unset MAILRECON_RESOLVE

# ---------------------------------------------------------------------------------------------
# case 5: certificates and keys named by the desired state, and foreign files in ssl/ and certs/
ssl_yaml() { # ssl_yaml FILE CERT KEY: the base state, example.org with ssl {cert, key}
	sed "s|^    owner: bob\$|    owner: bob\n    ssl:\n      alias: www.example.com\n      certificate: {cert: $2, key: $3}|" \
		"$tmp/base.yaml" >"$1"
}
ssl_yaml "$tmp/shadow.yaml" /etc/shadow /etc/ssl/mail.key
ssl_yaml "$tmp/keycert.yaml" /etc/ssl/mail.key /etc/ssl/mail.key
ssl_yaml "$tmp/ssl.yaml" /etc/ssl/mail.crt /etc/ssl/mail.key
ssl_root() {
	sandbox
	mkdir -p "$root/etc/ssl"
	cp "$certs/leaf.crt" "$root/etc/ssl/mail.crt"
	cp "$certs/leaf.key" "$root/etc/ssl/mail.key"
	printf 'root:$6$SHADOWSECRET$xyz:19000:0:99999:7:::\n' >"$root/etc/shadow"
	chmod 640 "$root/etc/shadow"
}
ssl_root
for cmd in validate plan apply; do
	expect "case 5: cert: /etc/shadow: $cmd refuses it at its place" 1 '' \
		"shadow\.yaml:15:27: error: the certificate of 'example\.org': the certificate file is not a PEM X\.509 certificate" -- \
		mr $cmd -f "$tmp/shadow.yaml"
	expect "case 5: cert: a private key: $cmd refuses it at its place" 1 '' \
		"keycert\.yaml:15:27: error: the certificate of 'example\.org': the certificate file holds a private key" -- \
		mr $cmd -f "$tmp/keycert.yaml"
done
expect "case 5: ... nothing was copied" 1 '' '' -- \
	sh -c "ls '$root/etc/exim4/ssl' '$root/etc/dovecot/certs' 2>/dev/null | grep -q example.org"
expect "case 5: ... nothing was committed" 1 '' '' -- \
	sh -c "git --git-dir='$git_repo' log -p --all 2>/dev/null | grep -q -e SHADOWSECRET -e 'PRIVATE KEY'"
ssl_root
mkdir -p "$root/etc/exim4/ssl" "$root/etc/dovecot/certs"
cp "$certs/other.key" "$root/etc/exim4/ssl/legacy.pem"
cp "$certs/ec.key" "$root/etc/exim4/ssl/x.key.bak"
cp "$certs/other.key" "$root/etc/dovecot/certs/legacy.pem"
cp "$certs/self-pkcs1.key" "$root/etc/dovecot/certs/old.crt"
expect "case 5: private keys under other names in ssl/ and certs/: a warning, the apply goes on" 0 'recorded revision' \
	"'[^']*/etc/exim4/ssl/legacy\.pem' is not recorded in the state repository" -- mr apply -f "$tmp/ssl.yaml"
cp "$tmp/err" "$tmp/foreign.err"
for f in exim4/ssl/x.key.bak dovecot/certs/legacy.pem dovecot/certs/old.crt; do
	expect "case 5: ... /etc/$f is named" 0 '' '' -- grep -q "/etc/$f' is not recorded in the state repository" "$tmp/foreign.err"
done
expect "case 5: ... and no private key is in any commit" 1 '' '' -- \
	sh -c "git --git-dir='$git_repo' log -p --all | grep -q 'PRIVATE KEY'"
expect "case 5: ... the foreign files are left as they are" 0 '' '' -- cmp -s "$certs/ec.key" "$root/etc/exim4/ssl/x.key.bak"
ssl_root
mkdir -p "$root/etc/exim4/ssl/live/example.org" "$root/etc/dovecot/certs"
cp "$certs/leaf.crt" "$root/etc/exim4/ssl/live/example.org/fullchain.pem"
ln -s live/example.org/fullchain.pem "$root/etc/exim4/ssl/current.crt"
ln -s /etc/hostname "$root/etc/dovecot/certs/host.crt"
expect "case 5: certbot style ssl/ (a sub-directory, symlinks): a warning, apply works" 0 'recorded revision' \
	"'[^']*/etc/exim4/ssl/current\.crt' is not recorded in the state repository: it is a symbolic link" -- \
	mr apply -f "$tmp/ssl.yaml"
cp "$tmp/err" "$tmp/certbot.err"
expect "case 5: ... the directory is named too" 0 '' '' -- \
	grep -q "/etc/exim4/ssl/live' is not recorded in the state repository: it is a directory" "$tmp/certbot.err"
expect "case 5: ... the certificate is in place" 0 '' '' -- cmp -s "$certs/leaf.crt" "$root/etc/exim4/ssl/example.org.crt"
expect "case 5: ... the next apply: No changes." 0 '^No changes\.' 'is a symbolic link' -- mr apply -f "$tmp/ssl.yaml"
expect "case 5: ... the links are left as they are" 0 '' '' -- \
	test -L "$root/etc/exim4/ssl/current.crt" -a -L "$root/etc/dovecot/certs/host.crt"

# ---------------------------------------------------------------------------------------------
# case 6: rollback after a hand edit of a live file: no crash, drift committed first, no copy
# of a revision left in /tmp
sandbox base
rev1=$(mr log -n 1 | cut -c1-12)
mr -q apply -f "$tmp/grey.yaml" >/dev/null 2>&1
echo "# a hand edit $token" >>"$root/etc/exim4/passwd"
ls /tmp >"$tmp/tmp.before"
expect "case 6: rollback after a hand edit: exit 0, no crash" 0 'recorded revision' '' -- mr rollback "$rev1"
expect "case 6: ... the drift was committed first" 0 "^[0-9a-f]{12} .*drift: 1 file changed outside mailrecon$" '' -- \
	sh -c "'$bin' --root '$root' log | sed -n 2p"
expect "case 6: ... with the hand edit in it" 0 "^# a hand edit $token\$" '' -- g show HEAD~1:etc/exim4/passwd
expect "case 6: ... the rollback is the newest revision" 0 "rollback to $rev1" '' -- mr log -n 1
expect "case 6: ... and the state is rev1's: No changes." 0 '^No changes\.' '' -- mr plan -f "$tmp/base.yaml"
new_drift_dirs >"$tmp/left"
expect "case 6: ... nothing left in /tmp (mailrecon-drift.*)" 0 '' '' -- test ! -s "$tmp/left"
expect "case 6: ... nor in STATE_DIR/tmp (0700, root's, empty)" 0 '^700 0 0$' '' -- \
	sh -c "echo \$(stat -c '%a %u' '$state/tmp') \$(ls -A '$state/tmp' | wc -l)"
sandbox base
rev1=$(mr log -n 1 | cut -c1-12)
mr -q apply -f "$tmp/grey.yaml" >/dev/null 2>&1
echo 'intruder@example.com:owner=alice' >>"$root/etc/exim4/passwd"
ls /tmp >"$tmp/tmp.before"
expect "case 6: rollback after a hand edit that adds a mailbox: exit 3 (a deletion), no crash" 3 'recorded drift as revision' \
	"refused: going back to $rev1 deletes 0 users, 0 domains and 1 mailbox" -- mr rollback "$rev1"
expect "case 6: ... the drift was committed first" 0 'drift: 1 file changed outside mailrecon$' '' -- mr log -n 1
new_drift_dirs >"$tmp/left"
expect "case 6: ... nothing left in /tmp (mailrecon-drift.*)" 0 '' '' -- test ! -s "$tmp/left"

# ---------------------------------------------------------------------------------------------
# case 7: rollback to the baseline deletes users, domains and mailboxes: the delete cap, then
# archives; rolling back past a deletion restores the mail from the archive
sandbox base
plant "$email/example.com/info" 'info mail'
rev0=$(mr log | tail -n 1 | cut -c1-12)
rev1=$(mr log -n 1 | cut -c1-12)
snap_root >"$tmp/root.before"
expect "case 7: rollback to the baseline without --allow-delete: exit 3" 3 '^Plan: 0 to add, 0 to change, 7 to destroy\.$' \
	"refused: going back to $rev0 deletes 2 users, 2 domains and 3 mailboxes" -- mr rollback "$rev0"
snap_root >"$tmp/root.after"
expect "case 7: ... nothing changed" 0 '' '' -- cmp -s "$tmp/root.before" "$tmp/root.after"
expect "case 7: rollback to the baseline --allow-delete: the homes are archived" 0 \
	'^archived /var/www/alice/data/email/example\.com/info to /var/lib/mailrecon/archive/info@example\.com/[0-9]{8}T[0-9]{6}Z' '' -- \
	mr rollback "$rev0" --allow-delete
expect "case 7: ... the mail is in the archive" 0 '^info mail$' '' -- sh -c "cat '$state'/archive/info@example.com/*/msg"
expect "case 7: ... no home is left orphaned" 0 '^0$' '' -- \
	sh -c "find '$root/var/www' -mindepth 5 | wc -l"
expect "case 7: rollback past the deletion: the mail comes back from the archive" 0 \
	'^restored /var/lib/mailrecon/archive/info@example\.com/[^ ]+ to /var/www/alice/data/email/example\.com/info$' '' -- \
	mr rollback "$rev1"
expect "case 7: ... into the home" 0 '^info mail$' '' -- cat "$email/example.com/info/msg"
expect "case 7: ... which is alice's, 0700" 0 '^700 1001$' '' -- stat -c '%a %u' "$email/example.com/info"
expect "case 7: ... and a plan afterwards: No changes." 0 '^No changes\.' '' -- mr plan -f "$tmp/base.yaml"
sandbox base
plant "$email/example.com/info" 'info mail'
rev1=$(mr log -n 1 | cut -c1-12)
mr -q apply -f "$tmp/minus.yaml" --allow-delete >/dev/null 2>&1
expect "case 7: rollback past an apply that deleted info@: restored from the archive" 0 \
	'\+ info@example\.com home /var/www/alice/data/email/example\.com/info \(restored from the archive' '' -- mr rollback "$rev1"
expect "case 7: ... the mail is in its home again" 0 '^info mail$' '' -- cat "$email/example.com/info/msg"
expect "case 7: ... and not in the archive" 0 '^0$' '' -- sh -c "find '$state/archive' -type f | wc -l"

# case 8: --scope takes the scope user's role, reseller and limits from the live state:
# tests/cli/scope.sh (cli_scope), not repeated here.

# ---------------------------------------------------------------------------------------------
# case 9: a crash at every step of an apply that makes homes and writes audit lines, then a
# real kill -9 during an apply of 3000 mailboxes: the next run finishes it as that apply
# home_ok HOME UID: the home is there, the owner's, 0700
home_ok() { [ "$(stat -c '%a %u' "$root$1" 2>/dev/null)" = "700 $2" ]; }
audit_norm() { sed -E 's/^[^ ]+ rev=[0-9a-f]+ //' "$root/var/log/mailrecon.log" | sort; }
new_homes9='/var/www/alice/data/email/example.com/hr:1001 /var/www/alice/data/email/example.com/sales:1001
	/var/www/bob/data/email/shop.example/orders:1003'
sandbox base
mr -q apply -f "$tmp/grow.yaml" >/dev/null 2>&1
audit_norm >"$tmp/audit9.want"
subject9=$(mr log -n 1 | sed -E 's/^[0-9a-f]{12}  [^ ]+  [^ ]+ +//')
check9() { # check9 WHAT YAML SUBJECT HOMES...: the state after the run that followed a crash
	local what="case 9: $1" yaml=$2 subject=$3 h n
	shift 3
	for h in "$@"; do
		if ! home_ok "${h%:*}" "${h#*:}"; then
			bad "$what: ${h%:*} is not ${h#*:}'s, 0700: $(stat -c '%a %u' "$root${h%:*}" 2>&1)"
			return 1
		fi
	done
	audit_norm >"$tmp/audit.got"
	if ! cmp -s "$tmp/audit9.want" "$tmp/audit.got"; then
		bad "$what: the audit lines are not the apply's, once: $(diff "$tmp/audit9.want" "$tmp/audit.got" | head -3)"
		return 1
	fi
	mr log >"$tmp/log"
	n=$(grep -cF "$subject" "$tmp/log")
	if [ "$n" -ne 1 ] || grep -q ' drift: ' "$tmp/log"; then
		bad "$what: the log has $n revisions '$subject', $(grep -c ' drift: ' "$tmp/log") drift"
		return 1
	fi
	if ! mr plan -f "$yaml" | grep -q '^No changes\.'; then
		bad "$what: a plan afterwards is not empty"
		return 1
	fi
	if [ -e "$state/journal" ] || [ -e "$state/pending-revision" ]; then
		bad "$what: the journal or the pending revision is left"
		return 1
	fi
}
crashes=0
completed=0
before_hr=
for n in $(seq 1 200); do
	rm -rf "$root"
	cp -a "$tmp/base.root" "$root"
	MAILRECON_CRASH_AT=$n mr -q apply -f "$tmp/grow.yaml" >/dev/null 2>&1
	rc=$?
	if [ $rc -ne 99 ]; then
		[ $rc -eq 0 ] && completed=1
		break
	fi
	crashes=$((crashes + 1))
	if [ -z "$before_hr" ] && [ "$(tail -n 1 "$state/journal" 2>/dev/null)" = end ] && [ ! -e "$email/example.com/hr" ]; then
		before_hr=$n
	fi
	mr -q apply -f "$tmp/grow.yaml" >"$tmp/out" 2>"$tmp/err" || bad "case 9: the run after a crash at step $n: exit $?"
	if check9 "crash at step $n" "$tmp/grow.yaml" "$subject9" $new_homes9; then
		ok "case 9: a crash at step $n: the next run finished the apply as that apply"
	fi
done
expect "case 9: the apply completes past its last crash point ($crashes crash points)" 0 '' '' -- test $completed -eq 1 -a $crashes -ge 10
# a crash between the mkdir of a home and its chown (which kill -9 can hit): the crash point
# before hr@'s home is made, then hr made as mkdir leaves it (root's, 0700)
expect "case 9: a crash point with the journal written and hr@'s home not made yet" 0 '' '' -- test -n "$before_hr"
rm -rf "$root"
cp -a "$tmp/base.root" "$root"
MAILRECON_CRASH_AT=${before_hr:-0} mr -q apply -f "$tmp/grow.yaml" >/dev/null 2>&1
mkdir -m 700 "$email/example.com/hr"
expect "case 9: a home made but not yet given to its owner at the crash (step ${before_hr:-none}): the next run" 0 '' \
	'interrupted apply was finished' -- mr -q apply -f "$tmp/grow.yaml"
expect "case 9: ... gives the home to its owner, 0700" 0 '^700 1001$' '' -- stat -c '%a %u' "$email/example.com/hr"
# kill -9: the first try at a random point of the whole apply, the others once a random one of
# the 3000 homes is there (a crash after the switch, while the homes are made)
{
	sed '/^  example.org:/,$d' "$tmp/base.yaml"
	printf '  big.example:\n    owner: alice\n    mailboxes:\n'
	for i in $(seq 1 3000); do printf '      m%d: {password: %s}\n' "$i" "$H"; done
	sed -n '/^  example.org:/,$p' "$tmp/base.yaml"
} >"$tmp/big.yaml"
big=$email/big.example
rm -rf "$root"
cp -a "$tmp/base.root" "$root"
t0=$EPOCHREALTIME
mr -q apply -f "$tmp/big.yaml" >/dev/null 2>&1
t1=$EPOCHREALTIME
audit_norm >"$tmp/audit9.want"
subject=$(mr log -n 1 | sed -E 's/^[0-9a-f]{12}  [^ ]+  [^ ]+ +//')
usec() { local s=${1//[.,]/}; echo $((10#$s)); }
whole=$(($(usec "$t1") - $(usec "$t0")))
for try in 1 2 3; do
	rm -rf "$root"
	cp -a "$tmp/base.root" "$root"
	"$bin" -q --root "$root" apply -f "$tmp/big.yaml" >/dev/null 2>&1 & # not mr: $! must be mailrecon itself
	pid=$!
	if [ $try -eq 1 ]; then
		delay=$((RANDOM * whole / 32768))
		sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
		when="${delay}us"
	else
		k=$((RANDOM % 3000 + 1))
		until [ -d "$big/m$k" ] || ! kill -0 $pid 2>/dev/null; do sleep 0.002; done
		when="home m$k"
	fi
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	rc=$?
	mr -q apply -f "$tmp/big.yaml" >"$tmp/out" 2>"$tmp/err" || bad "case 9: the run after kill -9 (try $try): exit $?"
	made=$(find "$big" -mindepth 1 -maxdepth 1 -type d -uid 1001 -perm 700 2>/dev/null | wc -l)
	what="kill -9 at $when (try $try, exit $rc)"
	if [ "$made" -ne 3000 ]; then
		others=$(find "$big" -mindepth 1 -maxdepth 1 \( ! -uid 1001 -o ! -perm 700 \) -printf '%f %u %m, ' | head -c 200)
		bad "case 9: $what: $made of 3000 homes are alice's 0700; not: $others"
	elif [ "$(stat -c '%a %u' "$big")" != '750 1001' ]; then
		bad "case 9: $what: the domain directory is $(stat -c '%a %u' "$big"), not alice's 0750"
	elif check9 "$what" "$tmp/big.yaml" "$subject"; then
		ok "case 9: $what: the next run finished the apply as that apply"
	fi
done

# ---------------------------------------------------------------------------------------------
# case 10: another writer (the panel) adds a mailbox to both passwd files while apply runs
sandbox base
sha256sum "$root/etc/exim4/domains" >"$tmp/sums"
expect "case 10: a live file changed just before the switch: exit 3" 3 '^Plan: ' \
	"the live file '[^']*/etc/(exim4/passwd|dovecot/dovecot\.passwd)' changed during apply; nothing was changed" -- \
	env MAILRECON_TEST_BEFORE_SWITCH="echo 'new@example.com:owner=alice' >>'$root/etc/exim4/passwd'; \
echo 'new@example.com:{PLAIN}x:1001:1001::/var/www/alice/data/email/example.com/new::' >>'$root/etc/dovecot/dovecot.passwd'" \
	"$bin" --root "$root" apply -f "$tmp/grow.yaml"
expect "case 10: ... the other writer's lines are still there" 0 '' '' -- \
	sh -c "grep -qx 'new@example.com:owner=alice' '$root/etc/exim4/passwd' && grep -q '^new@example.com:' '$root/etc/dovecot/dovecot.passwd'"
expect "case 10: ... nothing of the apply is" 1 '' '' -- \
	sh -c "grep -q -e '^hr@' -e '^sales@' '$root/etc/exim4/passwd' '$root/etc/dovecot/dovecot.passwd' || test -e '$email/example.com/hr'"
expect "case 10: ... the other files are unchanged" 0 '' '' -- sha256sum -c --quiet "$tmp/sums"
expect "case 10: ... no staged file, journal or pending revision is left" 1 '' '' -- \
	sh -c "find '$root' -name '*.mailrecon-tmp.*' | grep -q . || test -e '$state/journal' -o -e '$state/pending-revision'"

# ---------------------------------------------------------------------------------------------
# case 11: the same address deleted twice in one day; a domain given to another owner
sandbox base
plant "$email/example.com/info" 'first'
expect "case 11: delete info@" 0 '^Apply complete' '' -- mr apply -f "$tmp/minus.yaml" --allow-delete
expect "case 11: create it again" 0 '^Apply complete' '' -- mr apply -f "$tmp/base.yaml"
plant "$email/example.com/info" 'second'
expect "case 11: delete it again the same day" 0 '^Apply complete' '' -- mr apply -f "$tmp/minus.yaml" --allow-delete
expect "case 11: ... two archive entries, each with its mail" 0 '^first second $' '' -- \
	sh -c "test \$(ls '$state/archive/info@example.com' | wc -l) -eq 2 && cat '$state'/archive/info@example.com/*/msg | sort | tr '\n' ' '"
sandbox base
plant "$email/example.com/info" 'info mail'
expect "case 11: the plan shows the homes moving to the new owner" 0 \
	'^  ~ info@example\.com home /var/www/alice/data/email/example\.com/info -> /var/www/bob/data/email/example\.com/info \(moved, given to bob\)$' '' -- \
	mr plan -f "$tmp/owner.yaml"
expect "case 11: apply the owner change" 0 \
	'^moved /var/www/alice/data/email/example\.com/info to /var/www/bob/data/email/example\.com/info$' '' -- \
	mr apply -f "$tmp/owner.yaml"
expect "case 11: ... the mail is in bob's tree" 0 '^info mail$' '' -- cat "$root/var/www/bob/data/email/example.com/info/msg"
expect "case 11: ... owned by bob's uid" 0 '^700 1003 644 1003$' '' -- \
	sh -c "cd '$root/var/www/bob/data/email/example.com/info' && echo \$(stat -c '%a %u' . msg)"
expect "case 11: ... nothing is left at alice's" 0 '^0$' '' -- sh -c "find '$email' -mindepth 2 | wc -l"
expect "case 11: ... the dovecot.passwd line has bob's uid and home" 0 \
	'^info@example\.com:[^:]+:1003:1003::/var/www/bob/data/email/example\.com/info:' '' -- cat "$root/etc/dovecot/dovecot.passwd"
expect "case 11: ... and a plan afterwards: No changes." 0 '^No changes\.' '' -- mr plan -f "$tmp/owner.yaml"

# ---------------------------------------------------------------------------------------------
# case 12: apply --plan pins the secrets; a failed audit-log write; children's environment
mkdir -p "$tmp/sec"
sed 's|^      keep: {password: .*}$|      keep: {password: {file: pw}}|' "$tmp/base.yaml" >"$tmp/sec/state.yaml"
sed 's|^      keep: {password: .*}$|      keep: {password: {env: MR_CONFINE_PW}, greylisting: false}|' "$tmp/base.yaml" >"$tmp/env.yaml"
for kind in file env cert; do
	sandbox base
	mkdir -p "$root/etc/ssl"
	cp "$certs/leaf.crt" "$root/etc/ssl/mail.crt"
	cp "$certs/leaf.key" "$root/etc/ssl/mail.key"
	printf 'First-Pass-1\n' >"$tmp/sec/pw"
	case $kind in
	file)
		mr plan -f "$tmp/sec" --out "$tmp/saved.plan" >/dev/null 2>&1
		printf 'Other-Pass-2\n' >"$tmp/sec/pw"
		named='password of keep@example\.com: file pw'
		;;
	env)
		MR_CONFINE_PW=First-Pass-1 mr plan -f "$tmp/env.yaml" --out "$tmp/saved.plan" >/dev/null 2>&1
		export MR_CONFINE_PW=Other-Pass-2
		named='password of keep@example\.com: env MR_CONFINE_PW'
		;;
	cert) # the same key, another certificate for it
		mr plan -f "$tmp/ssl.yaml" --out "$tmp/saved.plan" >/dev/null 2>&1
		openssl req -x509 -new -key "$certs/leaf.key" -subj /CN=www.example.com -days 400 \
			-out "$root/etc/ssl/mail.crt" 2>/dev/null
		named='certificate of example\.org: file /etc/ssl/mail\.crt'
		;;
	esac
	snap_root >"$tmp/root.before"
	expect "case 12: apply --plan after the $kind secret changed: exit 3" 3 '' \
		'refused: a secret the desired state names changed since the plan' -- mr apply --plan "$tmp/saved.plan"
	cp "$tmp/err" "$tmp/refusal" # expect writes the next command's output over $tmp/err
	expect "case 12: ... the message names the $kind secret" 0 '' '' -- \
		grep -q "a secret the desired state names changed since the plan: $named; make a new plan" "$tmp/refusal"
	unset MR_CONFINE_PW
	snap_root >"$tmp/root.after"
	expect "case 12: ... nothing changed ($kind)" 0 '' '' -- cmp -s "$tmp/root.before" "$tmp/root.after"
done
sandbox base
rm -f "$root/var/log/mailrecon.log"
mkdir "$root/var/log/mailrecon.log"
expect "case 12: the audit log cannot be written: exit 1" 1 '^Apply complete' "cannot write the audit log '[^']*/var/log/mailrecon\.log'" -- \
	mr apply -f "$tmp/grow.yaml"
rmdir "$root/var/log/mailrecon.log"
expect "case 12: ... the next run finishes the record" 0 '^No changes\.' 'writing the audit lines of revision [0-9a-f]{12}, which a previous apply could not write' -- mr apply -f "$tmp/grow.yaml"
expect "case 12: ... with the apply's audit lines, once" 0 '^1$' '' -- \
	grep -c ' mailbox hr@example\.com create$' "$root/var/log/mailrecon.log"
# a run killed while it committed leaves libgit2's lock files: the next run removes them (its
# marker says a commit was under way), but a lock file without the marker is someone else's
sandbox base
mr apply -f "$tmp/grow.yaml" >/dev/null 2>&1
repo_dir=$root/var/lib/mailrecon/repo
touch "$repo_dir/refs/heads/main.lock"
expect "case 9: a lock file in the state repository, no commit under way: exit 1" 1 '' \
	'the state repository .* is locked by another process .*main\.lock exists' -- mr apply -f "$tmp/grow.yaml"
touch "$root/var/lib/mailrecon/vcs-writing"
expect "case 9: ... after a run killed while it committed: removed, and the apply goes on" 0 '^No changes\.' \
	'removed the lock files a killed run left in the state repository: refs/heads/main\.lock' -- mr apply -f "$tmp/grow.yaml"
expect "case 9: ... the lock file and the marker are gone" 0 '' '' -- \
	test ! -e "$repo_dir/refs/heads/main.lock" -a ! -e "$root/var/lib/mailrecon/vcs-writing"
# root's own link to the state directory is followed below the root by mailrecon, but libgit2
# opens the repository by its full path and would follow it from the host's '/': refused
sandbox base
mkdir -p "$root/srv"
mv "$root/var/lib" "$root/srv/lib"
ln -s /srv/lib "$root/var/lib"
expect "case 3: /var/lib a root link in a sandbox: refused for the state repository" 1 '' \
	"the state repository '[^']*/var/lib/mailrecon/repo' is reached through the symbolic link '[^']*/var/lib', which libgit2 would follow outside --root; refused" -- \
	mr apply -f "$tmp/grow.yaml"
sandbox base
expect "case 12: a reload command runs with an {env:} secret set" 0 'reloaded postgrey' '' -- \
	env MR_CONFINE_PW=Sekrit-Env-1 MR_CONFINE_OTHER=x MAILRECON_RELOAD_POSTGREY="env >'$tmp/child.env'" \
	"$bin" --root "$root" apply -f "$tmp/env.yaml"
expect "case 12: ... the child does not get the secret" 1 '' '' -- grep -q -e MR_CONFINE_PW -e Sekrit-Env-1 "$tmp/child.env"
expect "case 12: ... only PATH HOME LANG LC_ALL LC_CTYPE TZ TMPDIR (and what sh adds)" 1 '' '' -- \
	sh -c "cut -d= -f1 '$tmp/child.env' | grep -vx -e PATH -e HOME -e LANG -e LC_ALL -e LC_CTYPE -e TZ -e TMPDIR -e PWD -e SHLVL -e OLDPWD -e _"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
