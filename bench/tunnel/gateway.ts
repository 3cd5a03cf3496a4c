import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { RpcChild } from '../lib/child-rpc.js'
import { dedupeWarnings, forkTs, onCleanup, stop } from '../lib/processes.js'
import { tempDir } from '../lib/openssh.js'

export const ADMIN_PASSWORD = 'bench-admin-password'

export interface GatewayInfo {
  pid: number
  httpPort: number
  sshPort: number
  hostPublicKey: string
  sshPortRange: { start: number; end: number }
}

export interface GatewayChild {
  rpc: RpcChild
  info: GatewayInfo
  /** Warnings the gateway repeated, with their counts (a leak shows up here). */
  warnings(): string[]
  close(): Promise<void>
}

let bundled: string | undefined

/** dist/bench/gateway-modules.js, built once per bench run from the current source (the gateway as it ships). */
function gatewayBundle(): string {
  if (!bundled) {
    const root = fileURLToPath(new URL('../../', import.meta.url))
    execFileSync(process.execPath, [path.join(root, 'scripts/bundle.mjs'), 'bench'], { stdio: 'inherit' })
    bundled = path.join(root, 'dist/bench/gateway-modules.js')
  }
  return bundled
}

/** Starts gateway-child.ts (with --expose-gc) and waits until it listens. */
export async function startGatewayChild(env: Record<string, string>): Promise<GatewayChild> {
  const dataDir = tempDir('edgetainer-bench-')
  const child = forkTs(fileURLToPath(new URL('./gateway-child.ts', import.meta.url)), {
    env: {
      BENCH_DATA_DIR: dataDir,
      ...(process.env.BENCH_SERVER_DIR ? {} : { BENCH_GATEWAY_BUNDLE: gatewayBundle() }),
      BENCH_GATEWAY_ENV: JSON.stringify({
        EDGETAINER_ADMIN_PASSWORD: ADMIN_PASSWORD,
        // BENCH_GATEWAY_LOG_LEVEL=debug shows the gateway's own logs (silent by default).
        ...(process.env.BENCH_GATEWAY_LOG_LEVEL ? { EDGETAINER_LOG_LEVEL: process.env.BENCH_GATEWAY_LOG_LEVEL } : {}),
        ...env,
      }),
    },
    // BENCH_GATEWAY_NODE_FLAGS: extra node flags for the gateway, e.g. --max-semi-space-size=32 (diagnosis).
    execArgv: ['--expose-gc', ...(process.env.BENCH_GATEWAY_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [])],
    pipeStderr: true,
  })
  const warnings = dedupeWarnings(child, 'gateway')
  const rpc = new RpcChild(child, 'gateway')
  await rpc.waitEvent('ready', 120_000)
  const info = await rpc.call<GatewayInfo>('info')
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await rpc.call('close', undefined, 30_000).catch(() => {})
    await stop(child, 'SIGTERM', 5000)
  }
  onCleanup(close)
  return { rpc, info, close, warnings: () => warnings.summary() }
}

/** A small JSON client for the gateway's API, signed in as the bootstrap admin. */
export async function adminApi(httpPort: number) {
  const base = `http://127.0.0.1:${httpPort}`
  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    const parsed = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`)
    return parsed
  }
  const { token } = await call('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
  return {
    get: (path: string) => call('GET', path, undefined, token),
    post: (path: string, body: unknown) => call('POST', path, body, token),
  }
}
