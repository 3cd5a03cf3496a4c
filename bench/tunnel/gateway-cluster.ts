import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { freePort } from '../../test/lib/ports.js'
import { waitFor } from '../../test/lib/wait.js'
import { tempDir } from '../lib/openssh.js'
import { onCleanup, spawnTracked, stop } from '../lib/processes.js'
import { ADMIN_PASSWORD } from './gateway.js'

/**
 * The gateway as `edgetainer server --workers N` (docs/deploy.md): one node per
 * worker on shared ports, on a PostgreSQL database made for the run and dropped
 * after it. The figures for "every core at work" come from this.
 */
export interface GatewayCluster {
  /** The primary; the workers are its children, so CPU meters see all of them. */
  pid: number
  workers: number
  httpPort: number
  sshPort: number
  hostPublicKey: string
  /** The run's own database (dropped at cleanup): the bench may write rows into it directly. */
  databaseUrl: string
  /** Everything the primary and its workers printed so far. */
  output(): string
  close(): Promise<void>
}

const root = fileURLToPath(new URL('../../', import.meta.url))

export async function startGatewayCluster(options: {
  workers: number
  adminUrl: string
  sshPortRange: string
  /** More environment for the primary (and so its workers), over the defaults below: a phase's own limits. */
  env?: Record<string, string>
}): Promise<GatewayCluster> {
  const name = `et_bench_${randomBytes(5).toString('hex')}`
  const admin = new pg.Client({ connectionString: options.adminUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  onCleanup(async () => {
    const c = new pg.Client({ connectionString: options.adminUrl })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  })
  const url = new URL(options.adminUrl)
  url.pathname = `/${name}`
  const dataDir = tempDir('edgetainer-bench-cluster-')
  const [httpPort, sshPort] = [await freePort(), await freePort()]
  // The CLI as it ships (bin/edgetainer runs dist/cli/bundle), rebuilt from the current source first.
  execFileSync(process.execPath, [path.join(root, 'scripts/bundle.mjs'), 'cli'], { stdio: 'inherit' })
  const child = spawnTracked(process.execPath, [path.join(root, 'bin/edgetainer'), 'server', '--workers', String(options.workers)], {
    cwd: root,
    // Only what the bench chooses: a developer's own EDGETAINER_* must not leak into the measurement.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: url.toString(),
      EDGETAINER_DATA_DIR: dataDir,
      EDGETAINER_HTTP_PORT: String(httpPort),
      EDGETAINER_SSH_PORT: String(sshPort),
      EDGETAINER_SSH_PORT_RANGE: options.sshPortRange,
      EDGETAINER_BIND_ADDRESS: '127.0.0.1',
      EDGETAINER_BASE_DOMAIN: 'localhost',
      EDGETAINER_ADMIN_PASSWORD: ADMIN_PASSWORD,
      EDGETAINER_NODE_ID: 'bench',
      // No peer settings: the workers forward to the one holding a device's tunnel over loopback, as they ship.
      EDGETAINER_LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL ?? 'silent',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const close = () => stop(child, 'SIGTERM', 20_000)
  onCleanup(close)
  await waitFor(`${options.workers} gateway workers`, () => {
    if (child.exitCode !== null) throw new Error(`edgetainer server --workers ${options.workers} exited (${child.exitCode}): ${out.slice(-1000)}`)
    return out.includes(`running with ${options.workers} workers`)
  }, 120_000)
  const hostPublicKey = readFileSync(path.join(dataDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim()
  return { pid: child.pid!, workers: options.workers, httpPort, sshPort, hostPublicKey, databaseUrl: url.toString(), output: () => out, close }
}
