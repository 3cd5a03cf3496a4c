#!/usr/bin/env node
// Bundles Node entry points with esbuild, so a process loads a few files instead of hundreds of modules.
// Measured on Node 20: importing the gateway's compiled modules cost 1.23 CPU-s (resolving, reading and
// linking hundreds of ES and CommonJS modules one by one), the same code bundled 0.47 s. Every command, every
// gateway start and every test process pays that once.
//
//   node scripts/bundle.mjs cli     bin/edgetainer's commands → dist/cli/bundle/
//   node scripts/bundle.mjs tests   every test file (and what the tests start) → dist/test/, with source maps
//   node scripts/bundle.mjs bench   the server modules bench/tunnel's gateway runs → dist/bench/
//
// (The agent executable has its own bundler, scripts/bundle-agent.mjs: one CommonJS file with no
// dependency left outside, as a single-executable application needs.)
import { readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { trimSourceMaps } from './own-source-maps.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const target = process.argv[2]

/**
 * What stays outside the bundle, loaded from node_modules as usual:
 * - ssh2 and cpu-features load native addons (`.node` files) by paths relative to themselves;
 * - PGlite loads its WebAssembly and data files next to its own module;
 * - playwright-core reads its browser registry and injected scripts from its package folder;
 * - esbuild (the tests bundle agents with it) finds its binary from its own path, and refuses to be bundled.
 */
const external = ['ssh2', 'cpu-features', '@electric-sql/pglite', 'playwright-core', 'esbuild']

const common = {
  absWorkingDir: root,
  bundle: true,
  // Code shared by several entry points goes into chunks once, instead of into every entry.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external,
  // Bundled CommonJS packages call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);" },
  logLevel: 'warning',
}

/** The files of `dir` (relative to the checkout) whose names end in `suffix`, as entry points. */
const filesIn = (dir, suffix) => readdirSync(path.join(root, dir)).filter((name) => name.endsWith(suffix)).map((name) => `${dir}/${name}`)

if (target === 'cli') {
  const outdir = path.join(root, 'dist/cli/bundle')
  rmSync(outdir, { recursive: true, force: true })
  await build({
    ...common,
    // command-names is bin/edgetainer's first, tiny import: it decides which of the other two to load.
    entryPoints: ['cli/edgetainer.ts', 'cli/remote-cli.ts', 'cli/remote/command-names.ts'],
    outbase: 'cli',
    outdir,
  })
} else if (target === 'tests') {
  const outdir = path.join(root, 'dist/test')
  // Emptied first, so a deleted test cannot linger as a stale bundle.
  rmSync(outdir, { recursive: true, force: true })
  await build({
    ...common,
    entryPoints: [
      ...['test/unit', 'test/integration', 'test/browser'].flatMap((dir) => filesIn(dir, '.test.ts')),
      // A gateway in a process of its own (test/lib/spawn-gateway.ts starts it).
      'test/lib/gateway-process.ts',
      'test/runner/run-test-files.ts',
      ...filesIn('test/fixtures/runner', '.ts'),
    ],
    outbase: 'test',
    outdir,
    // Failures name test/… and server/… lines (node --enable-source-maps), not bundle lines.
    sourcemap: true,
    sourcesContent: false,
  })
  // Only our code's lines: dependencies' mappings cost every test process CPU and say nothing a failure needs.
  trimSourceMaps(outdir)
} else if (target === 'bench') {
  // The server modules bench/tunnel's gateway child starts, bundled as `edgetainer server` runs them: the bench
  // measures what ships, not tsx's on-the-fly build (whose keepNames wraps every closure made per request).
  const outdir = path.join(root, 'dist/bench')
  rmSync(outdir, { recursive: true, force: true })
  await build({ ...common, entryPoints: ['bench/tunnel/gateway-modules.ts'], outbase: 'bench/tunnel', outdir })
} else {
  process.stderr.write('usage: node scripts/bundle.mjs cli|tests|bench\n')
  process.exit(2)
}
