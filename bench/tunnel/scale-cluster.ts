/**
 * The scale phase against `edgetainer server --workers N` on PostgreSQL (the
 * gateway as it ships on every core): one process cannot hold 50,000 sessions
 * where the open-files limit is 20,000, N workers hold about sessions/N each.
 * The primary accepts every SSH connection and hands it to a worker in turn
 * (node:cluster's round-robin), so each worker's share is its sockets.
 *
 * What the gateway does not tell from outside is taken from elsewhere: online
 * is what the clients count (each forward acknowledged) and what the database
 * says; RSS is /proc's, summed over the primary and its workers, after a full
 * GC in each (cluster-procs.ts); CPU per process from /proc.
 */
import os from 'node:os'
import pg from 'pg'
import { parsePublicKey } from '../../server/devices/device-keys.js'
import { machineLoad } from '../lib/machine-load.js'
import { cpuMeter } from '../lib/proc-cpu.js'
import { fmt, sleep } from '../lib/stats.js'
import { clusterMemory, clusterProcesses, inspectOption, inspectorUrls, openFds, type ClusterProcess } from './cluster-procs.js'
import { deviceRows } from './device-rows.js'
import { startGatewayCluster } from './gateway-cluster.js'
import { FIRST_DEVICE_PORT, closeSessions, devicePortRange, droppedSessions, secondsUntil, startFleet, startStorm, stopFleet, unauthenticatedCaps, type Fleet, type ScaleOptions } from './scale-fleet.js'
import { afterOrNever, cpuBudgetLine, handshakeLines, memoryLine, onlineLines, scaleResult, type ScaleResult } from './scale-report.js'

/** The devices, straight into the run's database in batches (the rows gateway-child.ts writes); the workers look each one up per handshake. */
async function registerDevices(db: pg.Client, fleet: Fleet): Promise<void> {
  const rows = deviceRows(fleet.devices, FIRST_DEVICE_PORT, parsePublicKey)
  for (let i = 0; i < rows.length; i += 1000) {
    const slice = rows.slice(i, i + 1000)
    await db.query(
      `insert into devices (device_id, name, status, ssh_port, subdomain, public_key, public_key_fingerprint)
       select id, id, 'offline', port, id, key, fingerprint from unnest($1::text[], $2::int[], $3::text[], $4::text[]) as t(id, port, key, fingerprint)`,
      [slice.map((r) => r.device_id), slice.map((r) => r.ssh_port), slice.map((r) => r.public_key), slice.map((r) => r.public_key_fingerprint)],
    )
  }
}

async function onlineInDatabase(db: pg.Client): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`select count(*) as n from devices where status = 'online'`)
  return Number(rows[0]!.n)
}

/** Each worker's open descriptors above its count before the storm: its share of the sessions. */
function sharesLine(workers: ClusterProcess[], baseFds: Map<number, number>): string {
  return workers.map((w) => `${w.name} ${openFds(w.pid) - (baseFds.get(w.pid) ?? 0)}`).join(', ')
}

