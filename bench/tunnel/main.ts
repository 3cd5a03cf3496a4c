/**
 * bench/tunnel: the gateway's SSH tunnel and subdomain proxy against a stock
 * OpenSSH sshd + `ssh -R` tunnel measured in the same run, plus N idle
 * device sessions. Prints each figure, its ratio and its target.
 *
 * Environment (defaults in brackets):
 *   BENCH_BYTES [1GiB]           bytes per bulk download
 *   BENCH_TP_ROUNDS [3]          downloads per path (median is reported)
 *   BENCH_RPS_SECONDS [10]       seconds per load run; BENCH_RPS_ROUNDS [2]
 *   BENCH_CONNECTIONS [50]       concurrent keep-alive connections
 *   BENCH_CIPHER [aes128-gcm@openssh.com]  forced on both ssh -R clients
 *   BENCH_SCALE_N [10000]        idle sessions; BENCH_SCALE_PROCS [2] client processes
 *   BENCH_SCALE_INFLIGHT [1000]  handshakes in flight across the client processes (a reconnect burst)
 *   BENCH_SCALE_READY_TIMEOUT_MS [20000]  ssh2's default handshake timeout
 *   BENCH_SCALE_RETRIES [2]      retries of a failed handshake (each failure is counted)
 *   BENCH_SCALE_TIMEOUT_S [180]  how long to wait for the registry to fill
 *   BENCH_LATENCY_SECONDS [5]    seconds per single-connection latency run (BENCH_RPS_ROUNDS rounds)
 *   BENCH_WORKERS [cores]        `edgetainer server --workers N` as one more path (0 or 1: left out);
 *   BENCH_PG_URL [EDGETAINER_TEST_PG_URL]  PostgreSQL admin URL for it (a database is made and dropped)
 *   BENCH_PHASES [throughput,rps,latency,scale]
 *   BENCH_PROFILE=1              CPU-profile the gateway during the first gateway run of each phase
 *                                (slows it; for diagnosis, not for the figures)
 *   BENCH_STRACE=1               strace -c the server side (gateway / sshd) of the first run of each path
 *   BENCH_HOLD=<seconds>         keep the tunnels up that long before measuring and print their ports and pids
 *   BENCH_SERVER_DIR=<dir>       benchmark a modified copy of server/ (migrations/ etc. beside it)
 *   BENCH_PATHS [gateway,gateway-workers,nginx,openssh,gateway-tcp]  nginx = nginx proxy_pass (upstream keep-alive)
 *                                in front of the sshd forward, the reference; openssh = that forward raw;
 *                                gateway-tcp = the device's sshd-style port forward (no HTTP proxy)
 *   BENCH_GATEWAY_NODE_FLAGS     extra node flags for the gateway process (e.g. --max-semi-space-size=32)
 *   BENCH_GATEWAY_LOG_LEVEL      the gateway's log level (silent by default)
 *   BENCH_STRICT=1               exit 1 when a target is missed
 */
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { cleanupAll, run } from '../lib/processes.js'
import { GiB, MiB, envBytes, envInt, fmt, ratio } from '../lib/stats.js'
import { wrkAvailable } from '../lib/wrk.js'
import { backgroundLoad } from '../lib/machine-load.js'
import { runTunnelPhases, type TunnelResults } from './tunnel-phases.js'
import { runScale, type ScaleResult } from './scale.js'

const phases = new Set((process.env.BENCH_PHASES ?? 'throughput,rps,latency,scale').split(',').map((s) => s.trim()))
const options = {
  bytes: envBytes('BENCH_BYTES', GiB),
  throughputRounds: envInt('BENCH_TP_ROUNDS', 3),
  rpsSeconds: envInt('BENCH_RPS_SECONDS', 10),
  rpsRounds: envInt('BENCH_RPS_ROUNDS', 2),
  connections: envInt('BENCH_CONNECTIONS', 50),
  cipher: process.env.BENCH_CIPHER ?? 'aes128-gcm@openssh.com',
  profileDir: process.env.BENCH_PROFILE === '1' ? path.resolve('test-artifacts/bench') : undefined,
  strace: process.env.BENCH_STRACE === '1',
  holdSeconds: envInt('BENCH_HOLD', 0),
  phases,
  latencySeconds: envInt('BENCH_LATENCY_SECONDS', 5),
  cluster: { workers: envInt('BENCH_WORKERS', os.availableParallelism()), adminUrl: process.env.BENCH_PG_URL ?? process.env.EDGETAINER_TEST_PG_URL },
}
const scaleOptions = {
  profileDir: options.profileDir,
  sessions: envInt('BENCH_SCALE_N', 10_000),
  processes: envInt('BENCH_SCALE_PROCS', 2),
  inflight: envInt('BENCH_SCALE_INFLIGHT', 1000),
  readyTimeoutMs: envInt('BENCH_SCALE_READY_TIMEOUT_MS', 20_000),
  retries: envInt('BENCH_SCALE_RETRIES', 2),
  timeoutSeconds: envInt('BENCH_SCALE_TIMEOUT_S', 180),
}

