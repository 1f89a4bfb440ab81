#!/usr/bin/env bash
# Builds the guest lab's Debian 12 image from Debian's packages, with the
# workloads' packages preinstalled because a lab guest has no network beyond
# this machine. Usage: image.sh OUTDIR PACKAGE...
# Writes OUTDIR/root.qcow2 (ext4, label virtwork-root, booted by label: an
# added virtio disk may take /dev/vda), OUTDIR/vmlinuz and OUTDIR/initrd.img.
# Needs root (mmdebstrap --mode=root, mkfs.ext4 -d keeping owners).
set -euo pipefail
out=$1
shift
mkdir -p "$out"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

base=(systemd-sysv udev cloud-init linux-image-cloud-amd64 qemu-guest-agent
  ifupdown iproute2 procps e2fsprogs util-linux)
pkgs=$(printf '%s,' "${base[@]}" "$@")

# Hooks run after every package is installed:
# - apt sources emptied: cloud-init's packages: always runs apt-get update,
#   which is then instant and never reaches for the network;
# - cloud-init told to read only the NoCloud seed (probing cloud metadata
#   services would wait for a network that is not there), to keep the apt
#   sources as they are and to skip the locale module (no locales package);
# - root mounted by label; a fresh machine-id per boot.
mmdebstrap --variant=apt --mode=root --include="${pkgs%,}" \
  --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*; : > "$1"/etc/apt/sources.list' \
  --customize-hook='printf "%s\n" "datasource_list: [NoCloud, None]" "locale: false" "apt:" "  preserve_sources_list: true" > "$1"/etc/cloud/cloud.cfg.d/90-virtwork-guestlab.cfg' \
  --customize-hook='echo "LABEL=virtwork-root / ext4 defaults 0 1" > "$1"/etc/fstab' \
  --customize-hook=': > "$1"/etc/machine-id; rm -f "$1"/var/lib/dbus/machine-id' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  bookworm "$work/root" http://deb.debian.org/debian

cp -L "$work/root/vmlinuz" "$work/vmlinuz"
cp -L "$work/root/initrd.img" "$work/initrd.img"
truncate -s 4G "$work/root.raw"
mkfs.ext4 -q -L virtwork-root -d "$work/root" "$work/root.raw"
qemu-img convert -O qcow2 "$work/root.raw" "$work/root.qcow2"
mv "$work/vmlinuz" "$work/initrd.img" "$work/root.qcow2" "$out/"
