/**
 * Throughput and requests per second through two tunnels that differ only
 * in their server: the gateway (ssh2 + subdomain proxy) and a stock OpenSSH
 * sshd. Both device sides are the same stock `ssh -R` with the same cipher,
 * leading to the same device-local HTTP server. Over 300 lines on purpose: every
 * path (gateway, N workers, nginx + sshd, raw sshd) goes through one setup and one
 * loop of phases, so that each phase measures all of them the same way, in one run.
 */
import { fileURLToPath } from 'node:url'
import path from 'node:path'
import { RpcChild } from '../lib/child-rpc.js'
import { forkTs, onCleanup, run, stop } from '../lib/processes.js'
import { startSshd, startSshTunnel, tempDir, writeNewKeyPair, type Negotiated } from '../lib/openssh.js'
import { cpuMeter, formatCores } from '../lib/proc-cpu.js'
import { machineLoad } from '../lib/machine-load.js'
import { MiB, fmt, median, ratio } from '../lib/stats.js'
import { runWrk, wrkAvailable, type LoadResult } from '../lib/wrk.js'
import { runNodeLoad } from '../lib/http-load.js'
import { formatProfile, type ProfileSummary } from '../lib/cpu-profile.js'
import { readStraceSummary, straceCounts } from '../lib/strace.js'
import { adminApi, startGatewayChild, type GatewayChild } from './gateway.js'
import { startNginx } from '../lib/nginx.js'
import { startGatewayCluster } from './gateway-cluster.js'

export interface TunnelOptions {
  bytes: number
  throughputRounds: number
  rpsSeconds: number
  rpsRounds: number
  connections: number
  cipher: string
  profileDir: string | undefined
  /** strace -c the server side of the first round of each path (BENCH_STRACE=1). */
  strace: boolean
  /** Seconds to keep the tunnels up before measuring, for manual diagnosis (BENCH_HOLD). */
  holdSeconds: number
  phases: Set<string>
  /** Single-connection latency: seconds per run (BENCH_LATENCY_SECONDS). */
  latencySeconds: number
  /** `edgetainer server --workers N` as one more path, on this PostgreSQL (BENCH_WORKERS, BENCH_PG_URL); 0 or no URL: left out. */
  cluster: { workers: number; adminUrl: string | undefined }
}

export interface PathTarget {
  /**
   * gateway: one gateway process; gateway-workers: `edgetainer server --workers N`; nginx: nginx proxy_pass
   * (upstream keep-alive) in front of the sshd's forward, the hand-built reference; openssh: that forward raw;
   * gateway-tcp: the device's sshd-style forward on the gateway (ssh2 + splice, no HTTP proxy), to split the gap.
   */
  name: 'gateway' | 'gateway-workers' | 'nginx' | 'openssh' | 'gateway-tcp'
  port: number
  host: string
  /** Process trees whose CPU is sampled: the server side, the device's ssh, the device app. */
  cpuRoots: Record<string, number>
}

export interface ThroughputResult {
  /** Median MiB/s of every measured path. */
  byPath: Record<string, number>
  gatewayMiBs: number
  opensshMiBs: number
  gatewayTcpMiBs: number
  runs: { path: string; mibs: number; cores: string; serverMsPerMiB: number }[]
}

export interface RpsResult {
  /** The median run of every measured path. */
  byPath: Record<string, LoadResult>
  gatewayTcp: LoadResult | undefined
  cores: Record<string, string>
}

export interface TunnelResults {
  negotiated: { gateway: Negotiated; openssh: Negotiated }
  throughput?: ThroughputResult
  rps?: RpsResult
  /** Single-connection latency, the median run of every path. */
  latency?: Record<string, LoadResult>
  /** Why the N-worker path is not in the figures, when it is not. */
  clusterNote?: string
  workers?: number
  profiles: string[]
  /** Warnings the gateway printed more than once (e.g. a listener leak per channel). */
  warnings?: string[]
}

const SERVICE_HOST = 'web.bench-tp.localhost'

function channelOpens(sshOutput: string): number {
  return (sshOutput.match(/client_input_channel_open: ctype forwarded-tcpip/g) ?? []).length
}