function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
  return Number(line?.split(/\s+/)[3] ?? 0)
}

async function preflight() {
  for (const tool of ['ssh', 'curl', '/usr/sbin/sshd', 'ssh-keygen', 'nginx']) {
    if ((await run('sh', ['-c', `command -v ${tool}`])).code !== 0) throw new Error(`${tool} is missing (scripts/run-bench.sh installs it)`)
  }
  if (phases.has('rps') && !(await wrkAvailable())) console.log('  wrk is missing: using the node load generator (bench/lib/http-load.ts)')
  const limit = openFilesLimit()
  if (phases.has('scale') && limit < scaleOptions.sessions + 2000) {
    throw new Error(`open-files limit ${limit} is too low for ${scaleOptions.sessions} sessions; raise it (ulimit -n 65536) or lower BENCH_SCALE_N`)
  }
}

function line(cells: string[]): string {
  const widths = [12, 20, 20, 8, 12, 6]
  return cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ')
}

function verdict(ok: boolean): string {
  return ok ? 'ok' : 'MISSED'
}

/** One row per measure: each path's figure, then the ratios against nginx + sshd (the reference) and the raw sshd forward. */
function tunnelRows(tunnel: TunnelResults): { rows: string[]; met: boolean } {
  const n = tunnel.workers ?? 0
  const paths = ['gateway', 'gateway-workers', 'nginx', 'openssh'] as const
  const heads = ['', 'gateway', `gw ${n} workers`, 'nginx+sshd', 'sshd raw', 'gw/nginx', `gw${n}w/nginx`, 'gw/sshd', 'target', '']
  const widths = [12, 16, 16, 16, 16, 9, 11, 8, 10, 6]
  const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' ')
  const rows = [row(heads)]
  let met = true
  // better: 'high' when more is better; the target applies to the best gateway figure (every core in use when measured).
  const add = (label: string, values: Record<string, number>, unit: string, digits: number, better: 'high' | 'low', target?: number) => {
    const ref = values.nginx ?? NaN
    const r = (p: string) => ratio(values[p] ?? NaN, ref)
    const best = Math.max(...['gateway', 'gateway-workers'].map((p) => values[p]).filter((v): v is number => Number.isFinite(v)).map((v) => (better === 'high' ? v / ref : ref / v)))
    const ok = target === undefined ? undefined : best >= target
    if (ok === false) met = false
    rows.push(row([label, ...paths.map((p) => (Number.isFinite(values[p]) ? `${fmt(values[p]!, digits)} ${unit}` : '-')), r('gateway'), r('gateway-workers'), ratio(values.gateway ?? NaN, values.openssh ?? NaN),
      target === undefined ? '' : better === 'high' ? `>= ${target.toFixed(2)}` : `<= ${(1 / target).toFixed(2)}`, ok === undefined ? '' : verdict(ok)]))
  }
  const pick = <T,>(m: Record<string, T> | undefined, f: (v: T) => number) => Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, f(v)]))
  if (tunnel.throughput) add('bulk', tunnel.throughput.byPath, 'MiB/s', 1, 'high', 1)
  if (tunnel.rps) {
    add('requests/s', pick(tunnel.rps.byPath, (r) => r.rps), 'req/s', 0, 'high', 1)
    add('  p50 (load)', pick(tunnel.rps.byPath, (r) => r.p50Ms), 'ms', 2, 'low')
    add('  p99 (load)', pick(tunnel.rps.byPath, (r) => r.p99Ms), 'ms', 2, 'low')
  }
  if (tunnel.latency) {
    add('p50 1 conn', pick(tunnel.latency, (r) => r.p50Ms), 'ms', 3, 'low', 1 / 1.1)
    add('p99 1 conn', pick(tunnel.latency, (r) => r.p99Ms), 'ms', 3, 'low')
  }
  const tcpTp = tunnel.throughput?.gatewayTcpMiBs
  if (tcpTp !== undefined && Number.isFinite(tcpTp)) rows.push(row(['  tcp fwd*', `${fmt(tcpTp)} MiB/s`, '', '', '', ratio(tcpTp, tunnel.throughput!.byPath.nginx ?? NaN)]))
  const tcp = tunnel.rps?.gatewayTcp
  if (tcp) rows.push(row(['  tcp fwd*', `${fmt(tcp.rps, 0)} req/s`, '', '', '', ratio(tcp.rps, tunnel.rps!.byPath.nginx?.rps ?? NaN)]))
  return { rows, met }
}

