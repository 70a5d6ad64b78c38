# shellcheck shell=bash
# Image-building helpers for bot-bottle, sourced by scripts/images (and by other scripts that
# build an image, such as the sidecar's). Nothing here contacts a container registry: the base
# image comes from debootstrap and `docker import`, and every build is FROM a local image unless
# the caller passes a BASE_IMAGE that must be pulled.
#
# Functions:
#   bb_log MSG...                      "[images] MSG" on stderr
#   bb_image_exists REF                true when the engine has the image
#   bb_context_hash CONTEXT [ARGS...]  sha256 of the context's files, modes, ARGS and base image
#   bb_image_build NAME TAG CONTEXT [docker build args...]
#                                      build unless TAG carries the same bot-bottle.build-hash
#   bb_apt_source                      sets BB_APT_SUITE, BB_APT_MIRROR, BB_APT_KEYRING
#   bb_base_image_build                debootstrap + import the base image unless it exists
#   bb_sidecar_image_build TAG [docker build args...]
#                                      cargo build bb-sidecar and bb-gitgate, then
#                                      bb_image_build sidecar TAG
#   bb_fixture_image_build TAG BASE    bb_image_build fixture TAG (images/fixture, FROM BASE)
#
# Environment:
#   BB_BASE_IMAGE      tag of the base image (default bot-bottle-base:<suite> + bot-bottle-base:local)
#   BB_DEBIAN_SUITE    suite for debootstrap (default: first main suite of the host's apt sources)
#   BB_DEBIAN_MIRROR   mirror for debootstrap (default: that suite's URI in the host's apt sources)
#   BB_APT_ETC         where the apt sources live (default /etc/apt)
#   BB_IMAGES_VERBOSE  1: stream debootstrap and docker build output to stderr
#   BB_SIDECAR_BIN     a prebuilt bb-sidecar binary for the sidecar image (skips cargo)
#   BB_GITGATE_BIN     a prebuilt bb-gitgate binary for the sidecar image (default: the one
#                      beside BB_SIDECAR_BIN when there is one, else cargo builds it)

BB_BASE_LOCAL_TAG=bot-bottle-base:local

bb_log() {
	printf '[images] %s\n' "$*" >&2
}

bb_die() {
	bb_log "error: $*"
	return 1
}

# Milliseconds since the epoch (for the "built in N s" lines).
bb__now_ms() {
	local ns
	ns=$(date +%s%N)
	printf '%s\n' "$((ns / 1000000))"
}

# "12.3 s" from a start time in ms.
bb__elapsed() {
	local ms=$(($(bb__now_ms) - $1))
	printf '%d.%d s' "$((ms / 1000))" "$(((ms % 1000) / 100))"
}

bb_image_exists() {
	docker image inspect "$1" >/dev/null 2>&1
}

# DOCKER_BUILDKIT value for `docker build`: newer clients default to BuildKit and refuse to
# build without the buildx plugin, so use the classic builder when buildx is missing.
bb__buildkit() {
	if [ -z "${BB__BUILDKIT:-}" ]; then
		if docker buildx version >/dev/null 2>&1; then
			BB__BUILDKIT=${DOCKER_BUILDKIT:-1}
		else
			BB__BUILDKIT=0
		fi
	fi
	printf '%s\n' "$BB__BUILDKIT"
}

# Run a command, its output going to stderr when verbose, else to LOG (shown on failure).
bb__run_logged() {
	local log=$1
	shift
	if [ "${BB_IMAGES_VERBOSE:-0}" = 1 ]; then
		"$@" >&2
		return
	fi
	if "$@" >"$log" 2>&1; then
		return 0
	else
		local rc=$?
		bb_log "command failed (exit $rc): $*"
		tail -n 40 "$log" | sed 's/^/    /' >&2
		return "$rc"
	fi
}

