#!/usr/bin/env bash
# Installs the Debian 12 packages that riglm needs to build and test. Safe to run again.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev          # libFuzzer target and sanitizer builds
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libutf8proc-dev
  libcurl4-openssl-dev              # HTTP(S) model sources (range requests)
  libcpp-httplib-dev libssl-dev     # HTTP server (riglm serve, test servers)
  python3-jinja2                    # reference renderer for the chat-template tests
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