function summary(tunnel: TunnelResults | undefined, scale: ScaleResult | undefined): boolean {
  let allMet = true
  const rows: string[] = []
  if (tunnel?.throughput || tunnel?.rps || tunnel?.latency) {
    const t = tunnelRows(tunnel)
    rows.push(...t.rows)
    allMet &&= t.met
  }
  if (scale) {
    const memMet = scale.rssPerSessionKiB <= 40
    const timeMet = scale.online === scale.sessions && (scale.registryFullSeconds ?? Infinity) <= 60 && (scale.allForwardsSeconds ?? Infinity) <= 60
    const failMet = scale.failedHandshakes === 0 && scale.neverOnline === 0 && scale.dropped === 0
    allMet &&= memMet && timeMet && failMet
    const online = Math.max(scale.registryFullSeconds ?? Infinity, scale.allForwardsSeconds ?? Infinity)
    rows.push(line(['scale', `${scale.online}/${scale.sessions} sessions`, '', '', '', '']))
    rows.push(line(['  RSS/session', `${fmt(scale.rssPerSessionKiB)} KiB`, '', '', '<= 40 KiB', verdict(memMet)]))
    rows.push(line(['  all online', Number.isFinite(online) ? `${fmt(online)} s` : 'never', '', '', '<= 60 s', verdict(timeMet)]))
    rows.push(line(['  failed hs', `${scale.failedHandshakes} (${scale.neverOnline} never)`, '', '', '0', verdict(failMet)]))
  }
  console.log('\n== bench/tunnel summary')
  for (const r of rows) console.log(r)
  if (tunnel?.throughput || tunnel?.rps) console.log('* tcp fwd: the same device through the gateway\'s loopback port forward (ssh2 transport only, no HTTP proxy), for diagnosis')
  if (tunnel) console.log('ratios: gateway / (nginx proxy_pass with upstream keep-alive -> sshd ssh -R forward), same device app and ssh client; latency ratios are gateway/reference (lower is better)')
  if (tunnel?.clusterNote) console.log(`gateway --workers ${tunnel.workers}: not measured: ${tunnel.clusterNote}`)
  if (tunnel) console.log(`cipher both paths: ${tunnel.negotiated.gateway.serverToClient} (kex ${tunnel.negotiated.gateway.kex})`)
  for (const w of tunnel?.warnings ?? []) console.log(`warning: ${w}`)
  if (scale) {
    console.log(
      `scale detail: heap ${fmt(scale.heapPerSessionKiB)} KiB + external ${fmt(scale.externalPerSessionKiB)} KiB per session; gateway CPU ${fmt(scale.gatewayCpuMsPerSession, 2)} ms per session; ` +
        `handshake p50/p99 ${fmt(scale.handshakeMs.p50, 0)}/${fmt(scale.handshakeMs.p99, 0)} ms; status in DB after ${scale.databaseOnlineSeconds?.toFixed(1) ?? 'never'} s; drained in ${scale.drainSeconds?.toFixed(1) ?? 'never'} s`,
    )
  }
  return allMet
}

let exitCode = 0
try {
  console.log(
    `bench/tunnel: ${fmt(options.bytes / MiB, 0)} MiB downloads, ${options.connections} connections for ${options.rpsSeconds} s, ${scaleOptions.sessions} idle sessions; phases ${[...phases].join(',')}`,
  )
  await preflight()
  const background = await backgroundLoad()
  const cpus = os.cpus().length
  console.log(`  before starting, the machine's ${cpus} CPUs were ${(100 * background).toFixed(0)}% busy with other processes`)
  let tunnel: TunnelResults | undefined
  let scale: ScaleResult | undefined
  if (phases.has('throughput') || phases.has('rps')) {
    console.log('\n== throughput and requests/s: gateway vs stock OpenSSH')
    tunnel = await runTunnelPhases(options)
  }
  if (phases.has('scale')) {
    console.log(`\n== scale: ${scaleOptions.sessions} idle device sessions from ${scaleOptions.processes} client processes, ${scaleOptions.inflight} handshakes in flight`)
    scale = await runScale(scaleOptions)
  }
  const met = summary(tunnel, scale)
  console.log(`background load at start: ${(100 * background).toFixed(0)}% of ${cpus} CPUs busy before the bench (absolute figures shrink with it; ratios are measured in alternation)`)
  if (!met && process.env.BENCH_STRICT === '1') exitCode = 1
} catch (err) {
  console.error('bench/tunnel failed:', err)
  exitCode = 1
} finally {
  await cleanupAll()
}
process.exit(exitCode)
