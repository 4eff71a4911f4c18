#!/usr/bin/env bash
# Install the system packages the test tiers need (Debian 12, as root). Idempotent:
# installs only what is missing, and runs `apt-get update` only when it must.
# Not root, or no apt: prints what is missing and leaves it to the tiers to skip
# (or to fail, under LVSKIT_REQUIRE_ALL=1).
set -euo pipefail

# Per tier, as the tiers come to need them:
#   loopback: openssl (test certificates), iproute2 (ss)
#   lab:    iproute2 iputils-ping keepalived (VRRP interop); bird2 gobgpd frr (BGP interop);
#           exabgp (BGP send benchmark anchor, harmless to have); tcpdump (VRRP adverts on the wire)
#   loopback: haproxy is the monitors benchmark anchor; etcd-server etcd-client (director config)
#   kernel: qemu-system-x86 busybox-static ipvsadm (the kernel image itself is fetched with
#           `apt-get download` into .cache/kernel by test/kernel/harness/image.mjs, never installed)
#   base tools they use: tar, dpkg, apt, util-linux (setpriv), libc-bin (ldd)
packages=(openssl iproute2 iputils-ping tcpdump keepalived bird2 gobgpd frr exabgp haproxy etcd-server etcd-client
          qemu-system-x86 busybox-static ipvsadm tar util-linux)

# The kernel tier picks its kernel package from apt's lists: make sure they exist.
have_lists() { compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && have_lists; then
  echo "setup: all system packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "setup: missing (install as root): ${missing[*]:-} $(have_lists || echo 'apt lists (apt-get update)')" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
