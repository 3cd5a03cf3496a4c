#!/usr/bin/env node
// Bundles the agent's entry (TypeScript, ESM) into one CommonJS file that a Node
// single-executable application can run: Node 20's SEA main script must be CommonJS
// and its `require` loads only built-in modules, so every dependency goes into the file.
//
// usage: node scripts/bundle-agent.mjs <entry.ts> <out.cjs>
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const [entry, outfile] = process.argv.slice(2)
if (!entry || !outfile) {
  process.stderr.write('usage: node scripts/bundle-agent.mjs <entry.ts> <out.cjs>\n')
  process.exit(2)
}
// AGENT_VERSION builds the same source under another version (tests make an "A" and a "B" this way).
const version = process.env.AGENT_VERSION || JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version
if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(version)) {
  process.stderr.write(`bundle-agent: version ${version} is not MAJOR.MINOR.PATCH\n`)
  process.exit(2)
}

/**
 * Native addons cannot live inside the executable. ssh2 loads two optionally
 * (`cpu-features` and its own `sshcrypto.node`), ws two more (`bufferutil`,
 * `utf-8-validate`), pg one (`pg-native`); each sits in a try/catch with a
 * pure-JavaScript fallback, so they become modules that throw on load. Left as
 * plain requires, the executable's built-ins-only require would warn at run time.
 */
const nativeStubs = {
  name: 'native-stubs',
  setup(b) {
    b.onResolve({ filter: /^(cpu-features|bufferutil|utf-8-validate|pg-native)$|\.node$/ }, (args) => ({ path: args.path, namespace: 'native-stub' }))
    b.onLoad({ filter: /.*/, namespace: 'native-stub' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`native module ${args.path} is not part of the single executable`)})`,
      loader: 'js',
    }))
  },
}

/** server/version.ts reads package.json next to itself, which the executable does not carry: inline the version. */
const inlineVersion = {
  name: 'inline-version',
  setup(b) {
    b.onLoad({ filter: /[\\/]server[\\/]version\.ts$/ }, () => ({
      contents: `export function packageVersion() { return ${JSON.stringify(version)} }`,
      loader: 'ts',
    }))
  },
}

const result = await build({
  entryPoints: [path.resolve(root, entry)],
  outfile: path.resolve(root, outfile),
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // ESM code asks for import.meta.url; in CommonJS the same answer comes from __filename.
  define: { 'import.meta.url': '__edgetainer_import_meta_url' },
  banner: { js: 'var __edgetainer_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [nativeStubs, inlineVersion],
  legalComments: 'none',
  // Reproducible: no absolute paths in comments, same bytes from the same inputs.
  sourcemap: false,
  charset: 'utf8',
  logLevel: 'warning',
  metafile: true,
})
// The source files that went in, one per line: what decides whether a build is stale (test/lib/agent-build.ts).
const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes(':')).sort()
writeFileSync(`${path.resolve(root, outfile)}.inputs`, inputs.join('\n') + '\n')
writeFileSync(`${path.resolve(root, outfile)}.version`, `${version}\n`)
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0)
process.stderr.write(`bundled ${entry} → ${outfile} (${(bytes / 1024).toFixed(0)} KiB)\n`)
