#!/usr/bin/env bash
# Runs every benchmark in bench/; each prints ratios against a reference measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
benches=(bench/*/main.ts)
if [ ${#benches[@]} -eq 0 ]; then echo "no benchmarks yet"; exit 0; fi

# What the benchmarks drive, from Debian's packages (idempotent): stock sshd/ssh as the
# reference tunnel, nginx (proxy_pass with upstream keep-alive) in front of it as the hand-built
# reference, curl for bulk downloads, wrk as the keep-alive load generator.
packages=(openssh-server openssh-client nginx curl wrk)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]}"
  if [ ! -f /var/lib/apt/periodic/edgetainer-updated ]; then
    apt-get update -qq && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/edgetainer-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# sshd's privilege separation directory.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 0755 /run/sshd; fi
# The scale benchmark holds 10,000 sessions: one descriptor each in the gateway, plus the clients'.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for b in "${benches[@]}"; do echo "== $b"; npx tsx "$b"; done