# The BASE_IMAGE build argument's value, if ARGS set one.
bb__base_arg() {
	local prev="" a
	for a in "$@"; do
		case $a in
		--build-arg=BASE_IMAGE=*) printf '%s\n' "${a#--build-arg=BASE_IMAGE=}" ;;
		BASE_IMAGE=*) [ "$prev" = --build-arg ] && printf '%s\n' "${a#BASE_IMAGE=}" ;;
		esac
		prev=$a
	done
}

bb_context_hash() {
	local ctx=$1
	shift
	[ -d "$ctx" ] || {
		bb_die "no build context $ctx"
		return 1
	}
	local base
	base=$(bb__base_arg "$@" | tail -n 1)
	{
		printf 'args'
		printf ' %q' "$@"
		printf '\n'
		if [ -n "$base" ]; then
			printf 'base %s %s\n' "$base" "$(docker image inspect -f '{{.Id}}' "$base" 2>/dev/null || echo absent)"
		fi
		(
			cd "$ctx"
			find . ! -type d -print0 | LC_ALL=C sort -z | xargs -0 -r stat -L -c '%a %n'
			find . ! -type d -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
		)
	} | sha256sum | cut -c1-64
}

# bb_image_build NAME TAG CONTEXT [docker build args...]
# Builds CONTEXT as TAG with labels bot-bottle.image=NAME and bot-bottle.build-hash=<hash>,
# unless TAG already carries that hash. The image it replaces is removed when nothing else uses it.
bb_image_build() {
	local name=$1 tag=$2 ctx=$3
	shift 3
	local hash old_hash old_id start log rc=0
	hash=$(bb_context_hash "$ctx" "$@") || return 1
	old_hash=$(docker image inspect -f '{{index .Config.Labels "bot-bottle.build-hash"}}' "$tag" 2>/dev/null || true)
	if [ "$old_hash" = "$hash" ]; then
		bb_log "$name: cached ($tag)"
		return 0
	fi
	old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
	if [ -n "$old_id" ]; then
		bb_log "$name: docker build $tag (context changed)"
	else
		bb_log "$name: docker build $tag"
	fi
	start=$(bb__now_ms)
	log=$(mktemp "${TMPDIR:-/tmp}/bot-bottle-build.XXXXXX")
	DOCKER_BUILDKIT=$(bb__buildkit) bb__run_logged "$log" \
		docker build "$@" \
		--label "bot-bottle.image=$name" \
		--label "bot-bottle.build-hash=$hash" \
		-t "$tag" "$ctx" || rc=$?
	rm -f "$log"
	if [ "$rc" != 0 ]; then
		bb_log "$name: build failed"
		return "$rc"
	fi
	if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
		# Fails (and keeps it) when another tag or a container still uses the old image.
		docker image rm "$old_id" >/dev/null 2>&1 || true
	fi
	bb_log "$name: built $tag in $(bb__elapsed "$start")"
}

