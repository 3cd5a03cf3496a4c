/**
 * The client side of the scale phase, the same whichever gateway it dials
 * (one process: scale.ts; `--workers N`: scale-cluster.ts): the fleet
 * processes and their keys, the storm of handshakes with its deadline and
 * what the clients saw of it. What both paths print is in scale-report.ts.
 */
import { fileURLToPath } from 'node:url'
import { RpcChild } from '../lib/child-rpc.js'
import { forkTs, stop } from '../lib/processes.js'
import { waitFor } from '../../test/lib/wait.js'

export interface ScaleOptions {
  /** CPU-profile the gateway during the ramp into this directory (BENCH_PROFILE=1; single process only). */
  profileDir?: string
  sessions: number
  processes: number
  /** Gateway processes: 1 is gateway-child.ts on PGlite, more is `edgetainer server --workers N` on PostgreSQL. */
  workers: number
  /** PostgreSQL admin URL, for workers > 1. */
  adminUrl?: string
  inflight: number
  readyTimeoutMs: number
  retries: number
  timeoutSeconds: number
  /** Seconds to keep the sessions up after measuring, before they close (heap snapshots; single process). */
  holdSeconds?: number
}

interface ConnectResult {
  ok: number
  failedAttempts: number
  neverOnline: number
  reasons: Record<string, number>
  startedAt: number
  lastOnlineAt: number
  handshakeMs: { p50: number; p99: number; max: number }
}

/** What the clients saw of the storm, over all fleet processes. */
export interface StormResult {
  online: number
  failedHandshakes: number
  neverOnline: number
  reasons: Record<string, number>
  handshakeMs: { p50: number; p99: number; max: number }
  /** Until the last forward was acknowledged, when every session came online. */
  allForwardsSeconds: number | undefined
  largest: { online: number; seconds: number }
}

export interface Fleet {
  children: RpcChild[]
  /** Device ids and public keys, in the order of their ports (FIRST_DEVICE_PORT upward). */
  devices: { device_id: string; public_key: string }[]
}

// Each device gets a loopback port of the range; the sessions here only ask for a named service (web:80),
// so none is bound and the range may cross the ephemeral ports. Past ~64,000 devices one host runs out of them.
export const FIRST_DEVICE_PORT = 1100

/** EDGETAINER_SSH_PORT_RANGE for N devices. */
export function devicePortRange(N: number): string {
  const last = FIRST_DEVICE_PORT + N + 99
  if (last > 65535) throw new Error(`${N} sessions need ${N} device ports from ${FIRST_DEVICE_PORT}: past 65535; at most ${65535 - FIRST_DEVICE_PORT - 99} on one host`)
  return `${FIRST_DEVICE_PORT}-${last}`
}

/** The whole fleet dials from loopback: the per-address (and global) cap on unauthenticated sockets must sit above the burst. */
export function unauthenticatedCaps(inflight: number): Record<string, string> {
  const cap = String(Math.max(1000, inflight * 2))
  return { EDGETAINER_SSH_MAX_UNAUTHENTICATED: cap, EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: cap }
}

/** Starts the client processes and makes every device's key pair in them. */
export async function startFleet(N: number, processes: number): Promise<Fleet> {
  const file = fileURLToPath(new URL('./fleet-child.ts', import.meta.url))
  const children = Array.from({ length: processes }, (_, i) => new RpcChild(forkTs(file), `fleet-${i}`))
  await Promise.all(children.map((f) => f.waitEvent('ready')))
  const ids = Array.from({ length: N }, (_, i) => `scale-${String(i).padStart(5, '0')}`)
  const slices = children.map((_, i) => ids.filter((_, j) => j % children.length === i))
  const t = Date.now()
  const publics = await Promise.all(children.map((f, i) => f.call<string[]>('keys', { ids: slices[i] })))
  console.log(`  generated ${N} ed25519 key pairs in ${((Date.now() - t) / 1000).toFixed(1)} s (${children.length} processes)`)
  return { children, devices: slices.flatMap((slice, i) => slice.map((id, j) => ({ device_id: id, public_key: publics[i]![j]! }))) }
}

/**
 * Every device dials at once (options.inflight handshakes in flight). The storm
 * runs until every client has finished or `finish()` is called at the deadline;
 * then the clients start no more handshakes and report what they reached.
 */
