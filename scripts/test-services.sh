#!/usr/bin/env bash
# Installs (from Debian's packages) and starts what the test suite talks to.
# Idempotent: on a machine that has everything running it only checks.
set -euo pipefail
# Only the last line belongs on stdout (run-tests.sh exports it). Everything else the tools print
# (apt, pg_ctlcluster's "Removed stale pid file.", ...) goes to stderr, so it cannot break that export.
# Daemons started below get fd 3 closed, or they would hold the caller's $(...) open.
exec 3>&1 1>&2

# pebble brings pebble and pebble-challtestsrv (the TLS tests' ACME CA and fake DNS; the tests start them);
# openssl makes their throwaway certificates; chromium is the headless browser of the console tests.
packages=(postgresql openssh-server openssh-client pebble openssl chromium)
# ignition brings ignition-validate, which checks the provisioning configs the gateway renders.
packages+=(ignition)
# The agent's tests run real stacks: dockerd, docker-compose (Debian's docker CLI has no compose plugin)
# and busybox-static, from which the test image is built.
packages+=(docker.io docker-compose busybox-static)
# The linux-arm64 agent runs under qemu-user with the arm64 glibc, libstdc++ and libgcc from the cross packages.
packages+=(qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)
# git: the gateway imports software from git repositories with it; the tests serve repositories
# through its http-backend (smart HTTP) and git-shell (behind the test sshd).
packages+=(git)
# haproxy: the load balancer in front of several gateway nodes in the cluster tests (the tests start it),
# and `haproxy -c` checks deploy/haproxy.cfg; systemd-analyze (systemd) checks deploy/systemd's units.
packages+=(haproxy systemd)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  if [ ! -f /var/lib/apt/periodic/edgetainer-updated ]; then
    apt-get update -qq && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/edgetainer-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The test sshd (a device's own SSH daemon) needs its privilege separation directory.
mkdir -p /run/sshd && chmod 0755 /run/sshd

# dockerd for the agent's tests: vfs storage, no iptables and no bridge, so it also runs inside a container;
# test stacks use host networking. Detached (setsid) so it outlives this script and the test run.
if ! docker info >/dev/null 2>&1; then
  # After a reboot a pid file can outlive its dockerd; dockerd refuses to start if that pid now belongs to another process.
  if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null; then rm -f /var/run/docker.pid; fi
  setsid nohup dockerd --storage-driver=vfs --iptables=false --bridge=none >/tmp/edgetainer-dockerd.log 2>&1 </dev/null 3>&- &
  for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.3; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /tmp/edgetainer-dockerd.log" >&2; exit 1; }
fi

# PostgreSQL on loopback (its default listen address, localhost): a cluster of its own for the tests (Debian's postgresql-common), so the
# machine's own cluster keeps its settings. Throwaway data, so no durability: without fsync the
# per-test CREATE/DROP DATABASE checkpoints cost nothing, and the suite's many gateways need connections.
pg_version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
pg_version=${pg_version:-$(ls /usr/lib/postgresql | sort -n | tail -1)}
pg_name=edgetainer-test
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$pg_name"; then
  pg_createcluster "$pg_version" "$pg_name" --start-conf=auto \
    -o fsync=off -o synchronous_commit=off -o full_page_writes=off \
    -o max_connections=300 -o shared_buffers=128MB 3>&- >/dev/null
fi
read -r pg_port pg_state <<<"$(pg_lsclusters -h | awk -v n="$pg_name" '$2 == n {print $3" "$4}')"
if [ "$pg_state" != "online" ]; then pg_ctlcluster "$pg_version" "$pg_name" start 3>&-; fi
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.2; done
su postgres -c "psql -p $pg_port -q -tAc \"select 1 from pg_roles where rolname='edgetainer'\"" | grep -q 1 ||
  su postgres -c "psql -p $pg_port -q -c \"create role edgetainer login createdb password 'edgetainer'\""
# Each test drops its database WITH (FORCE). An autovacuum worker visiting it has no role of ours,
# and without pg_signal_backend the drop fails ("must be a member of the role…").
su postgres -c "psql -p $pg_port -q -c 'grant pg_signal_backend to edgetainer'" 2>/dev/null
echo "test services ready: PostgreSQL $pg_version on 127.0.0.1:$pg_port" >&2
# The one line on stdout: what the suite connects to.
echo "EDGETAINER_TEST_PG_URL=postgres://edgetainer:edgetainer@127.0.0.1:$pg_port/postgres" >&3
