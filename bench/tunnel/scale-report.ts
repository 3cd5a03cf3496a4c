/**
 * What the scale phase reports, the same for one gateway process (scale.ts)
 * and `--workers N` (scale-cluster.ts): the result, the lines both print
 * and the verdict against the targets.
 */
import { fmt } from '../lib/stats.js'
import type { StormResult } from './scale-fleet.js'

export interface ScaleResult {
  /** Which gateway was measured, e.g. "gateway" or "gateway --workers 4". */
  gateway: string
  sessions: number
  online: number
  /** The figure held against targets.onlineSeconds (every session online, as that path can tell). */
  onlineSeconds: number | undefined
  targets: { rssKiB: number; onlineSeconds: number }
  /** The most sessions the clients had online at once, and when (seconds after the storm began). */
  largest: { online: number; seconds: number }
  /** One process only: when its registry held every session (the workers' registries are not visible from outside). */
  registryFullSeconds: number | undefined
  allForwardsSeconds: number | undefined
  databaseOnlineSeconds: number | undefined
  failedHandshakes: number
  neverOnline: number
  dropped: number
  reasons: Record<string, number>
  rssPerSessionKiB: number
  heapPerSessionKiB: number
  externalPerSessionKiB: number
  handshakeMs: { p50: number; p99: number; max: number }
  gatewayCpuMsPerSession: number
  maxLoopDelayMs: number
  drainSeconds: number | undefined
}

export interface Memory {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  gcAvailable: boolean
}

/** Memory before and after the storm, in MiB. */
export function memoryLine(label: string, before: Memory, after: Memory): string {
  const mib = (n: number) => fmt(n / 1048576)
  return (
    `  ${label}: rss ${mib(before.rss)} -> ${mib(after.rss)} MiB, heapUsed ${mib(before.heapUsed)} -> ${mib(after.heapUsed)} MiB, ` +
    `external ${mib(before.external)} -> ${mib(after.external)} MiB (arrayBuffers ${mib(before.arrayBuffers)} -> ${mib(after.arrayBuffers)})`
  )
}

/** "after 12.3 s", or "never". */
export function afterOrNever(seconds: number | undefined): string {
  return seconds === undefined ? 'never' : `after ${seconds.toFixed(1)} s`
}

/** How many came online and when (and the largest figure reached if not all did). */
export function onlineLines(storm: StormResult, N: number, gatewayFull: string): string[] {
  const lines = [`  ${storm.online}/${N} online; ${gatewayFull}, all forwards acknowledged ${afterOrNever(storm.allForwardsSeconds)}`]
  if (storm.online < N) lines.push(`  largest figure reached: ${storm.largest.online}/${N} online at ${fmt(storm.largest.seconds)} s`)
  return lines
}

export function handshakeLines(storm: StormResult, loopDelayMs?: number): string[] {
  const h = storm.handshakeMs
  const lines = [
    `  handshake (connect to forward acknowledged) p50 ${fmt(h.p50, 0)} ms, p99 ${fmt(h.p99, 0)} ms, max ${fmt(h.max, 0)} ms` +
      (loopDelayMs === undefined ? '' : `; gateway event-loop delay max ${fmt(loopDelayMs, 0)} ms`),
  ]
  if (Object.keys(storm.reasons).length) lines.push(`  failed handshakes by reason: ${JSON.stringify(storm.reasons)}`)
  return lines
}

/**
 * What a session cost in CPU during the ramp, and the least time N sessions take at that cost on this
 * machine's cores: with the clients on the same host, their share is CPU the gateway does not get, so
 * the gateway's part alone says what the gateway could do on the same cores.
 */
export function cpuBudgetLine(seconds: { gateway: number; clients: number; machine: number }, online: number, N: number, cores: number): string {
  const ms = (s: number) => (online ? (s * 1000) / online : NaN)
  const atLeast = (msPerSession: number) => `${fmt((N * msPerSession) / 1000 / cores, 0)} s`
  const [gateway, clients, machine] = [ms(seconds.gateway), ms(seconds.clients), ms(seconds.machine)]
  return (
    `  cpu per session: gateway ${fmt(gateway, 2)} ms, clients ${fmt(clients, 2)} ms, whole machine ${fmt(machine, 2)} ms (PostgreSQL and other work included); ` +
    `${N} sessions need at least ${atLeast(machine)} of its ${cores} cores at that cost, the gateway's part alone ${atLeast(gateway)}`
  )
}

/** What each path measured its own way, to be joined with what the clients saw (scaleResult). */
export type PathFigures = Pick<
  ScaleResult,
  'gateway' | 'sessions' | 'onlineSeconds' | 'targets' | 'registryFullSeconds' | 'databaseOnlineSeconds' | 'dropped' | 'maxLoopDelayMs' | 'drainSeconds'
> & { gatewayCpuMs: number }

/** The result: the clients' figures, memory per online session (KiB) and the path's own figures. */
export function scaleResult(storm: StormResult, before: Memory, after: Memory, figures: PathFigures): ScaleResult {
  const { gatewayCpuMs, ...own } = figures
  const per = (a: number, b: number) => (storm.online ? (a - b) / storm.online / 1024 : NaN)
  return {
    ...own,
    online: storm.online,
    largest: storm.largest,
    allForwardsSeconds: storm.allForwardsSeconds,
    failedHandshakes: storm.failedHandshakes,
    neverOnline: storm.neverOnline,
    reasons: storm.reasons,
    handshakeMs: storm.handshakeMs,
    rssPerSessionKiB: per(after.rss, before.rss),
    heapPerSessionKiB: per(after.heapUsed, before.heapUsed),
    externalPerSessionKiB: per(after.external, before.external),
    gatewayCpuMsPerSession: gatewayCpuMs / Math.max(1, storm.online),
  }
}

/** The one-line verdict against the targets. */
export function verdictLine(r: ScaleResult): string {
  const mem = r.rssPerSessionKiB <= r.targets.rssKiB
  const time = r.online === r.sessions && (r.onlineSeconds ?? Infinity) <= r.targets.onlineSeconds
  const failed = r.failedHandshakes === 0 && r.neverOnline === 0 && r.dropped === 0
  const word = (ok: boolean) => (ok ? 'ok' : 'MISSED')
  return (
    `  verdict (${r.gateway}, ${r.online}/${r.sessions} sessions): RSS ${fmt(r.rssPerSessionKiB)} KiB/session (<= ${r.targets.rssKiB}) ${word(mem)}; ` +
    `all online ${r.onlineSeconds === undefined ? `never (largest ${r.largest.online} at ${fmt(r.largest.seconds)} s)` : `${fmt(r.onlineSeconds)} s`} (<= ${r.targets.onlineSeconds}) ${word(time)}; ` +
    `failed handshakes ${r.failedHandshakes}, never online ${r.neverOnline}, dropped ${r.dropped} (0) ${word(failed)}`
  )
}
