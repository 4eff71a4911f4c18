#!/usr/bin/env bash
# Install the system packages the test tiers need (Debian 12, as root). Idempotent:
# installs only what is missing, and runs `apt-get update` only when it must.
# Not root, or no apt: prints what is missing and leaves it to the tiers to skip
# (or to fail, under LVSKIT_REQUIRE_ALL=1).
set -euo pipefail

# Per tier, as the tiers come to need them:
#   lab:    iproute2 iputils-ping
#   kernel: qemu-system-x86 cpio busybox-static ipvsadm kmod (the kernel image itself is
#           fetched with `apt-get download` into .cache/kernel by scripts/kernel-image.mjs)
packages=(iproute2 iputils-ping qemu-system-x86 cpio busybox-static ipvsadm kmod)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all system packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: missing packages (install as root): ${missing[*]}" >&2
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
