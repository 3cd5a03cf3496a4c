/**
 * A slice of the idle fleet for the scale test: ssh2 Clients, one per
 * device, each with its own key, asking for one service forward and then
 * staying idle. Opens connections with a bounded number in flight and
 * reports every failed handshake.
 */
import { performance } from 'node:perf_hooks'
import ssh2 from 'ssh2'
import { sendEvent, serveRpc } from '../lib/child-rpc.js'
import { percentile } from '../lib/stats.js'
import { generateEd25519 } from '../../shared/ed25519-keys.js'

interface Device {
  id: string
  privateKey: string
  client?: ssh2.Client
}

const devices: Device[] = []
let dropped = 0
// Set by the parent's `stop` at its deadline: no new attempts, so `connect` returns with what it reached.
let stopping = false

function classify(err: Error & { level?: string; code?: string }): string {
  if (err.code) return err.code
  if (/handshake/i.test(err.message)) return 'handshake timeout'
  if (/authentication/i.test(err.message)) return 'auth failed'
  return `${err.level ?? 'error'}: ${err.message.slice(0, 60)}`
}

interface ConnectOptions {
  port: number
  hostPublicKey: string
  inflight: number
  readyTimeoutMs: number
  retries: number
  service: { name: string; port: number }
  /** Loopback addresses to dial from, in turn: one address has about 28,000 ephemeral ports. */
  sourceAddresses: string[]
}

async function connectAll(options: ConnectOptions) {
  const parsed = ssh2.utils.parseKey(options.hostPublicKey)
  const pinned = (Array.isArray(parsed) ? parsed[0] : parsed) as ssh2.ParsedKey
  const pinnedBlob = pinned.getPublicSSH()
  const reasons: Record<string, number> = {}
  const handshakeMs: number[] = []
  let ok = 0
  let failedAttempts = 0
  let lastOnlineAt = 0
  const startedAt = Date.now()

  const progress = setInterval(() => sendEvent('progress', { ok, failedAttempts, lastOnlineAt }), 500)

  function attempt(device: Device, localAddress: string): Promise<boolean> {
    const client = new ssh2.Client()
    const started = performance.now()
    return new Promise((resolve) => {
      let settled = false
      const fail = (why: string) => {
        if (settled) return
        settled = true
        reasons[why] = (reasons[why] ?? 0) + 1
        failedAttempts++
        client.end()
        resolve(false)
      }
      client.on('ready', () => {
        // ssh2 bounds the handshake (readyTimeout) but not the forward's answer: unbounded, one lost answer would hold the storm.
        const unanswered = setTimeout(() => fail('forward not answered'), options.readyTimeoutMs)
        client.forwardIn(options.service.name, options.service.port, (err) => {
          clearTimeout(unanswered)
          if (err) return fail('forward refused')
          if (settled) return
          settled = true
          ok++
          handshakeMs.push(performance.now() - started)
          lastOnlineAt = Date.now()
          device.client = client
          resolve(true)
        })
      })
      // Idle devices: nothing is expected to open a channel in this test.
      client.on('tcp connection', (_info, _accept, reject) => reject())
      client.on('error', (err) => fail(classify(err)))
      client.on('close', () => {
        if (!settled) fail('closed before online')
        else if (device.client === client) dropped++
      })
      client.connect({
        host: '127.0.0.1',
        port: options.port,
        localAddress,
        username: device.id,
        privateKey: device.privateKey,
        hostVerifier: (key: Buffer) => key.equals(pinnedBlob),
        readyTimeout: options.readyTimeoutMs,
        keepaliveInterval: 0,
      })
    })
  }

  async function bringOnline(device: Device, index: number) {
    const from = options.sourceAddresses[index % options.sourceAddresses.length]!
    for (let i = 0; i <= options.retries && !stopping; i++) {
      if (await attempt(device, from)) return
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000))
    }
  }

  let next = 0
  const worker = async () => {
    while (next < devices.length && !stopping) {
      const index = next++
      await bringOnline(devices[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.inflight, devices.length) }, worker))
  clearInterval(progress)
  handshakeMs.sort((a, b) => a - b)
  return {
    ok,
    failedAttempts,
    neverOnline: devices.length - ok,
    reasons,
    startedAt,
    lastOnlineAt,
    handshakeMs: { p50: percentile(handshakeMs, 50), p99: percentile(handshakeMs, 99), max: handshakeMs.at(-1) ?? NaN },
  }
}

serveRpc({
  /** Makes each device's own key pair; returns the public keys to register. */
  keys(arg: { ids: string[] }) {
    const publics: string[] = []
    for (const id of arg.ids) {
      const pair = generateEd25519(id)
      devices.push({ id, privateKey: pair.private })
      publics.push(pair.public)
    }
    return publics
  },
  connect: (options: ConnectOptions) => connectAll(options),
  /** Ends the storm early: handshakes in flight finish, no new ones start (the parent's timeout). */
  stop() {
    stopping = true
    return true
  },
  status: () => ({ online: devices.filter((d) => d.client).length, dropped, rss: process.memoryUsage().rss }),
  close() {
    for (const d of devices) d.client?.end()
    setTimeout(() => process.exit(0), 500)
    return true
  },
})
sendEvent('ready', { pid: process.pid })
