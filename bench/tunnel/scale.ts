/**
 * N idle device sessions, each with one service forward, opened from
 * separate processes against a fresh gateway process. Reports the gateway's
 * RSS per session, the time until all are online and every failed handshake.
 * The client side lives in scale-fleet.ts; `--workers N` in scale-cluster.ts.
 */
import os from 'node:os'
import path from 'node:path'
import { formatProfile, type ProfileSummary } from '../lib/cpu-profile.js'
import { machineLoad } from '../lib/machine-load.js'
import { cpuMeter } from '../lib/proc-cpu.js'
import { sleep } from '../lib/stats.js'
import { startGatewayChild } from './gateway.js'
import { FIRST_DEVICE_PORT, closeSessions, devicePortRange, droppedSessions, secondsUntil, startFleet, startStorm, stopFleet, unauthenticatedCaps, type ScaleOptions } from './scale-fleet.js'
import { afterOrNever, cpuBudgetLine, handshakeLines, memoryLine, onlineLines, scaleResult, type Memory, type ScaleResult } from './scale-report.js'

export async function runScale(options: ScaleOptions): Promise<ScaleResult> {
  const N = options.sessions
  const gateway = await startGatewayChild({ EDGETAINER_SSH_PORT_RANGE: devicePortRange(N), ...unauthenticatedCaps(options.inflight) })
  const fleet = await startFleet(N, options.processes)
  const t = Date.now()
  await gateway.rpc.call('insertDevices', { devices: fleet.devices, firstPort: FIRST_DEVICE_PORT })
  console.log(`  registered ${N} devices in the gateway's database in ${((Date.now() - t) / 1000).toFixed(1)} s`)

  const before = await gateway.rpc.call<Memory>('memory')
  if (!before.gcAvailable) console.log('  (gc() unavailable in the gateway: RSS includes garbage)')
  const baseStats = await gateway.rpc.call<{ cpu: NodeJS.CpuUsage }>('stats')
  const meter = cpuMeter({ gateway: gateway.info.pid, ...Object.fromEntries(fleet.children.map((f) => [f.name, f.pid])) })

  const machine = machineLoad()
  if (options.profileDir) await gateway.rpc.call('profileStart', { intervalUs: 1000 })
  const storm = startStorm(fleet, gateway.info, options)

  // Watch the gateway's registry fill up.
  let registryFullSeconds: number | undefined
  let maxLoopDelayMs = 0
  let lastPrint = 0
  while (Date.now() < storm.deadline) {
    const s = await gateway.rpc.call<{ tunnels: number; loopDelayMs: { max: number } }>('stats')
    maxLoopDelayMs = Math.max(maxLoopDelayMs, s.loopDelayMs.max)
    if (registryFullSeconds === undefined && s.tunnels >= N) registryFullSeconds = (Date.now() - storm.startedAt) / 1000
    if (Date.now() - lastPrint >= 5000) {
      lastPrint = Date.now()
      console.log(`    ${((Date.now() - storm.startedAt) / 1000).toFixed(0).padStart(4)} s: ${s.tunnels} sessions in the gateway registry`)
    }
    const done = storm.finished()
    if (registryFullSeconds !== undefined && done) break
    if (done && s.tunnels < N && done.reduce((a, r) => a + r.neverOnline, 0) > 0) break
    // Read every turn, not only when printed: it keeps the largest figure reached and when.
    storm.online()
    await sleep(100)
  }
  const result = await storm.finish()
  const cpu = meter.stop()
  if (options.profileDir) {
    const summary = await gateway.rpc.call<ProfileSummary>('profileStop', { file: path.join(options.profileDir, 'gateway-scale.cpuprofile') })
    console.log(formatProfile('gateway CPU profile, scale ramp', summary))
  }
  const after = await gateway.rpc.call<{ cpu: NodeJS.CpuUsage }>('stats')
  const gatewayCpuMs = (after.cpu.user + after.cpu.system - baseStats.cpu.user - baseStats.cpu.system) / 1000
  const online = result.online
  for (const l of onlineLines(result, N, `registry full ${afterOrNever(registryFullSeconds)}`)) console.log(l)
  console.log(`  cpu cores during the ramp: ${Object.entries(cpu.cores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`)
  const clientSeconds = fleet.children.reduce((a, f) => a + cpu.seconds[f.name]!, 0)
  const cores = os.availableParallelism()
  console.log(cpuBudgetLine({ gateway: cpu.seconds.gateway!, clients: clientSeconds, machine: machine.busyFraction() * cores * cpu.wallSeconds }, online, N, cores))

  const databaseOnlineSeconds = await secondsUntil(async () => (await gateway.rpc.call<number>('onlineInDatabase')) >= online, storm.startedAt, 30_000, 500)

  await sleep(2000) // let handshake garbage become collectable
  const mem = await gateway.rpc.call<Memory>('memory')
  const dropped = await droppedSessions(fleet)
  console.log(memoryLine('gateway memory', before, mem))
  for (const l of handshakeLines(result, maxLoopDelayMs)) console.log(l)
  if (options.holdSeconds) {
    console.log(`  holding the ${online} sessions ${options.holdSeconds} s (gateway pid ${gateway.info.pid}) for diagnosis`)
    await sleep(options.holdSeconds * 1000)
  }

  // Every session ends: the registry must drain.
  const drainStart = Date.now()
  await closeSessions(fleet)
  const drainSeconds = await secondsUntil(async () => (await gateway.rpc.call<{ tunnels: number }>('stats')).tunnels === 0, drainStart, 30_000)
  console.log(`  registry drained to 0 in ${drainSeconds?.toFixed(1) ?? 'more than 30'} s after the clients closed`)
  await stopFleet(fleet)
  await gateway.close()

  const registryOrForwards = Math.max(registryFullSeconds ?? Infinity, result.allForwardsSeconds ?? Infinity)
  return scaleResult(result, before, mem, {
    gateway: 'gateway',
    sessions: N,
    onlineSeconds: Number.isFinite(registryOrForwards) ? registryOrForwards : undefined,
    targets: { rssKiB: 40, onlineSeconds: 60 },
    registryFullSeconds,
    databaseOnlineSeconds,
    dropped,
    gatewayCpuMs,
    maxLoopDelayMs,
    drainSeconds,
  })
}