async function curlDownload(target: PathTarget, bytes: number): Promise<number> {
  const url = `http://127.0.0.1:${target.port}/bulk?bytes=${bytes}`
  const res = await run('curl', ['-sS', '-o', '/dev/null', '--http1.1', '-H', `Host: ${target.host}`, '-w', '%{http_code} %{size_download} %{time_total}', url], {
    timeoutMs: 600_000,
  })
  const [code, size, seconds] = res.stdout.trim().split(' ')
  if (res.code !== 0 || code !== '200' || Number(size) !== bytes) {
    throw new Error(`${target.name} download failed: curl ${res.code}, HTTP ${code}, ${size}/${bytes} bytes ${res.stderr.trim()}`)
  }
  return bytes / MiB / Number(seconds)
}

async function load(target: PathTarget, seconds: number, connections: number, useWrk: boolean): Promise<LoadResult> {
  const result = useWrk
    ? await runWrk({ url: `http://127.0.0.1:${target.port}/small`, host: target.host, connections, threads: Math.min(2, connections), seconds })
    : await runNodeLoad({ port: target.port, host: target.host, path: '/small', connections, seconds })
  if (result.requests === 0) throw new Error(`${target.name}: no request succeeded`)
  return result
}

/** CPU of the server side of a path: everything measured but the device's ssh and its app (nginx and sshd both count). */
function serverSeconds(seconds: Record<string, number>): number {
  return Object.entries(seconds).filter(([name]) => name !== 'ssh -R' && name !== 'app').reduce((sum, [, v]) => sum + v, 0)
}

/** Fresh connections answer 200 through every worker? Until peer forwarding lands, a worker without the tunnel answers 502. */
async function probeEveryWorker(target: PathTarget, workers: number): Promise<string | undefined> {
  const codes: string[] = []
  for (let i = 0; i < 4 * workers; i++) {
    const res = await run('curl', ['-sS', '-o', '/dev/null', '--http1.1', '-H', `Host: ${target.host}`, '-w', '%{http_code}', `http://127.0.0.1:${target.port}/small`], { timeoutMs: 20_000 })
    codes.push(res.stdout.trim() || `curl ${res.code}`)
  }
  const bad = codes.filter((c) => c !== '200')
  return bad.length ? `${bad.length} of ${codes.length} fresh connections answered ${[...new Set(bad)].join('/')} (a worker without the device's tunnel; this awaits peer forwarding between nodes)` : undefined
}

interface Collections {
  full: number
  fullMs: number
  young: number
  youngMs: number
}

/** The single gateway's garbage collections during `fn`, as a few words for its round's line (other paths: empty). */
async function withCollections<T>(gateway: GatewayChild, target: PathTarget, fn: () => Promise<T>): Promise<{ result: T; gcText: string }> {
  if (target.name !== 'gateway') return { result: await fn(), gcText: '' }
  const before = await gateway.rpc.call<Collections>('collections')
  const result = await fn()
  const after = await gateway.rpc.call<Collections>('collections')
  const full = after.full - before.full
  const young = after.young - before.young
  return { result, gcText: `; GC ${full} full (${fmt(after.fullMs - before.fullMs, 0)} ms), ${young} young (${fmt(after.youngMs - before.youngMs, 0)} ms)` }
}

async function profiled<T>(gateway: GatewayChild, options: TunnelOptions, name: string, profiles: string[], fn: () => Promise<T>): Promise<T> {
  if (!options.profileDir) return fn()
  await gateway.rpc.call('profileStart')
  try {
    return await fn()
  } finally {
    const summary = await gateway.rpc.call<ProfileSummary>('profileStop', { file: path.join(options.profileDir, `gateway-${name}.cpuprofile`) })
    const text = formatProfile(`gateway CPU profile, ${name}`, summary)
    profiles.push(text)
    console.log(text)
  }
}

