/**
 * The gateway under test, in a process of its own so that its RSS and CPU
 * are its own: started with startServer exactly as `edgetainer server` is
 * (PGlite in memory, ports 0, 127.0.0.1, silent logs), driven over IPC.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, PerformanceObserver, constants as perfConstants } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type * as LoadConfigModule from '../../server/config/load-config.js'
import type * as LoggerModule from '../../server/logger.js'
import type * as MainModule from '../../server/main.js'
import type * as DeviceKeysModule from '../../server/devices/device-keys.js'
import { sendEvent, serveRpc } from '../lib/child-rpc.js'
import { startCpuProfile, stopCpuProfile } from '../lib/cpu-profile.js'
import { deviceRows } from './device-rows.js'

// The server as `edgetainer server` runs it: bundled by esbuild (BENCH_GATEWAY_BUNDLE, built by the parent with
// `node scripts/bundle.mjs bench`). BENCH_SERVER_DIR instead benchmarks a modified copy of server/ (with
// migrations/ beside it) from source, through tsx, against the same reference.
const serverDir = process.env.BENCH_SERVER_DIR ? path.resolve(process.env.BENCH_SERVER_DIR) : fileURLToPath(new URL('../../server/', import.meta.url))
const bundle = process.env.BENCH_SERVER_DIR ? undefined : process.env.BENCH_GATEWAY_BUNDLE
const load = <T>(file: string) => import(pathToFileURL(bundle ?? path.join(serverDir, file)).href) as Promise<T>
const { loadConfig } = await load<typeof LoadConfigModule>('config/load-config.ts')
const { createLogger } = await load<typeof LoggerModule>('logger.ts')
const { startServer } = await load<typeof MainModule>('main.ts')
const { parsePublicKey } = await load<typeof DeviceKeysModule>('devices/device-keys.ts')

// The parent makes (and always removes) the data dir; a child started by hand makes its own.
const dataDir = process.env.BENCH_DATA_DIR ?? mkdtempSync(path.join(tmpdir(), 'edgetainer-bench-'))
// Only what the parent passes: a developer's own EDGETAINER_* or DATABASE_URL must not leak into the measurement.
const env: NodeJS.ProcessEnv = {
  EDGETAINER_DATA_DIR: dataDir,
  EDGETAINER_HTTP_PORT: '0',
  EDGETAINER_SSH_PORT: '0',
  EDGETAINER_BIND_ADDRESS: '127.0.0.1',
  EDGETAINER_BASE_DOMAIN: 'localhost',
  EDGETAINER_LOG_LEVEL: 'silent',
  ...(JSON.parse(process.env.BENCH_GATEWAY_ENV ?? '{}') as Record<string, string>),
}
const config = loadConfig({ env })
const server = await startServer(config, createLogger(config.logLevel), { pgliteDir: 'memory://' })

const gc = (globalThis as { gc?: () => void }).gc
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()

// Collections since start, full (mark-compact) and young (scavenge): a round that falls into back-to-back full
// collections shows it here (docs/deploy.md, "bulk no longer falls into a slow mode").
const collections = { full: 0, fullMs: 0, young: 0, youngMs: 0 }
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = ((entry as { detail?: { kind?: number } }).detail)?.kind
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
      collections.full++
      collections.fullMs += entry.duration
    } else if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      collections.young++
      collections.youngMs += entry.duration
    }
  }
}).observe({ entryTypes: ['gc'] })

function memory() {
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }
}

serveRpc({
  info: () => ({ pid: process.pid, httpPort: server.httpPort, sshPort: server.sshPort, hostPublicKey: server.hostPublicKey, sshPortRange: config.sshPortRange }),

  /** Registers devices in bulk, straight into the table (the API would take minutes for 10,000). */
  async insertDevices(arg: { devices: { device_id: string; public_key: string }[]; firstPort: number }) {
    const rows = deviceRows(arg.devices, arg.firstPort, parsePublicKey)
    for (let i = 0; i < rows.length; i += 500) {
      await server.database.db.insertInto('devices').values(rows.slice(i, i + 500)).execute()
    }
    return rows.length
  },

  /** Live sessions, CPU used so far and event-loop delay since the last call. */
  stats() {
    const s = {
      tunnels: server.tunnels.size,
      cpu: process.cpuUsage(),
      loopDelayMs: { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    }
    loopDelay.reset()
    return s
  },

  async onlineInDatabase() {
    const row = await server.database.db.selectFrom('devices').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'online').executeTakeFirstOrThrow()
    return Number(row.n)
  },

  /** Garbage collections since start (counts and milliseconds). */
  collections: () => ({ ...collections }),

  /** Memory after full collections, so garbage does not count. */
  async memory() {
    for (let i = 0; i < 3; i++) {
      gc?.()
      await new Promise((r) => setTimeout(r, 100))
    }
    return { ...memory(), gcAvailable: Boolean(gc) }
  },

  /** Per-session view of the first few sessions' internals, to explain the memory. */
  sessionSample() {
    const first = server.tunnels.sessions().next().value
    return first ? { forwards: first.forwards() } : undefined
  },

  profileStart: (arg?: { intervalUs?: number }) => startCpuProfile(arg?.intervalUs),
  profileStop: (arg: { file?: string }) => stopCpuProfile(arg?.file),

  async close() {
    await server.close()
    rmSync(dataDir, { recursive: true, force: true })
    setTimeout(() => process.exit(0), 50)
    return true
  },
})

sendEvent('ready', { pid: process.pid })
