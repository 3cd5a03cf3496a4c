import { randomUUID } from 'node:crypto'
import { availableParallelism } from 'node:os'
import type { Config } from '../server/config/config-schema.js'
import { ConfigError } from '../server/config/load-config.js'
import { peerUrlPort } from '../server/cluster/peer-url.js'

/**
 * How many gateway processes `edgetainer server` runs on this host, and what
 * makes each one a cluster node of its own (docs/deploy.md, "Workers").
 */

const MAX_WORKERS = 256
const NODE_ID_MAX = 64

/** The `--workers` flag's value: a whole number from 1 to 256, or an error naming what was given. */
export function parseWorkersFlag(raw: string): number {
  const n = /^\d{1,3}$/.test(raw.trim()) ? Number(raw.trim()) : NaN
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new ConfigError(`--workers must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(raw.slice(0, 20))}`)
  return n
}

/**
 * The flag wins over `workers` / EDGETAINER_WORKERS; unset means one per core on PostgreSQL.
 * PGlite is one process (a second one on its data dir corrupts it), so it runs exactly one.
 */
export function resolveWorkerCount(config: Config, flag: number | undefined, cores = availableParallelism()): number {
  const asked = flag ?? config.workers
  if (!config.databaseUrl) {
    if (asked !== undefined && asked > 1) {
      throw new ConfigError(`--workers ${asked} needs PostgreSQL (DATABASE_URL): the embedded database (PGlite) is single-process; run 1 worker or set DATABASE_URL`)
    }
    return 1
  }
  return asked ?? Math.max(1, cores)
}

/** One node id per worker, from the configured one (or one random id per primary start) plus the worker's index. */
export function workerNodeId(base: string, index: number): string {
  const suffix = `-w${index}`
  return `${base.slice(0, NODE_ID_MAX - suffix.length)}${suffix}`
}

/**
 * Worker i is reached by its peers at the base peer_url's port + i: the workers
 * share the public listeners, but each node needs a peer address of its own.
 */
export function workerPeerUrl(base: string | undefined, index: number): string | undefined {
  if (!base) return undefined
  const url = new URL(base)
  const basePort = peerUrlPort(base)
  // The setting's own check refuses such a URL first (a psk:// URL must name its port); this guards other callers.
  if (basePort === undefined) throw new ConfigError(`peer_url ${base}: no port to derive each worker's peer port from`)
  const port = basePort + index
  if (port > 65535) throw new ConfigError(`peer_url ${base}: worker ${index} would need peer port ${port}, past 65535; choose a lower base port`)
  url.port = String(port)
  return url.toString().replace(/\/$/, '')
}

/**
 * Worker i's peer listener (docs/cluster-forwarding.md): the base peer_listen's port + i, like its peer_url,
 * so that each worker accepts forwarded traffic on the port the others dial. Port 0 stays 0 (each picks one).
 */
export function workerPeerListen(base: { host: string; port: number } | undefined, index: number): string | undefined {
  if (!base) return undefined
  const port = base.port === 0 ? 0 : base.port + index
  if (port > 65535) throw new ConfigError(`peer_listen port ${base.port}: worker ${index} would need peer port ${port}, past 65535; choose a lower base port`)
  return `${base.host.includes(':') ? `[${base.host}]` : base.host}:${port}`
}

/**
 * Where the workers listen for each other's forwarded traffic. Configured peer_listen (a multi-host
 * cluster): its port + i for worker i. Neither peer_listen nor peer_url: the workers of one host still
 * reach each other, on loopback ports of their own choosing (peer_url then follows each bound port), so
 * a request on the worker without the device's tunnel is forwarded rather than answered 502. A peer_url
 * without peer_listen is advertised (+ i) as configured, with no listener: forwarding is off.
 *
 * Those loopback-only listeners speak plain HTTP (`localOnly`): each upgrade is still signed with the
 * cluster key, and TLS on loopback would guard against no one (reading loopback traffic takes root, who
 * can read secret_key too), while costing each request a worker forwards about a third of its CPU
 * (bench/tunnel, docs/deploy.md).
 */
export function workerPeers(config: Pick<Config, 'cluster'>): {
  basePeerUrl: string | undefined
  basePeerListen: { host: string; port: number } | undefined
  localOnly: boolean
} {
  const { peerListen, peerUrl } = config.cluster
  if (peerListen || peerUrl) return { basePeerUrl: peerUrl, basePeerListen: peerListen, localOnly: false }
  return { basePeerUrl: undefined, basePeerListen: { host: '127.0.0.1', port: 0 }, localOnly: true }
}

/** The environment a worker is forked with: it overrides node_id, peer_url and peer_listen from the YAML file or the parent's env. */
export function workerEnvironment(options: {
  baseNodeId: string
  basePeerUrl: string | undefined
  basePeerListen?: { host: string; port: number } | undefined
  /** The workers' own loopback listeners (workerPeers): plain HTTP, whatever peer_tls says. */
  localOnly?: boolean
  index: number
  count: number
}): Record<string, string> {
  const peerUrl = workerPeerUrl(options.basePeerUrl, options.index)
  const peerListen = workerPeerListen(options.basePeerListen, options.index)
  return {
    EDGETAINER_NODE_ID: workerNodeId(options.baseNodeId, options.index),
    EDGETAINER_WORKER_INDEX: String(options.index),
    EDGETAINER_WORKERS: String(options.count),
    ...(peerUrl ? { EDGETAINER_PEER_URL: peerUrl } : {}),
    ...(peerListen ? { EDGETAINER_PEER_LISTEN: peerListen } : {}),
    ...(options.localOnly ? { EDGETAINER_PEER_TLS: 'off' } : {}),
  }
}

/** Without a configured node_id the workers share one random base per primary start, so a restarted worker keeps its id. */
export function baseNodeId(config: Config): string {
  return config.cluster.nodeId ?? randomUUID()
}
