#!/usr/bin/env bash
# Build the repository's Dockerfile, unchanged, on a machine that cannot pull base images.
#
# For a Debian bookworm machine (or VM) where you are root, Debian's package mirror and
# crates.io are reachable, no image registry is, and no Docker engine runs. The script:
#
#   1. makes the Dockerfile's two base images from Debian packages, with debootstrap, and
#      stores them under the exact names its FROM lines use:
#        docker.io/library/debian:bookworm-slim   debootstrap --variant=minbase bookworm,
#            slimmed as the official image is (dpkg path-excludes for docs, man pages and
#            locales; apt's docker-clean and no-languages settings; deb822 sources for
#            bookworm, bookworm-updates and bookworm-security, with their updates applied)
#        docker.io/library/rust:1.95-slim-bookworm   the same plus ca-certificates, gcc and
#            libc6-dev, and this machine's own Rust toolchain (`rustc --print sysroot`:
#            rustc, cargo, rustdoc, the std library; no docs) in
#            /usr/local/rustup/toolchains/<version>-x86_64-unknown-linux-gnu, linked from
#            /usr/local/cargo/bin, with the official image's RUSTUP_HOME, CARGO_HOME and PATH
#            (CARGO_HOME=/usr/local/cargo is what the Dockerfile's registry cache mount needs),
#            and this machine's local CAs (EXTRA_CA_DIR, default /usr/local/share/ca-certificates)
#            so that cargo in the build stage gets through a TLS-inspecting egress proxy
#   2. runs `buildah bud --isolation chroot --format docker --pull=never --layers
#      -t offerd:local .`
#      (chroot isolation: no user namespace or network namespace needed; the build's RUN
#      steps use the host's network, for crates.io and Debian's mirror).
#
# Everything it makes (root filesystems, buildah's storage and cache mounts, logs) goes
# under $SCRATCH (default /work/scratch/image), never into the repository. Its storage.conf
# there is the one to pass to any later buildah or podman command:
#   CONTAINERS_STORAGE_CONF=$SCRATCH/storage.conf buildah images
#
# Usage (from anywhere):
#   deploy/image/build-local.sh              # both base images if missing, then offerd:local
#   REBUILD_BASE=1 deploy/image/build-local.sh   # remake the base images too
#   STORAGE_DRIVER=vfs deploy/image/build-local.sh   # if overlay mounts fail (default overlay)
#   TAG=offerd:dev deploy/image/build-local.sh
#   SNAPSHOT=1 deploy/image/build-local.sh   # build HEAD (git archive) + the work tree's
#                                            # Dockerfile, leaving uncommitted source edits out
#
# It needs: buildah, debootstrap (installed with apt-get if missing) and a rustc/cargo of
# the version in the rust FROM line (it checks). Everything heavy runs under
# `nice -n 19 ionice -c3`. It takes 1-2 minutes for the base images and as long as a cold
# `cargo build --release` for offerd (about 5-6 minutes on 2 cores with the fat-LTO release
# profile); later builds reuse the cargo cache mounts. Not part of CI: too slow.
# deploy/image/check-local.sh then runs the image and checks it.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRATCH=${SCRATCH:-/work/scratch/image}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
STORAGE_DRIVER=${STORAGE_DRIVER:-overlay}
TAG=${TAG:-offerd:local}
REBUILD_BASE=${REBUILD_BASE:-0}
SNAPSHOT=${SNAPSHOT:-0}
EXTRA_CA_DIR=${EXTRA_CA_DIR-/usr/local/share/ca-certificates}
SLIM_TAG=docker.io/library/debian:bookworm-slim
NICE=(nice -n 19 ionice -c3)
CHROOT=(env -u TMPDIR chroot)   # TMPDIR (set below, for buildah) names a host folder

