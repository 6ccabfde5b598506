#!/usr/bin/env bash
# Installs what the demo and the tests need on a fresh Debian machine: the real containerd,
# CNCF registry, skopeo and htpasswd from Debian, and the npm dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(containerd docker-registry skopeo apache2-utils openssl tar systemd busybox-static)
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
