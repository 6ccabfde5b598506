#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine: the real containerd,
# CNCF registry, skopeo and htpasswd from Debian, what builds and runs the arm64 executable here,
# and the npm dependencies (among them the pinned Node.js that runs the tests). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# binutils: strip for the executables; the arm64 ones build the arm64 executable and run it here under qemu.
packages=(containerd docker-registry skopeo apache2-utils openssl tar systemd busybox-static binutils
  binutils-aarch64-linux-gnu qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libatomic1-arm64-cross
  libgcc-s1-arm64-cross)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  # The packages' own services are not needed: tests start their own instances in temp dirs.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund
fi