log() { printf '[build-local] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and buildah mount need it)"
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  log "installing buildah and debootstrap"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${NICE[@]}" apt-get install -y -q buildah debootstrap
fi

# The rust FROM line names the toolchain version (rust:1.95-slim-bookworm): the host's
# rustc must match it, or the image would not be what its name says.
RUST_TAG=$(sed -n 's/^FROM \(rust:[^ ]*\).*/\1/p' "$REPO/Dockerfile" | head -n1)
[ -n "$RUST_TAG" ] || die "no 'FROM rust:...' line in $REPO/Dockerfile"
want=${RUST_TAG#rust:}; want=${want%%-*}
SYSROOT=$(rustc --print sysroot)
RUST_VERSION=$(rustc --version | awk '{print $2}')
case "$RUST_VERSION" in
  "$want" | "$want".*) ;;
  *) die "the Dockerfile wants Rust $want ($RUST_TAG); this machine's rustc is $RUST_VERSION" ;;
esac
HOST_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
RUST_TAG=docker.io/library/$RUST_TAG

mkdir -p "$SCRATCH"
export CONTAINERS_STORAGE_CONF=$SCRATCH/storage.conf
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "$STORAGE_DRIVER"
graphroot = "$SCRATCH/storage"
runroot = "$SCRATCH/run"
EOF
export BUILDAH_ISOLATION=chroot
# buildah keeps RUN --mount=type=cache directories (the cargo registry and target dir)
# under $TMPDIR/buildah-cache: here, not /var/tmp.
export TMPDIR=$SCRATCH/tmp
mkdir -p "$TMPDIR"

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# debootstrap into $SCRATCH/rootfs-NAME (kept between runs: remade only with REBUILD_BASE=1).
bootstrap() {
  local name=$1 include=$2 dir=$SCRATCH/rootfs-$1
  if [ -f "$dir/.complete" ] && [ "$REBUILD_BASE" != 1 ]; then return; fi
  rm -rf "$dir"
  log "debootstrap $name (log: $SCRATCH/debootstrap-$name.log)"
  "${NICE[@]}" debootstrap --variant=minbase ${include:+--include=$include} \
    bookworm "$dir" "$MIRROR" >"$SCRATCH/debootstrap-$name.log" 2>&1 \
    || die "debootstrap $name failed: see $SCRATCH/debootstrap-$name.log"
  slimify "$dir"
  touch "$dir/.complete"
}

# What the official -slim images do: keep docs, man pages and locales out (now and for
# later apt-get installs), clean apt's caches, deb822 sources with the security suite.
slimify() {
  local dir=$1
  cat >"$dir/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$dir/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$dir/etc/apt/apt.conf.d/docker-autoremove-suggests"
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # debootstrap takes bookworm's point release only: bring in bookworm-updates and
  # bookworm-security as the official image (rebuilt on each update) has them.
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  "${NICE[@]}" "${CHROOT[@]}" "$dir" apt-get -q update >/dev/null
  DEBIAN_FRONTEND=noninteractive "${NICE[@]}" "${CHROOT[@]}" "$dir" apt-get -q -y upgrade \
    >"$SCRATCH/upgrade-${dir##*/rootfs-}.log" 2>&1 \
    || die "apt-get upgrade in $dir failed: see $SCRATCH/upgrade-${dir##*/rootfs-}.log"
  find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$dir/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$dir"/usr/share/{groff,info,linda,man}/* "$dir"/usr/share/lintian/overrides/*
  find "$dir/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/*
  rm -rf "$dir"/var/log/{apt,dpkg.log,bootstrap.log,alternatives.log} "$dir"/var/cache/ldconfig/aux-cache
  : >"$dir/etc/hostname"; rm -f "$dir/etc/resolv.conf"
}