export function startStorm(fleet: Fleet, gateway: { sshPort: number; hostPublicKey: string }, options: ScaleOptions) {
  const N = fleet.devices.length
  // The clients dial from 127.0.1.x, 20,000 connections per address, so their ephemeral ports neither run
  // out (about 28,000 per address) nor collide with anything the gateway binds on 127.0.0.1.
  const sourceAddresses = Array.from({ length: Math.ceil(N / 20_000) }, (_, i) => `127.0.1.${i + 1}`)
  const progress = fleet.children.map(() => ({ ok: 0, lastOnlineAt: 0 }))
  fleet.children.forEach((f, i) =>
    f.onEvent((e, d) => {
      if (e === 'progress') progress[i] = d as { ok: number; lastOnlineAt: number }
    }),
  )
  const startedAt = Date.now()
  let results: ConnectResult[] | undefined
  const connecting = Promise.all(
    fleet.children.map((f, i) =>
      f.call<ConnectResult>(
        'connect',
        {
          port: gateway.sshPort,
          hostPublicKey: gateway.hostPublicKey,
          inflight: Math.max(1, Math.round(options.inflight / fleet.children.length)),
          readyTimeoutMs: options.readyTimeoutMs,
          retries: options.retries,
          service: { name: 'web', port: 80 },
          sourceAddresses,
        },
        (options.timeoutSeconds + 120) * 1000,
      ).then((r) => {
        // A process that has finished reports no more progress: its last report may be up to 500 ms old.
        progress[i] = { ok: r.ok, lastOnlineAt: r.lastOnlineAt }
        return r
      }),
    ),
  ).then((r) => (results = r))
  const largest = { online: 0, seconds: 0 }
  const online = () => {
    const n = progress.reduce((a, p) => a + p.ok, 0)
    if (n > largest.online) Object.assign(largest, { online: n, seconds: (Math.max(...progress.map((p) => p.lastOnlineAt)) - startedAt) / 1000 })
    return n
  }

  return {
    startedAt,
    deadline: startedAt + options.timeoutSeconds * 1000,
    /** Sessions the clients have online, from their progress reports (every 500 ms). */
    online,
    /** The clients' results once all have finished. */
    finished: () => results,
    /** Waits for the clients, telling them to start no more handshakes first if they have not finished. */
    async finish(): Promise<StormResult> {
      if (!results) {
        await Promise.all(fleet.children.map((f) => f.call('stop').catch(() => {})))
        console.log(`  timed out after ${options.timeoutSeconds} s (BENCH_SCALE_TIMEOUT_S): no new handshakes; waiting for those in flight`)
      }
      const all =
        results ??
        (await connecting.catch((err: Error) => {
          online()
          throw new Error(`the clients did not report (largest figure reached: ${largest.online}/${N} online at ${largest.seconds.toFixed(1)} s): ${err.message}`)
        }))
      const ok = all.reduce((a, r) => a + r.ok, 0)
      const lastOnline = Math.max(...all.map((r) => r.lastOnlineAt))
      if (ok >= largest.online) Object.assign(largest, { online: ok, seconds: (lastOnline - startedAt) / 1000 })
      const reasons: Record<string, number> = {}
      for (const r of all) for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v
      return {
        online: ok,
        failedHandshakes: all.reduce((a, r) => a + r.failedAttempts, 0),
        neverOnline: all.reduce((a, r) => a + r.neverOnline, 0),
        reasons,
        // The worst process's percentiles: no process's clients may do worse than reported.
        handshakeMs: {
          p50: Math.max(...all.map((r) => r.handshakeMs.p50)),
          p99: Math.max(...all.map((r) => r.handshakeMs.p99)),
          max: Math.max(...all.map((r) => r.handshakeMs.max)),
        },
        allForwardsSeconds: ok === N ? (lastOnline - startedAt) / 1000 : undefined,
        largest: { ...largest },
      }
    },
  }
}

/** Seconds from `since` until check() holds, polled every intervalMs (the suite's one wait helper); undefined if it did not within timeoutMs. */
export async function secondsUntil(check: () => Promise<boolean>, since: number, timeoutMs: number, intervalMs = 100): Promise<number | undefined> {
  const held = await waitFor('the scale check', async () => (await check()) && { at: Date.now() }, timeoutMs, intervalMs).catch(() => undefined)
  return held && (held.at - since) / 1000
}

/** Sessions the clients lost after they were online (each a dropped tunnel). */
export async function droppedSessions(fleet: Fleet): Promise<number> {
  const status = await Promise.all(fleet.children.map((f) => f.call<{ dropped: number }>('status')))
  return status.reduce((a, s) => a + s.dropped, 0)
}

/** Ends every session; the processes exit. */
export async function closeSessions(fleet: Fleet): Promise<void> {
  await Promise.all(fleet.children.map((f) => f.call('close').catch(() => {})))
}

export async function stopFleet(fleet: Fleet): Promise<void> {
  await Promise.all(fleet.children.map((f) => stop(f.child)))
}
