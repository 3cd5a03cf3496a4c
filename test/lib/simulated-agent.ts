import http from 'node:http'
import type { Duplex } from 'node:stream'
import { asSocketLike } from '../../shared/channel-socket.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import { AGENT_PATHS, type AgentSoftwareResponse, type ContainerState, type HeartbeatRequest, type OutboxEvent, type StatusBatch } from '../../shared/agent-wire.js'
import type { HttpClient } from './http-client.js'
import { newKeyPair, type TestKeyPair } from './keys.js'
import { connectSsh2Device, type Ssh2Device } from './ssh2-device.js'

/** What a simulated device does with a release: runs it, fails it (the agent rolls back), or runs it and then crashes. */
export type Outcome = 'ok' | 'fail' | 'crash'

export interface SimulatedAgent {
  id: string
  device_id: string
  /** software_id → the version it runs now. */
  running: Map<string, string>
  /** Every (software, version, attempt) it was told to run, in order. */
  received: string[]
  /** One round: heartbeat, fetch the target, act on what changed, report. */
  step(): Promise<void>
  disconnect(): void
  reconnect(sshPort: number): Promise<void>
  online(): boolean
}

type OutboxEventInputLike = { kind: 'deploy'; software_id: string; name: string; version: string; status: 'deploying' | 'running' | 'failed' | 'rolled_back'; error: string | null }

const project = (name: string, softwareId: string) => `et-${name}-${softwareId.replace(/-/g, '').slice(0, 6)}`

/**
 * A device that speaks the real agent protocol over a real SSH tunnel
 * (direct-tcpip channels to the agent API), without docker: it "runs" a
 * release by reporting deploying → running (or failed / rolled_back) in its
 * outbox and listing its containers in heartbeats. `outcome` decides, per
 * software version, how the release fares on this device.
 */
export async function startSimulatedAgent(options: {
  http: HttpClient
  token: string
  sshPort: number
  hostPublicKey: string
  outcome: (version: string, device: string) => Outcome
  /** A device an admin created with this key (the bench makes thousands; registration is rate limited per address). */
  registered?: { id: string; device_id: string; key: TestKeyPair }
}): Promise<SimulatedAgent> {
  let key: TestKeyPair
  let id: string
  let device_id: string
  if (options.registered) ({ id, device_id, key } = options.registered)
  else {
    key = newKeyPair('simulated-agent')
    const reg = await options.http.post('/api/provision/register', { token: options.token, public_key: key.publicKey })
    if (reg.status !== 201 && reg.status !== 200) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`)
    ;({ id, device_id } = reg.body as { id: string; device_id: string })
  }
  let device: Ssh2Device | undefined
  let connected = false
  let seq = 0
  const outboxId = `sim-${device_id}`
  const running = new Map<string, string>()
  const crashed = new Set<string>()
  const applied = new Map<string, string>()
  const received: string[] = []
  const names = new Map<string, string>()

  async function connect(port: number) {
    device = await connectSsh2Device(undefined, { port, hostPublicKey: options.hostPublicKey, deviceId: device_id, key })
    connected = true
    device.client.on('close', () => (connected = false))
  }

  function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: AGENT_API_HOST,
          port: AGENT_API_PORT,
          method,
          path,
          headers: { connection: 'close', ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
          createConnection: (_o: unknown, done: (err: Error | null, socket?: Duplex) => void) => {
            device!.client.forwardOut('127.0.0.1', 0, AGENT_API_HOST, AGENT_API_PORT, (err, ch) => (err ? done(err) : done(null, asSocketLike(ch))))
            return undefined
          },
        } as http.RequestOptions,
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            if ((res.statusCode ?? 500) >= 400) return reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`))
            resolve(JSON.parse(text) as T)
          })
        },
      )
      req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${path} timed out`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  function containers(): ContainerState[] {
    return [...running].map(([softwareId, version]) => ({
      name: `${project(names.get(softwareId) ?? 'app', softwareId)}-web-1`,
      project: project(names.get(softwareId) ?? 'app', softwareId),
      service: 'web',
      image: `app:${version}`,
      state: crashed.has(softwareId) ? 'exited' : 'running',
      health: null,
      exit_code: crashed.has(softwareId) ? 1 : null,
      restart_count: 0,
      started_at: new Date().toISOString(),
    }))
  }

  async function heartbeat() {
    const body: HeartbeatRequest = {
      agent_version: 'simulated',
      at: new Date().toISOString(),
      metrics: { cpu_percent: 1, memory_used_bytes: 1, memory_total_bytes: 2, disk_used_bytes: 1, disk_total_bytes: 2, uptime_seconds: 1, load_1: 0, net_rx_bytes: 0, net_tx_bytes: 0 },
      containers: containers(),
      software: [...running].map(([software_id, version]) => ({ software_id, name: names.get(software_id) ?? 'app', version })),
      outbox: { pending: 0, dropped_log_lines: 0 },
    }
    return (await call<{ revision: string }>('POST', AGENT_PATHS.heartbeat, body)).revision
  }
  let appliedRevision: string | undefined

  async function report(events: OutboxEventInputLike[]) {
    const batch: StatusBatch = { outbox_id: outboxId, dropped_log_lines: 0, events: events.map((e) => ({ ...e, seq: ++seq, at: new Date().toISOString() }) as OutboxEvent) }
    await call('POST', AGENT_PATHS.status, batch)
  }

  /** As the real agent does: a heartbeat, and a sync only when its revision changed. */
  async function step() {
    if (!connected) return
    const revision = await heartbeat()
    if (revision === appliedRevision) return
    const { software, revision: fetched } = await call<AgentSoftwareResponse>('GET', AGENT_PATHS.software)
    const wanted = new Set(software.map((s) => s.software_id))
    for (const id of [...running.keys()]) if (!wanted.has(id)) running.delete(id)
    for (const s of software) {
      names.set(s.software_id, s.name)
      const key = `${s.version}#${s.attempt ?? 0}`
      if (applied.get(s.software_id) === key) continue
      applied.set(s.software_id, key)
      received.push(`${s.name}@${s.version}#${s.attempt ?? 0}`)
      const base = { kind: 'deploy' as const, software_id: s.software_id, name: s.name, version: s.version }
      const outcome = options.outcome(s.version, device_id)
      if (outcome === 'fail') {
        const before = running.get(s.software_id)
        await report([{ ...base, status: 'deploying', error: null }, { ...base, status: before ? 'rolled_back' : 'failed', error: 'web exited with code 1' }])
        continue
      }
      running.set(s.software_id, s.version)
      if (outcome === 'crash') crashed.add(s.software_id)
      else crashed.delete(s.software_id)
      await report([{ ...base, status: 'deploying', error: null }, { ...base, status: 'running', error: null }])
    }
    appliedRevision = fetched
    await heartbeat()
  }

  await connect(options.sshPort)
  return {
    id,
    device_id,
    running,
    received,
    step,
    disconnect: () => {
      connected = false
      device?.end()
    },
    reconnect: connect,
    online: () => connected,
  }
}

/** Steps every connected agent every `ms` until stopped; a failed step is retried next round. */
export function driveAgents(agents: () => SimulatedAgent[], ms = 200): { stop(): Promise<void> } {
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      await Promise.all(agents().map((a) => a.step().catch(() => undefined)))
      await new Promise((r) => setTimeout(r, ms))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
    },
  }
}