# Prints "SUITE<TAB>URI<TAB>KEYRING" for the first enabled `deb` entry with component main and a
# release suite (not -security, -updates, -backports, ...) in one apt sources file.
bb__apt_source_in_file() {
	local file=$1 format=list
	case $file in *.sources) format=deb822 ;; esac
	awk -v format="$format" '
		function good_suite(s) {
			return s != "" && s !~ /\/$/ && s !~ /\/updates$/ && \
				s !~ /-(security|updates|proposed-updates|backports|backports-sloppy|proposed)$/
		}
		function good_uri(u) { return u ~ /^(https?|file|ftp):/ }
		function has_word(list, w,   n, a, i) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == w) return 1
			return 0
		}
		function emit(suites, uris, key,   ns, nu, s, u, i, j) {
			nu = split(uris, u, /[ \t]+/); ns = split(suites, s, /[ \t]+/)
			for (i = 1; i <= nu; i++) {
				if (!good_uri(u[i])) continue
				for (j = 1; j <= ns; j++) {
					if (!good_suite(s[j])) continue
					if (key !~ /^\//) key = ""
					printf "%s\t%s\t%s\n", s[j], u[i], key
					found = 1
					exit 0
				}
			}
		}
		function reset() { split("", f); last = "" }
		function flush() {
			if (found || !("uris" in f)) return
			if (tolower(f["enabled"]) == "no") return
			if (!has_word(f["types"], "deb") || !has_word(f["components"], "main")) return
			emit(f["suites"], f["uris"], f["signed-by"])
		}
		BEGIN { reset() }
		format == "deb822" && /^#/ { next }
		format == "deb822" && /^[ \t]*$/ { flush(); reset(); next }
		format == "deb822" && /^[ \t]/ {
			# Continuation line: a multi-line field (an inline Signed-By key is not a path).
			if (last == "signed-by") f["signed-by"] = ""
			next
		}
		format == "deb822" {
			i = index($0, ":"); if (i == 0) next
			k = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", v)
			f[k] = v; last = k
			next
		}
		format == "list" {
			sub(/#.*/, "")
			n = split($0, t, /[ \t]+/); i = 1
			if (t[1] == "") i = 2
			if (t[i] != "deb") next
			i++; key = ""
			if (substr(t[i], 1, 1) == "[") {
				opts = ""
				while (i <= n) { opts = opts " " t[i]; if (t[i] ~ /\]$/) break; i++ }
				i++
				if (match(opts, /signed-by=[^ \]]+/)) key = substr(opts, RSTART + 10, RLENGTH - 10)
			}
			uri = t[i]; suite = t[i + 1]; comps = ""
			for (j = i + 2; j <= n; j++) comps = comps " " t[j]
			if (has_word(comps, "main")) emit(suite, uri, key)
		}
		END { if (format == "deb822") flush() }
	' "$file"
}