/** The gateway, the sshd, one device app and the two `ssh -R` devices, all connected and checked. */
export async function setupTunnels(cipher: string, cluster: TunnelOptions['cluster'] = { workers: 0, adminUrl: undefined }) {
  const gateway = await startGatewayChild({ EDGETAINER_SSH_PORT_RANGE: '61000-61099' })
  const api = await adminApi(gateway.info.httpPort)
  const keys = writeNewKeyPair(tempDir('et-bench-keys-'), 'bench-tp')
  const device = await api.post('/api/devices', { name: 'Bench throughput', device_id: 'bench-tp', public_key: keys.publicKey })
  await api.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false })

  const appChild = new RpcChild(forkTs(fileURLToPath(new URL('./device-http-child.ts', import.meta.url))), 'device-app')
  const app = await appChild.waitEvent<{ port: number; pid: number }>('ready')
  onCleanup(async () => {
    await appChild.call('close', undefined, 5000).catch(() => {})
    await stop(appChild.child)
  })

  const sshd = await startSshd()
  const viaGateway = await startSshTunnel({
    port: gateway.info.sshPort,
    hostPublicKey: gateway.info.hostPublicKey,
    user: 'bench-tp',
    keyFile: keys.privateKeyFile,
    // As a real device: its sshd forward (here to the app, for the diagnostic raw-TCP path) and a service.
    forwards: [`0:localhost:${app.port}`, `web:80:localhost:${app.port}`],
    cipher: cipher,
  })
  const viaSshd = await startSshTunnel({
    port: sshd.port,
    hostPublicKey: sshd.hostPublicKey,
    user: 'root',
    keyFile: sshd.client.privateKeyFile,
    forwards: [`0:localhost:${app.port}`],
    cipher: cipher,
  })
  // The hand-built reference: nginx in front of the very same sshd forward.
  const nginx = await startNginx(viaSshd.allocatedPorts[0]!)
  const negotiated = { gateway: viaGateway.negotiated(), openssh: viaSshd.negotiated() }
  console.log(`  negotiated via gateway: kex ${negotiated.gateway.kex}, s->c ${negotiated.gateway.serverToClient}, c->s ${negotiated.gateway.clientToServer}`)
  console.log(`  negotiated via sshd:    kex ${negotiated.openssh.kex}, s->c ${negotiated.openssh.serverToClient}, c->s ${negotiated.openssh.clientToServer}`)
  if (negotiated.gateway.clientToServer !== negotiated.openssh.clientToServer || negotiated.gateway.serverToClient !== negotiated.openssh.serverToClient) {
    throw new Error('the two tunnels negotiated different ciphers; the comparison would be unfair')
  }

  const targets: PathTarget[] = [
    { name: 'gateway', port: gateway.info.httpPort, host: SERVICE_HOST, cpuRoots: { server: gateway.info.pid, 'ssh -R': viaGateway.pid, app: app.pid } },
    { name: 'nginx', port: nginx.port, host: SERVICE_HOST, cpuRoots: { nginx: nginx.pid, server: sshd.pid, 'ssh -R': viaSshd.pid, app: app.pid } },
    { name: 'openssh', port: viaSshd.allocatedPorts[0]!, host: SERVICE_HOST, cpuRoots: { server: sshd.pid, 'ssh -R': viaSshd.pid, app: app.pid } },
    { name: 'gateway-tcp', port: device.ssh_port, host: SERVICE_HOST, cpuRoots: { server: gateway.info.pid, 'ssh -R': viaGateway.pid, app: app.pid } },
  ]
  // The same device (its own key) through `edgetainer server --workers N` on PostgreSQL, when asked for.
  let clusterNote: string | undefined
  let viaCluster: Awaited<ReturnType<typeof startSshTunnel>> | undefined
  if (cluster.workers > 1 && cluster.adminUrl) {
    const gw = await startGatewayCluster({ workers: cluster.workers, adminUrl: cluster.adminUrl, sshPortRange: '61100-61199' })
    const capi = await adminApi(gw.httpPort)
    const ckeys = writeNewKeyPair(tempDir('et-bench-keys-'), 'bench-tp-workers')
    const cdevice = await capi.post('/api/devices', { name: 'Bench workers', device_id: 'bench-tp', public_key: ckeys.publicKey })
    await capi.post(`/api/devices/${cdevice.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false })
    viaCluster = await startSshTunnel({ port: gw.sshPort, hostPublicKey: gw.hostPublicKey, user: 'bench-tp', keyFile: ckeys.privateKeyFile, forwards: [`web:80:localhost:${app.port}`], cipher })
    const target: PathTarget = { name: 'gateway-workers', port: gw.httpPort, host: SERVICE_HOST, cpuRoots: { server: gw.pid, 'ssh -R': viaCluster.pid, app: app.pid } }
    clusterNote = await probeEveryWorker(target, cluster.workers)
    if (clusterNote) console.log(`  gateway --workers ${cluster.workers}: left out of the figures: ${clusterNote}`)
    else targets.splice(1, 0, target)
  } else if (cluster.workers > 1) {
    clusterNote = 'no PostgreSQL for it: set BENCH_PG_URL (or EDGETAINER_TEST_PG_URL) to an admin URL'
    console.log(`  gateway --workers ${cluster.workers}: left out: ${clusterNote}`)
  }
  // Every path must answer before anything is timed.
  for (const t of targets) await curlDownload(t, 1024)
  return {
    gateway,
    app,
    sshd,
    viaGateway,
    viaSshd,
    negotiated,
    targets,
    clusterNote,
    async close() {
      if (viaCluster) await stop(viaCluster.child)
      await stop(viaGateway.child)
      await stop(viaSshd.child)
      await appChild.call('close', undefined, 5000).catch(() => {})
      await gateway.close()
    },
  }
}

export async function runTunnelPhases(options: TunnelOptions): Promise<TunnelResults> {
  const setup = await setupTunnels(options.cipher, options.cluster)
  const { gateway, viaGateway, viaSshd, negotiated } = setup
  const only = process.env.BENCH_PATHS?.split(',')
  const targets = only ? setup.targets.filter((t) => only.includes(t.name)) : setup.targets
  if (options.holdSeconds) {
    // Diagnosis: leave everything up for poking with curl, wrk, perf or strace.
    console.log(JSON.stringify({ targets: setup.targets, gatewayPid: gateway.info.pid, sshdPid: setup.sshd.pid, appPid: setup.app.pid }, null, 2))
    await new Promise((r) => setTimeout(r, options.holdSeconds * 1000))
  }

  const results: TunnelResults = { negotiated, profiles: [], clusterNote: setup.clusterNote, workers: options.cluster.workers }

  if (options.phases.has('throughput')) {
    console.log(`\n  throughput: ${fmt(options.bytes / MiB, 0)} MiB per download, ${options.throughputRounds} rounds, order alternating`)
    for (const t of targets) await curlDownload(t, Math.min(options.bytes, 64 * MiB)) // warm-up: JIT, windows, buffers
    const runs: ThroughputResult['runs'] = []
    for (let round = 0; round < options.throughputRounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse()
      for (const t of order) {
        const meter = cpuMeter(t.cpuRoots)
        const machine = machineLoad()
        let measure = () => curlDownload(t, options.bytes)
        const straceFile = path.join(options.profileDir ?? path.resolve('test-artifacts/bench'), `strace-throughput-${t.name}.txt`)
        if (options.strace && round === 0) {
          const plain = measure
          measure = async () => (await straceCounts(t.cpuRoots.server!, straceFile, plain)).result
        }
        const { result: mibs, gcText } = await withCollections(gateway, t, () =>
          t.name.startsWith('gateway') && round === 0 ? profiled(gateway, options, `throughput-${t.name}`, results.profiles, measure) : measure(),
        )
        if (options.strace && round === 0) console.log(readStraceSummary(straceFile))
        const used = meter.stop()
        const cores = formatCores(used.cores)
        // CPU per MiB of the server side: steadier than MiB/s on a shared machine.
        const serverMsPerMiB = (1000 * serverSeconds(used.seconds)) / (options.bytes / MiB)
        runs.push({ path: t.name, mibs, cores, serverMsPerMiB })
        console.log(
          `    round ${round + 1} ${t.name.padEnd(11)} ${fmt(mibs).padStart(8)} MiB/s   server ${fmt(serverMsPerMiB, 2)} ms CPU/MiB   cores: ${cores}; machine ${(100 * machine.busyFraction()).toFixed(0)}% busy${gcText}`,
        )
      }
    }
    const gatewayMiBs = median(runs.filter((r) => r.path === 'gateway').map((r) => r.mibs))
    const opensshMiBs = median(runs.filter((r) => r.path === 'openssh').map((r) => r.mibs))
    const gatewayTcpMiBs = median(runs.filter((r) => r.path === 'gateway-tcp').map((r) => r.mibs))
    console.log(
      `  throughput median: gateway ${fmt(gatewayMiBs)} MiB/s, openssh ${fmt(opensshMiBs)} MiB/s, ratio ${ratio(gatewayMiBs, opensshMiBs)}; gateway raw TCP forward ${fmt(gatewayTcpMiBs)} MiB/s (ratio ${ratio(gatewayTcpMiBs, opensshMiBs)})`,
    )
    const byPath = Object.fromEntries(targets.map((t) => [t.name, median(runs.filter((r) => r.path === t.name).map((r) => r.mibs))]))
    results.throughput = { byPath, gatewayMiBs, opensshMiBs, gatewayTcpMiBs, runs }
  }

  if (options.phases.has('rps')) {
    const useWrk = await wrkAvailable()
    console.log(`\n  requests/s: ${useWrk ? 'wrk -t2' : 'node load generator'} -c${options.connections}, 100-byte body, keep-alive, ${options.rpsSeconds} s x ${options.rpsRounds} rounds`)
    for (const t of targets) await load(t, 2, options.connections, useWrk) // warm-up: opens the channels
    const channelsBefore = { gateway: channelOpens(viaGateway.output()), openssh: channelOpens(viaSshd.output()) }
    // (the gateway-tcp path opens one channel per TCP connection, counted with the gateway's)
    const byPath: Record<string, LoadResult[]> = Object.fromEntries(targets.map((t) => [t.name, []]))
    const cores: Record<string, string> = {}
    for (let round = 0; round < options.rpsRounds; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse()
      for (const t of order) {
        const meter = cpuMeter(t.cpuRoots)
        const machine = machineLoad()
        let measure = () => load(t, options.rpsSeconds, options.connections, useWrk)
        const straceFile = path.join(options.profileDir ?? path.resolve('test-artifacts/bench'), `strace-rps-${t.name}.txt`)
        if (options.strace && round === 0) {
          const plain = measure
          measure = async () => (await straceCounts(t.cpuRoots.server!, straceFile, plain)).result
        }
        const { result: r, gcText } = await withCollections(gateway, t, () =>
          t.name.startsWith('gateway') && round === 0 ? profiled(gateway, options, `rps-${t.name}`, results.profiles, measure) : measure(),
        )
        if (options.strace && round === 0) console.log(readStraceSummary(straceFile))
        const used = meter.stop()
        cores[t.name] = formatCores(used.cores)
        const serverUsPerRequest = (1e6 * serverSeconds(used.seconds)) / Math.max(1, r.requests)
        byPath[t.name]!.push(r)
        console.log(
          `    round ${round + 1} ${t.name.padEnd(11)} ${fmt(r.rps, 0).padStart(8)} req/s  p50 ${fmt(r.p50Ms, 2)} ms  p99 ${fmt(r.p99Ms, 2)} ms  errors ${r.errors} non-2xx ${r.non2xx}  server ${fmt(serverUsPerRequest, 0)} us CPU/req  cores: ${cores[t.name]}; machine ${(100 * machine.busyFraction()).toFixed(0)}% busy${gcText}`,
        )
      }
    }
    // Keep-alive reuse: the device's ssh logs each forwarded-tcpip channel it is asked to open.
    console.log(
      `  channels opened to the device during the measured runs: via gateway ${channelOpens(viaGateway.output()) - channelsBefore.gateway}, via sshd ${channelOpens(viaSshd.output()) - channelsBefore.openssh}`,
    )
    const pick = (list: LoadResult[] | undefined) => (list?.length ? [...list].sort((a, b) => a.rps - b.rps)[Math.floor((list.length - 1) / 2)] : undefined)
    // BENCH_PATHS may leave any path out: the medians name only what ran.
    const medians = targets.map((t) => [t.name, pick(byPath[t.name])!] as const)
    console.log(`  requests/s median: ${medians.map(([name, r]) => `${name} ${fmt(r.rps, 0)}`).join(', ')}`)
    results.rps = { byPath: Object.fromEntries(medians), gatewayTcp: pick(byPath['gateway-tcp']), cores }
  }

  if (options.phases.has('latency')) {
    // One connection, one request at a time: what a single user waits per request, with no queueing.
    const useWrk = await wrkAvailable()
    console.log(`\n  latency: one keep-alive connection, ${options.latencySeconds} s x ${options.rpsRounds} rounds`)
    const byPath: Record<string, LoadResult[]> = Object.fromEntries(targets.map((t) => [t.name, []]))
    for (let round = 0; round < options.rpsRounds; round++) {
      for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
        const r = await load(t, options.latencySeconds, 1, useWrk)
        byPath[t.name]!.push(r)
        console.log(`    round ${round + 1} ${t.name.padEnd(15)} p50 ${fmt(r.p50Ms, 3)} ms  p99 ${fmt(r.p99Ms, 3)} ms  ${fmt(r.rps, 0)} req/s`)
      }
    }
    const pick = (list: LoadResult[]) => [...list].sort((a, b) => a.p50Ms - b.p50Ms)[Math.floor((list.length - 1) / 2)]!
    results.latency = Object.fromEntries(targets.map((t) => [t.name, pick(byPath[t.name]!)]))
  }

  results.warnings = gateway.warnings()
  for (const w of results.warnings) console.log(`  ${w}`)
  await setup.close()
  return results
}