export async function runScaleCluster(options: ScaleOptions): Promise<ScaleResult> {
  const N = options.sessions
  const W = options.workers
  if (!options.adminUrl) {
    throw new Error(`BENCH_SCALE_WORKERS=${W} runs \`edgetainer server --workers ${W}\` on PostgreSQL: set BENCH_PG_URL (or EDGETAINER_TEST_PG_URL), e.g. postgres://edgetainer:edgetainer@127.0.0.1:5433/postgres`)
  }
  // BENCH_SCALE_GC=0: no inspectors, RSS then includes garbage.
  const inspect = process.env.BENCH_SCALE_GC !== '0'
  const cluster = await startGatewayCluster({
    workers: W,
    adminUrl: options.adminUrl,
    sshPortRange: devicePortRange(N),
    env: { ...unauthenticatedCaps(options.inflight), ...(inspect ? { NODE_OPTIONS: await inspectOption(W) } : {}) },
  })
  const processes = clusterProcesses(cluster.pid)
  const workers = processes.slice(1)
  if (workers.length !== W) throw new Error(`expected ${W} workers under the primary (pid ${cluster.pid}), found ${workers.length}`)
  const urls = inspect ? inspectorUrls(cluster.output()) : []
  const fleet = await startFleet(N, options.processes)
  const db = new pg.Client({ connectionString: cluster.databaseUrl })
  await db.connect()
  try {
    const t = Date.now()
    await registerDevices(db, fleet)
    console.log(`  registered ${N} devices in the cluster's PostgreSQL database in ${((Date.now() - t) / 1000).toFixed(1)} s`)

    const before = await clusterMemory(processes, urls)
    const noGc = (m: { missed: string[] }) => `(${inspect ? `no inspector answered in ${m.missed.join('; ')}` : 'BENCH_SCALE_GC=0'}: no full GC in every process, RSS includes garbage)`
    if (!before.gcAvailable) console.log(`  before the storm ${noGc(before)}`)
    const baseFds = new Map(workers.map((w) => [w.pid, openFds(w.pid)]))
    const meter = cpuMeter({
      gateway: cluster.pid,
      ...Object.fromEntries(workers.map((w) => [w.name, w.pid])),
      ...Object.fromEntries(fleet.children.map((f) => [f.name, f.pid])),
    })
    const machine = machineLoad()
    const storm = startStorm(fleet, cluster, options)

    // Watch the clients' count and the database; the workers' descriptors show how the primary spreads the sessions.
    let databaseOnlineSeconds: number | undefined
    let lastPrint = 0
    while (Date.now() < storm.deadline && !storm.finished()) {
      const inDatabase = await onlineInDatabase(db)
      if (databaseOnlineSeconds === undefined && inDatabase >= N) databaseOnlineSeconds = (Date.now() - storm.startedAt) / 1000
      if (Date.now() - lastPrint >= 5000) {
        lastPrint = Date.now()
        const at = ((Date.now() - storm.startedAt) / 1000).toFixed(0).padStart(4)
        console.log(`    ${at} s: ${storm.online()} forwards acknowledged, ${inDatabase} online in the database; sockets per worker ${sharesLine(workers, baseFds)}`)
      }
      // Read every turn, not only when printed: it keeps the largest figure reached and when.
      storm.online()
      await sleep(500)
    }
    const result = await storm.finish()
    const cpu = meter.stop()
    const cores = os.availableParallelism()
    const busyCores = machine.busyFraction() * cores
    const online = result.online
    databaseOnlineSeconds ??= await secondsUntil(async () => (await onlineInDatabase(db)) >= online, storm.startedAt, 30_000, 500)
    for (const l of onlineLines(result, N, `the database shows them online ${afterOrNever(databaseOnlineSeconds)}`)) console.log(l)
    const workerCores = workers.map((w) => cpu.cores[w.name] ?? 0)
    const primaryCores = cpu.cores.gateway! - workerCores.reduce((a, b) => a + b, 0)
    console.log(
      `  cpu cores during the ramp: gateway ${cpu.cores.gateway!.toFixed(2)} (primary ${primaryCores.toFixed(2)}, ${workers.map((w, i) => `${w.name} ${workerCores[i]!.toFixed(2)}`).join(', ')}), ` +
        `${fleet.children.map((f) => `${f.name} ${cpu.cores[f.name]!.toFixed(2)}`).join(', ')}; the machine ${busyCores.toFixed(2)} of its cores busy (PostgreSQL and other work included)`,
    )
    const clientSeconds = fleet.children.reduce((a, f) => a + cpu.seconds[f.name]!, 0)
    console.log(cpuBudgetLine({ gateway: cpu.seconds.gateway!, clients: clientSeconds, machine: busyCores * cpu.wallSeconds }, online, N, cores))
    // Descriptors, not sessions exactly: a worker's database pool opens a few connections during the storm too.
    console.log(`  sessions per worker (descriptors above the count before the storm): ${sharesLine(workers, baseFds)}`)

    await sleep(2000) // let handshake garbage become collectable
    const mem = await clusterMemory(processes, urls)
    if (!mem.gcAvailable && inspect) console.log(`  after the storm ${noGc(mem)}`)
    const dropped = await droppedSessions(fleet)
    console.log(memoryLine(`gateway memory (primary + ${W} workers)`, before, mem))
    console.log(`  rss per process: ${Object.entries(mem.byName).map(([name, rss]) => `${name} ${fmt(rss / 1048576)} MiB`).join(', ')}`)
    for (const l of handshakeLines(result)) console.log(l)

    // Every session ends: the database must show every device offline again.
    const drainStart = Date.now()
    await closeSessions(fleet)
    const drainSeconds = await secondsUntil(async () => (await onlineInDatabase(db)) === 0, drainStart, 60_000, 250)
    console.log(`  database drained to 0 online in ${drainSeconds?.toFixed(1) ?? 'more than 60'} s after the clients closed; sockets per worker left ${sharesLine(workers, baseFds)}`)
    await stopFleet(fleet)

    return scaleResult(result, before, mem, {
      gateway: `gateway --workers ${W}`,
      sessions: N,
      // The clients' count is the truth for online; the database follows it in batches.
      onlineSeconds: result.allForwardsSeconds,
      targets: { rssKiB: 16, onlineSeconds: 90 },
      registryFullSeconds: undefined,
      databaseOnlineSeconds,
      dropped,
      gatewayCpuMs: cpu.seconds.gateway! * 1000,
      maxLoopDelayMs: NaN,
      drainSeconds,
    })
  } finally {
    await db.end()
    await cluster.close()
  }
}
