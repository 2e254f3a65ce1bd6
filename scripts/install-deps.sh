#!/usr/bin/env bash
# Installs every Debian 12 package netpol needs to build, test and run the demo.
# Idempotent; skips apt entirely when everything is already present.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev libnl-nf-3-dev
  libcpprest-dev libre2-dev libssl-dev libboost-dev openssl
  nftables iproute2 conntrack python3 procps
  containernetworking-plugins
  chromium
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# kubectl for the API client's proof tests: any kubectl will do (an image may
# ship the upstream "kubectl" package, which conflicts with Debian's
# kubernetes-client); install Debian's only when none is present.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-deps: installing kubernetes-client (kubectl)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends kubernetes-client
fi
