import ssh2, { type Client, type ClientChannel, type TcpConnectionDetails } from 'ssh2'
import type { Logger } from '../agent-logger.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import { createBackoff, sleep } from './backoff.js'

export interface TunnelEndpoint {
  host: string
  port: number
  /** The SSH user: the device_id. */
  username: string
  privateKey: string
  /** The pinned gateway host key line; nothing else is trusted. */
  hostKey: string
}

/** One live SSH connection to the gateway. */
export interface TunnelConnection {
  readonly client: Client
  forwardIn(bindAddr: string, bindPort: number): Promise<number>
  unforwardIn(bindAddr: string, bindPort: number): Promise<void>
  /** A `direct-tcpip` channel to the gateway's agent API. */
  openApiChannel(): Promise<ClientChannel>
}

export type ChannelHandler = (info: TcpConnectionDetails, accept: () => ClientChannel, reject: () => void) => void

function keyBlob(line: string): Buffer {
  return Buffer.from(line.trim().split(/\s+/)[1] ?? '', 'base64')
}

function wrap(client: Client): TunnelConnection {
  return {
    client,
    forwardIn: (bindAddr, bindPort) =>
      new Promise((resolve, reject) => client.forwardIn(bindAddr, bindPort, (err, port) => (err ? reject(err) : resolve(port)))),
    unforwardIn: (bindAddr, bindPort) => new Promise((resolve, reject) => client.unforwardIn(bindAddr, bindPort, (err) => (err ? reject(err) : resolve()))),
    openApiChannel: () =>
      new Promise((resolve, reject) => client.forwardOut('127.0.0.1', 0, AGENT_API_HOST, AGENT_API_PORT, (err, channel) => (err ? reject(err) : resolve(channel)))),
  }
}

/**
 * Holds the tunnel: connects, verifies the gateway against the pinned key,
 * and reconnects after every loss with exponential backoff and full jitter.
 * `onUp` sets the connection up (forwards, first sync); if it throws, the
 * connection is dropped and retried like any other failure.
 */
export function createTunnelClient(deps: {
  endpoint: TunnelEndpoint
  backoff: { baseMs: number; capMs: number }
  logger: Logger
  onChannel: ChannelHandler
  onUp(connection: TunnelConnection): Promise<void>
  onDown(): void
}) {
  const { endpoint, logger } = deps
  const pinned = keyBlob(endpoint.hostKey)
  const backoff = createBackoff(deps.backoff)
  const abort = new AbortController()
  let current: TunnelConnection | undefined
  let client: Client | undefined
  let loop: Promise<void> | undefined

  /** Resolves when the connection ends; true if it was up at some point. */
  function connectOnce(): Promise<boolean> {
    return new Promise((resolve) => {
      const c = new ssh2.Client()
      client = c
      let up = false
      let lastError: Error | undefined
      c.on('ready', () => {
        up = true
        c.setNoDelay(true)
        const connection = wrap(c)
        current = connection
        deps.onUp(connection).then(
          () => logger.info({ gateway: `${endpoint.host}:${endpoint.port}` }, 'tunnel up'),
          (err: Error) => {
            logger.warn({ err: err.message }, 'tunnel setup failed; reconnecting')
            c.end()
          },
        )
      })
      c.on('tcp connection', deps.onChannel)
      c.on('error', (err) => {
        lastError = err
      })
      c.on('close', () => {
        if (current?.client === c) {
          current = undefined
          deps.onDown()
        }
        if (up) logger.warn('tunnel down')
        else if (!abort.signal.aborted) logger.warn({ err: lastError?.message }, 'tunnel connection failed')
        resolve(up)
      })
      c.connect({
        host: endpoint.host,
        port: endpoint.port,
        username: endpoint.username,
        privateKey: endpoint.privateKey,
        // Pinned: the gateway's key must be exactly this one, never trusted on first use.
        hostVerifier: (key: Buffer) => key.equals(pinned),
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        readyTimeout: 20_000,
      })
    })
  }

  async function run() {
    while (!abort.signal.aborted) {
      const wasUp = await connectOnce()
      if (abort.signal.aborted) break
      if (wasUp) backoff.reset()
      const delay = backoff.next()
      logger.debug({ delay_ms: delay, attempt: backoff.attempt }, 'reconnecting after a pause')
      await sleep(delay, abort.signal)
    }
  }

  return {
    start(): void {
      loop ??= run()
    },
    /** The live connection, if the tunnel is up. */
    get connection(): TunnelConnection | undefined {
      return current
    },
    async close(): Promise<void> {
      abort.abort()
      client?.end()
      await loop
    },
  }
}

export type TunnelClient = ReturnType<typeof createTunnelClient>