# A root filesystem folder -> an image: a container from scratch, the folder copied into
# its mount as it is (owners, modes, links), the image config set, committed in docker format.
commit_rootfs() {
  local dir=$1 tag=$2; shift 2
  local ctr mnt
  ctr=$(buildah from --name "base-$RANDOM" scratch)
  mnt=$(buildah mount "$ctr")
  "${NICE[@]}" tar -C "$dir" --exclude=./.complete --numeric-owner -cf - . \
    | "${NICE[@]}" tar -C "$mnt" --numeric-owner -xpf -
  buildah umount "$ctr" >/dev/null
  buildah config --os linux --arch amd64 "$@" "$ctr"
  "${NICE[@]}" buildah commit --quiet --format docker --rm "$ctr" "$tag" >/dev/null
  log "made $tag ($(buildah inspect --type image --format '{{.FromImageID}}' "$tag" | cut -c1-12))"
}

if [ "$REBUILD_BASE" = 1 ] || ! have_image "$SLIM_TAG"; then
  bootstrap slim ""
  commit_rootfs "$SCRATCH/rootfs-slim" "$SLIM_TAG" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["bash"]'
fi

if [ "$REBUILD_BASE" = 1 ] || ! have_image "$RUST_TAG"; then
  bootstrap rust "ca-certificates,gcc,libc6-dev"
  dir=$SCRATCH/rootfs-rust
  tc=/usr/local/rustup/toolchains/$RUST_VERSION-$HOST_TRIPLE
  rm -rf "$dir/usr/local/rustup" "$dir/usr/local/cargo"
  mkdir -p "$dir$tc/bin" "$dir/usr/local/cargo/bin"
  log "copying the Rust $RUST_VERSION toolchain from $SYSROOT (no docs)"
  cp -a "$SYSROOT"/bin/{rustc,cargo,rustdoc} "$dir$tc/bin/"
  "${NICE[@]}" cp -a "$SYSROOT/lib" "$dir$tc/"
  for b in rustc cargo rustdoc; do ln -s "../../rustup/toolchains/${tc##*/}/bin/$b" "$dir/usr/local/cargo/bin/$b"; done
  chmod -R a+w "$dir/usr/local/rustup" "$dir/usr/local/cargo"   # as the official image
  # The build stage's cargo fetches crates.io over TLS: behind a TLS-inspecting egress
  # proxy it must trust what this machine trusts, so this machine's local CAs
  # ($EXTRA_CA_DIR/*.crt) go into this base image's store. Only the build stage has them:
  # the final image installs Debian's ca-certificates itself. EXTRA_CA_DIR= to skip.
  if [ -n "$EXTRA_CA_DIR" ] && compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
    log "adding this machine's local CAs ($EXTRA_CA_DIR) to the rust image's trust store"
    cp "$EXTRA_CA_DIR"/*.crt "$dir/usr/local/share/ca-certificates/"
    "${CHROOT[@]}" "$dir" update-ca-certificates >/dev/null
  fi
  commit_rootfs "$dir" "$RUST_TAG" \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$RUST_VERSION" --cmd '["bash"]'
fi

CONTEXT=$REPO
if [ "$SNAPSHOT" = 1 ]; then
  # The committed tree (git archive HEAD) with the work tree's Dockerfile and .dockerignore:
  # uncommitted edits to the sources stay out of the image.
  CONTEXT=$SCRATCH/context
  rm -rf "$CONTEXT"; mkdir -p "$CONTEXT"
  git -C "$REPO" archive HEAD | tar -C "$CONTEXT" -xf -
  cp "$REPO/Dockerfile" "$REPO/.dockerignore" "$CONTEXT/"
  log "context: HEAD $(git -C "$REPO" rev-parse --short HEAD) + the work tree's Dockerfile"
fi
log "buildah bud $TAG from $CONTEXT (log: $SCRATCH/bud.log)"
"${NICE[@]}" buildah bud --isolation chroot --format docker --pull=never --layers \
  -f "$CONTEXT/Dockerfile" -t "$TAG" "$CONTEXT" 2>&1 | tee "$SCRATCH/bud.log"
buildah images
