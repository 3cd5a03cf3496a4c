/**
 * N idle device sessions, each with one service forward, opened from
 * separate processes against a fresh gateway process. Reports the gateway's
 * RSS per session, the time until all are online and every failed handshake.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatProfile, type ProfileSummary } from '../lib/cpu-profile.js'
import { RpcChild } from '../lib/child-rpc.js'
import { forkTs, stop } from '../lib/processes.js'
import { cpuMeter } from '../lib/proc-cpu.js'
import { fmt, sleep } from '../lib/stats.js'
import { startGatewayChild } from './gateway.js'

export interface ScaleOptions {
  /** CPU-profile the gateway during the ramp into this directory (BENCH_PROFILE=1). */
  profileDir?: string
  sessions: number
  processes: number
  inflight: number
  readyTimeoutMs: number
  retries: number
  timeoutSeconds: number
}

export interface ScaleResult {
  sessions: number
  online: number
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

interface Memory {
  rss: number
  heapUsed: number
  external: number
  arrayBuffers: number
  gcAvailable: boolean
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

export async function runScale(options: ScaleOptions): Promise<ScaleResult> {
  const N = options.sessions
  // Each device gets a loopback port of the range, and a port below the ephemeral range cannot be taken by a
  // client's connection; past ~64,000 devices one host runs out of ports.
  const firstPort = 1100
  if (firstPort + N + 99 > 65535) throw new Error(`${N} sessions need ${N} device ports from ${firstPort}: past 65535; at most ${65535 - firstPort - 99} on one host`)
  // The clients dial from 127.0.1.x, 20,000 connections per address, so their ephemeral ports neither run
  // out (about 28,000 per address) nor collide with the device ports the gateway binds on 127.0.0.1.
  const sourceAddresses = Array.from({ length: Math.ceil(N / 20_000) }, (_, i) => `127.0.1.${i + 1}`)
  // The whole fleet dials from 127.0.0.1: lift the per-address (and global) cap on unauthenticated sockets above the burst.
  const unauthenticatedCap = String(Math.max(1000, options.inflight * 2))
  const gateway = await startGatewayChild({
    EDGETAINER_SSH_PORT_RANGE: `${firstPort}-${firstPort + N + 99}`,
    EDGETAINER_SSH_MAX_UNAUTHENTICATED: unauthenticatedCap,
    EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: unauthenticatedCap,
  })

  const fleets = Array.from({ length: options.processes }, (_, i) => new RpcChild(forkTs(fileURLToPath(new URL('./fleet-child.ts', import.meta.url))), `fleet-${i}`))
  await Promise.all(fleets.map((f) => f.waitEvent('ready')))
  const ids = Array.from({ length: N }, (_, i) => `scale-${String(i).padStart(5, '0')}`)
  const slices = fleets.map((_, i) => ids.filter((_, j) => j % fleets.length === i))

  let t = Date.now()
  const publics = await Promise.all(fleets.map((f, i) => f.call<string[]>('keys', { ids: slices[i] })))
  console.log(`  generated ${N} ed25519 key pairs in ${((Date.now() - t) / 1000).toFixed(1)} s (${fleets.length} processes)`)
  t = Date.now()
  const devices = slices.flatMap((slice, i) => slice.map((id, j) => ({ device_id: id, public_key: publics[i]![j]! })))
  await gateway.rpc.call('insertDevices', { devices, firstPort })
  console.log(`  registered ${N} devices in the gateway's database in ${((Date.now() - t) / 1000).toFixed(1)} s`)

  const before = await gateway.rpc.call<Memory>('memory')
  if (!before.gcAvailable) console.log('  (gc() unavailable in the gateway: RSS includes garbage)')
  const baseStats = await gateway.rpc.call<{ cpu: NodeJS.CpuUsage }>('stats')
  const meter = cpuMeter({ gateway: gateway.info.pid, ...Object.fromEntries(fleets.map((f) => [f.name, f.pid])) })

  if (options.profileDir) await gateway.rpc.call('profileStart', { intervalUs: 1000 })
  let progress = 0
  for (const f of fleets) f.onEvent((e, d) => e === 'progress' && (progress = Math.max(progress, (d as { ok: number }).ok)))
  const startedAt = Date.now()
  const connecting = Promise.all(
    fleets.map((f) =>
      f.call<ConnectResult>(
        'connect',
        {
          port: gateway.info.sshPort,
          hostPublicKey: gateway.info.hostPublicKey,
          inflight: Math.max(1, Math.round(options.inflight / fleets.length)),
          readyTimeoutMs: options.readyTimeoutMs,
          retries: options.retries,
          service: { name: 'web', port: 80 },
          sourceAddresses,
        },
        (options.timeoutSeconds + 120) * 1000,
      ),
    ),
  )
  let done: ConnectResult[] | undefined
  void connecting.then((r) => (done = r))

  // Watch the gateway's registry fill up.
  let registryFullSeconds: number | undefined
  let maxLoopDelayMs = 0
  let lastPrint = 0
  let tunnels = 0
  const deadline = startedAt + options.timeoutSeconds * 1000
  while (Date.now() < deadline) {
    const s = await gateway.rpc.call<{ tunnels: number; loopDelayMs: { max: number } }>('stats')
    tunnels = s.tunnels
    maxLoopDelayMs = Math.max(maxLoopDelayMs, s.loopDelayMs.max)
    if (registryFullSeconds === undefined && tunnels >= N) registryFullSeconds = (Date.now() - startedAt) / 1000
    if (Date.now() - lastPrint >= 5000) {
      lastPrint = Date.now()
      console.log(`    ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)} s: ${tunnels} sessions in the gateway registry`)
    }
    if (registryFullSeconds !== undefined && done) break
    if (done && tunnels < N && done.reduce((a, r) => a + r.neverOnline, 0) > 0) break
    await sleep(100)
  }
  const results = done ?? (await connecting)
  const cpu = meter.stop()
  if (options.profileDir) {
    const summary = await gateway.rpc.call<ProfileSummary>('profileStop', { file: path.join(options.profileDir, 'gateway-scale.cpuprofile') })
    console.log(formatProfile('gateway CPU profile, scale ramp', summary))
  }
  const after = await gateway.rpc.call<{ cpu: NodeJS.CpuUsage }>('stats')
  const gatewayCpuMs = (after.cpu.user + after.cpu.system - baseStats.cpu.user - baseStats.cpu.system) / 1000
  const lastOnline = Math.max(...results.map((r) => r.lastOnlineAt))
  const online = results.reduce((a, r) => a + r.ok, 0)
  const allForwardsSeconds = online === N ? (lastOnline - startedAt) / 1000 : undefined
  console.log(
    `  ${online}/${N} online; registry full after ${registryFullSeconds?.toFixed(1) ?? 'never'} s, all forwards acknowledged after ${allForwardsSeconds?.toFixed(1) ?? 'never'} s`,
  )
  console.log(`  cpu cores during the ramp: ${Object.entries(cpu.cores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`)

  let databaseOnlineSeconds: number | undefined
  for (let i = 0; i < 60; i++) {
    if ((await gateway.rpc.call<number>('onlineInDatabase')) >= online) {
      databaseOnlineSeconds = (Date.now() - startedAt) / 1000
      break
    }
    await sleep(500)
  }

  await sleep(2000) // let handshake garbage become collectable
  const mem = await gateway.rpc.call<Memory>('memory')
  const status = await Promise.all(fleets.map((f) => f.call<{ online: number; dropped: number; rss: number }>('status')))
  const per = (a: number, b: number) => (online ? (a - b) / online / 1024 : NaN)
  const reasons: Record<string, number> = {}
  for (const r of results) for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v
  const handshakeMs = {
    p50: Math.max(...results.map((r) => r.handshakeMs.p50)),
    p99: Math.max(...results.map((r) => r.handshakeMs.p99)),
    max: Math.max(...results.map((r) => r.handshakeMs.max)),
  }
  console.log(
    `  gateway memory: rss ${fmt(before.rss / 1048576)} -> ${fmt(mem.rss / 1048576)} MiB, heapUsed ${fmt(before.heapUsed / 1048576)} -> ${fmt(mem.heapUsed / 1048576)} MiB, external ${fmt(before.external / 1048576)} -> ${fmt(mem.external / 1048576)} MiB (arrayBuffers ${fmt(before.arrayBuffers / 1048576)} -> ${fmt(mem.arrayBuffers / 1048576)})`,
  )
  console.log(`  handshake (connect to forward acknowledged) p50 ${fmt(handshakeMs.p50, 0)} ms, p99 ${fmt(handshakeMs.p99, 0)} ms, max ${fmt(handshakeMs.max, 0)} ms; gateway event-loop delay max ${fmt(maxLoopDelayMs, 0)} ms`)
  if (Object.keys(reasons).length) console.log(`  failed handshakes by reason: ${JSON.stringify(reasons)}`)

  // Every session ends: the registry must drain.
  const drainStart = Date.now()
  await Promise.all(fleets.map((f) => f.call('close').catch(() => {})))
  let drainSeconds: number | undefined
  for (let i = 0; i < 300; i++) {
    if ((await gateway.rpc.call<{ tunnels: number }>('stats')).tunnels === 0) {
      drainSeconds = (Date.now() - drainStart) / 1000
      break
    }
    await sleep(100)
  }
  console.log(`  registry drained to 0 in ${drainSeconds?.toFixed(1) ?? 'more than 30'} s after the clients closed`)
  await Promise.all(fleets.map((f) => stop(f.child)))
  await gateway.close()

  return {
    sessions: N,
    online,
    registryFullSeconds,
    allForwardsSeconds,
    databaseOnlineSeconds,
    failedHandshakes: results.reduce((a, r) => a + r.failedAttempts, 0),
    neverOnline: results.reduce((a, r) => a + r.neverOnline, 0),
    dropped: status.reduce((a, s) => a + s.dropped, 0),
    reasons,
    rssPerSessionKiB: per(mem.rss, before.rss),
    heapPerSessionKiB: per(mem.heapUsed, before.heapUsed),
    externalPerSessionKiB: per(mem.external, before.external),
    handshakeMs,
    gatewayCpuMsPerSession: gatewayCpuMs / Math.max(1, online),
    maxLoopDelayMs,
    drainSeconds,
  }
}
