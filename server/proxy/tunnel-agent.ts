import http from 'node:http'
import type { Duplex } from 'node:stream'
import type { DeviceChannels } from '../cluster/device-channels.js'
import { perService } from './per-service.js'

/** A local tunnel session, or a device another gateway node holds (reached over the peer channel). */
type DeviceSession = Pick<DeviceChannels, 'openServiceChannel'>

/**
 * An http.Agent whose connections are `forwarded-tcpip` channels into one
 * device's tunnel, to one service. Keep-alive reuses channels across
 * requests, as it would reuse TCP connections.
 */
export class TunnelAgent extends http.Agent {
  readonly #session: DeviceSession
  readonly #service: string
  readonly #port: number
  /** The proxy target, parsed once: http-proxy would otherwise parse a URL string on every request. */
  readonly target: URL

  constructor(session: DeviceSession, service: string, port: number) {
    super({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, timeout: 60_000 })
    this.#session = session
    this.#service = service
    this.#port = port
    this.target = new URL(`http://${service}:${port}`)
  }

  // Node's Agent accepts an asynchronous createConnection that answers through the callback.
  override createConnection(_options: unknown, callback: (err: Error | null, socket?: Duplex) => void): undefined {
    this.#session.openServiceChannel(this.#service, this.#port, { address: '127.0.0.1', port: 0 }).then(
      (channel) => {
        // A channel nobody took (the request failed in between) is closed, not left open in the tunnel.
        channel.on('error', () => channel.destroy())
        try {
          callback(null, channel)
        } catch {
          channel.destroy()
        }
      },
      (err: Error) => {
        try {
          callback(err)
        } catch {
          // The request is already gone; there is nobody left to tell.
        }
      },
    )
    return undefined
  }
}

/** One agent per (session, service, port); a closed session's agents go with it. */
export function createTunnelAgents() {
  return perService((session: DeviceSession, service: string, port: number) => new TunnelAgent(session, service, port))
}