# Sets BB_APT_SUITE, BB_APT_MIRROR and BB_APT_KEYRING (may be empty) from BB_DEBIAN_SUITE /
# BB_DEBIAN_MIRROR or the host's apt sources, read in apt's order.
bb_apt_source() {
	local etc=${BB_APT_ETC:-/etc/apt} file found="" suite="" uri="" key=""
	local files=("$etc/sources.list")
	local f
	for f in "$etc"/sources.list.d/*; do
		case $f in *.list | *.sources) files+=("$f") ;; esac
	done
	for file in "${files[@]}"; do
		[ -r "$file" ] || continue
		found=$(bb__apt_source_in_file "$file")
		[ -n "$found" ] && break
	done
	if [ -n "$found" ]; then
		IFS=$'\t' read -r suite uri key <<<"$found"
	fi
	BB_APT_SUITE=${BB_DEBIAN_SUITE:-$suite}
	BB_APT_MIRROR=${BB_DEBIAN_MIRROR:-$uri}
	BB_APT_KEYRING=$key
	if [ -n "${BB_DEBIAN_MIRROR:-}" ] || [ -n "${BB_DEBIAN_SUITE:-}" ]; then
		BB_APT_KEYRING=""
	fi
	if [ -z "$BB_APT_SUITE" ] || [ -z "$BB_APT_MIRROR" ]; then
		bb_die "no Debian suite/mirror found in $etc/sources.list{,.d/*}; set BB_DEBIAN_SUITE and BB_DEBIAN_MIRROR"
		return 1
	fi
}

bb__ensure_debootstrap() {
	command -v debootstrap >/dev/null 2>&1 && return 0
	if [ "$(id -u)" != 0 ]; then
		bb_die "debootstrap is missing (apt-get install debootstrap, as root)"
		return 1
	fi
	command -v apt-get >/dev/null 2>&1 || {
		bb_die "debootstrap is missing and there is no apt-get to install it"
		return 1
	}
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/bot-bottle-apt.XXXXXX")
	bb_log "base: apt-get install debootstrap"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >"$log" 2>&1; then
		bb_log "base: apt-get update"
		if ! bb__run_logged "$log" apt-get update ||
			! DEBIAN_FRONTEND=noninteractive bb__run_logged "$log" \
				apt-get install -y --no-install-recommends debootstrap; then
			rm -f "$log"
			bb_die "could not install debootstrap"
			return 1
		fi
	fi
	rm -f "$log"
}

# Unmount whatever is still mounted under DIR (a failed debootstrap can leave proc, sys or a
# bind-mounted /dev behind), deepest first, then delete DIR without crossing file systems.
bb__rootfs_umount() {
	local dir m
	dir=$(realpath "$1")
	awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts |
		sort -r | while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
}

bb__rootfs_remove() {
	local dir=$1
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	bb__rootfs_umount "$dir"
	rm -rf --one-file-system "$dir"
}

# Strip what must not be shared by every container (ssh host keys, the host's resolver and name)
# and what only takes space (apt lists and caches, logs, device nodes Docker provides anyway).
bb__rootfs_clean() {
	local r=$1
	rm -f "$r"/etc/ssh/ssh_host_*
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
		"$r"/var/cache/apt/archives/partial/* "$r"/var/cache/debconf/*-old \
		"$r"/var/log/apt/* "$r"/var/log/dpkg.log "$r"/var/log/bootstrap.log "$r"/var/log/alternatives.log \
		"$r"/tmp/* "$r"/var/tmp/* "$r"/root/.cache
	mkdir -p "$r"/var/lib/apt/lists/partial
	rm -rf --one-file-system "${r:?}"/dev
	mkdir -p "$r"/dev "$r"/proc "$r"/sys
	: >"$r"/etc/resolv.conf
	printf 'localhost\n' >"$r"/etc/hostname
	rm -f "$r"/etc/machine-id "$r"/var/lib/dbus/machine-id
}

BB_BASE_PACKAGES=ca-certificates,curl,git,openssh-client,openssh-server,dnsutils,netcat-openbsd,procps,iproute2,tini

# Builds the base image with debootstrap (suite and mirror from the host's apt sources) and
# `docker import`, tagged bot-bottle-base:<suite> and bot-bottle-base:local, or $BB_BASE_IMAGE.
# Does nothing when the image exists. Runs in a subshell so its EXIT trap stays its own.
bb_base_image_build() (
	set -euo pipefail
	tag=${BB_BASE_IMAGE:-}
	if [ -n "$tag" ] && bb_image_exists "$tag"; then
		bb_log "base: cached ($tag)"
		exit 0
	fi
	bb_apt_source
	suite=$BB_APT_SUITE
	alias=""
	if [ -z "$tag" ]; then
		tag=bot-bottle-base:$suite
		alias=$BB_BASE_LOCAL_TAG
	fi
	if bb_image_exists "$tag"; then
		if [ -n "$alias" ] && [ "$(docker image inspect -f '{{.Id}}' "$alias" 2>/dev/null || true)" != \
			"$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
			docker tag "$tag" "$alias"
			bb_log "base: cached ($tag, tagged $alias)"
		else
			bb_log "base: cached ($tag)"
		fi
		exit 0
	fi
	if [ "$(id -u)" != 0 ]; then
		bb_die "building the base image needs root (debootstrap)"
	fi
	bb__ensure_debootstrap

	root=""
	log=""
	trap 'bb__rootfs_remove "$root"; rm -f "$log"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# Not /tmp: it may be mounted nodev/noexec, which breaks debootstrap.
	root=$(mktemp -d "${BB_ROOTFS_TMPDIR:-/var/tmp}/bot-bottle-rootfs.XXXXXX")
	log=$(mktemp "${TMPDIR:-/tmp}/bot-bottle-debootstrap.XXXXXX")
	chmod 0755 "$root"
	keyring=()
	if [ -n "$BB_APT_KEYRING" ] && [ -r "$BB_APT_KEYRING" ]; then
		keyring=("--keyring=$BB_APT_KEYRING")
	fi

	start=$(bb__now_ms)
	bb_log "base: debootstrap $suite from $BB_APT_MIRROR (this takes ~70 s)"
	bb__run_logged "$log" debootstrap --variant=minbase "${keyring[@]}" \
		--include="$BB_BASE_PACKAGES" "$suite" "$root" "$BB_APT_MIRROR"
	# debootstrap unmounts what it mounted on success; make sure before tar reads the tree.
	bb__rootfs_umount "$root"

	bb_log "base: clean rootfs (ssh host keys, apt lists and caches)"
	bb__rootfs_clean "$root"

	bb_log "base: docker import $tag"
	tar --numeric-owner -C "$root" -c . |
		docker import \
			--change 'CMD ["/bin/bash"]' \
			--change 'LABEL bot-bottle.image=base' \
			--change "LABEL bot-bottle.suite=$suite" \
			- "$tag" >/dev/null
	if [ -n "$alias" ]; then
		docker tag "$tag" "$alias"
	fi
	bb_log "base: built $tag${alias:+ and $alias} in $(bb__elapsed "$start")"
)

# bb_sidecar_image_build TAG [docker build args...]
# Builds bb-sidecar and bb-gitgate (one `cargo build --release`, or $BB_SIDECAR_BIN and
# $BB_GITGATE_BIN / the bb-gitgate beside $BB_SIDECAR_BIN) and the image images/sidecar from a
# temporary context holding the binaries and the Dockerfile; the content hash then rebuilds the
# image only when a binary changes. Runs in a subshell so its EXIT trap stays its own.
bb_sidecar_image_build() (
	set -euo pipefail
	tag=$1
	shift
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	bin=${BB_SIDECAR_BIN:-}
	gate=${BB_GITGATE_BIN:-}
	if [ -z "$gate" ] && [ -n "$bin" ] && [ -x "$(dirname "$bin")/bb-gitgate" ]; then
		gate=$(dirname "$bin")/bb-gitgate
	fi
	log=""
	ctx=""
	trap 'rm -rf "$ctx"; rm -f "$log"' EXIT
	packages=()
	[ -n "$bin" ] || packages+=(-p bb-sidecar)
	[ -n "$gate" ] || packages+=(-p bb-gitgate)
	if [ ${#packages[@]} -gt 0 ]; then
		command -v cargo >/dev/null 2>&1 || bb_die "cargo is missing (or set BB_SIDECAR_BIN and BB_GITGATE_BIN to built binaries)"
		start=$(bb__now_ms)
		bb_log "sidecar: cargo build --release ${packages[*]}"
		log=$(mktemp "${TMPDIR:-/tmp}/bot-bottle-cargo.XXXXXX")
		(cd "$root" && bb__run_logged "$log" cargo build --release "${packages[@]}" --quiet)
		target=${CARGO_TARGET_DIR:-$root/target}/release
		bin=${bin:-$target/bb-sidecar}
		gate=${gate:-$target/bb-gitgate}
		bb_log "sidecar: binaries ready in $(bb__elapsed "$start")"
	fi
	[ -x "$bin" ] || bb_die "no bb-sidecar binary at $bin"
	[ -x "$gate" ] || bb_die "no bb-gitgate binary at $gate"
	ctx=$(mktemp -d "${TMPDIR:-/tmp}/bot-bottle-sidecar.XXXXXX")
	cp "$bin" "$ctx/bb-sidecar"
	cp "$gate" "$ctx/bb-gitgate"
	chmod 0755 "$ctx/bb-sidecar" "$ctx/bb-gitgate"
	cp "$root/images/sidecar/Dockerfile" "$ctx/Dockerfile"
	bb_image_build sidecar "$tag" "$ctx" "$@"
)

# bb_fixture_image_build TAG BASE_IMAGE
# The egress-conformance upstream (images/fixture): Debian's python3 and upstream.py, FROM
# BASE_IMAGE (pulled first when the engine lacks it). Its RUN step installs python3 with apt
# from the base's own sources, so this build has network (no --network=none).
bb_fixture_image_build() {
	local tag=$1 base=$2 root
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	if ! bb_image_exists "$base"; then
		docker pull --quiet "$base" >/dev/null || {
			bb_die "fixture: cannot pull $base"
			return 1
		}
	fi
	bb_image_build fixture "$tag" "$root/images/fixture" --build-arg "BASE_IMAGE=$base"
}
