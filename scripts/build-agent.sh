#!/usr/bin/env bash
# Builds the device agent as one self-contained linux-x64 executable (a Node
# single-executable application): Flatcar ships no Node.js, so the runtime goes
# inside. Output: dist/agent/edgetainer-agent-linux-x64 and its .sha512, which the
# gateway serves to devices during Ignition.
#
#   scripts/build-agent.sh            # bundles cli/agent-executable.ts (the agent command only)
#   AGENT_ENTRY=cli/edgetainer.ts scripts/build-agent.sh
set -euo pipefail
cd "$(dirname "$0")/.."

entry=${AGENT_ENTRY:-cli/agent-executable.ts}
out_dir=${AGENT_OUT_DIR:-dist/agent}
name=edgetainer-agent-linux-x64
# The fuse postject flips so the node binary looks for its injected blob; it is fixed in Node's sources.
fuse=NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "build-agent: the executable is built from this machine's node, which must be linux x86_64" >&2
  exit 1
fi
if [ ! -f "$entry" ]; then
  echo "build-agent: entry $entry does not exist" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

node scripts/bundle-agent.mjs "$entry" "$work/agent.cjs"

cat >"$work/sea-config.json" <<EOF
{
  "main": "$work/agent.cjs",
  "output": "$work/sea-prep.blob",
  "disableExperimentalSEAWarning": true
}
EOF
node --experimental-sea-config "$work/sea-config.json"

# The running node is the runtime that goes into the executable; resolve symlinks so we copy the file itself.
node_bin=$(node -p 'require("fs").realpathSync(process.execPath)')
cp "$node_bin" "$work/$name"
chmod u+w "$work/$name"
# postject's ELF library warns about note sections it does not touch; those lines are noise.
npx --no-install postject "$work/$name" NODE_SEA_BLOB "$work/sea-prep.blob" --sentinel-fuse "$fuse" \
  >/dev/null 2> >(grep -v "Can't find string offset\|Unknown user config" >&2 || true)
chmod 0755 "$work/$name"

(cd "$work" && sha512sum "$name" | cut -d' ' -f1 >"$name.sha512")

# Rename into place (same file system) so the gateway never serves a half-written file:
# the executable first, then the hash that describes it.
mkdir -p "$out_dir"
cp "$work/$name" "$out_dir/.$name.tmp"
cp "$work/$name.sha512" "$out_dir/.$name.sha512.tmp"
cp "$work/agent.cjs.inputs" "$out_dir/.$name.inputs.tmp"
mv -f "$out_dir/.$name.tmp" "$out_dir/$name"
mv -f "$out_dir/.$name.sha512.tmp" "$out_dir/$name.sha512"
# The sources it was built from (relative to the repository), for tools that check whether it is stale.
mv -f "$out_dir/.$name.inputs.tmp" "$out_dir/$name.inputs"

size=$(stat -c %s "$out_dir/$name")
echo "built $out_dir/$name ($((size / 1024 / 1024)) MiB, sha512 $(cut -c1-16 "$out_dir/$name.sha512")…)" >&2
