import type { Duplex } from 'node:stream'
import type { DeviceChannels } from '../cluster/device-channels.js'
import { createResponseParser, type ResponseParser } from './node-http-parser.js'
import { perService } from './per-service.js'

/** A local tunnel session, or a device another gateway node holds (reached over the peer channel). */
type DeviceSession = Pick<DeviceChannels, 'openServiceChannel'>

/** A channel into one device service, with the parser that reads its answers (kept across kept-alive requests). */
export interface PooledChannel {
  readonly stream: Duplex
  readonly parser: ResponseParser
  /** False for a channel opened for this request, true for one taken from the pool. */
  reused: boolean
}

/** Idle channels kept per service: enough for a browser's parallel requests, not a device's worth of open channels. */
const MAX_IDLE = 64
/** An idle channel unused this long is closed (the device app would close it soon anyway). */
const IDLE_MS = 60_000

/**
 * Kept-alive `forwarded-tcpip` channels into one device service, reused
 * across requests as an http.Agent reuses TCP connections. A channel is only
 * put back once its answer was read whole and said keep-alive; anything the
 * device sends or ends while a channel is idle closes it.
 */
export class ChannelPool {
  readonly #session: DeviceSession
  readonly #service: string
  readonly #port: number
  readonly #idle: PooledChannel[] = []
  readonly #idleCleanup = new Map<PooledChannel, () => void>()

  constructor(session: DeviceSession, service: string, port: number) {
    this.#session = session
    this.#service = service
    this.#port = port
  }

  /** An idle channel still fit for a request, taken out of the pool; undefined when there is none. */
  takeIdle(): PooledChannel | undefined {
    for (let channel = this.#idle.pop(); channel; channel = this.#idle.pop()) {
      this.#idleCleanup.get(channel)?.()
      const { stream, parser } = channel
      if (!stream.destroyed && stream.readable && stream.writable && stream.readableLength === 0 && !parser.stray) {
        channel.reused = true
        return channel
      }
      discard(channel)
    }
    return undefined
  }

  /** An idle channel (unless `fresh`), or a new one (rejects with the tunnel's reason, e.g. a ForwardError). */
  async acquire(options: { fresh?: boolean } = {}): Promise<PooledChannel> {
    const idle = options.fresh ? undefined : this.takeIdle()
    if (idle) return idle
    const stream = await this.#session.openServiceChannel(this.#service, this.#port, { address: '127.0.0.1', port: 0 })
    const channel: PooledChannel = { stream, parser: createResponseParser(), reused: false }
    stream.once('close', () => channel.parser.close())
    return channel
  }

  /** Back into the pool after a whole kept-alive answer; closed instead when the pool is full. */
  release(channel: PooledChannel): void {
    const { stream } = channel
    if (stream.destroyed || !stream.readable || !stream.writable || this.#idle.length >= MAX_IDLE) return discard(channel)
    channel.parser.listen(undefined)
    const close = () => {
      cleanup()
      const at = this.#idle.indexOf(channel)
      if (at >= 0) this.#idle.splice(at, 1)
      discard(channel)
    }
    const timer = setTimeout(close, IDLE_MS)
    timer.unref()
    // Nothing may arrive on an idle channel: bytes now would be read as the next request's answer.
    stream.on('data', close)
    stream.on('end', close)
    stream.on('error', close)
    stream.on('close', close)
    const cleanup = () => {
      clearTimeout(timer)
      stream.off('data', close)
      stream.off('end', close)
      stream.off('error', close)
      stream.off('close', close)
      // Paused until the next request listens: nothing it sent may be lost in between.
      stream.pause()
      this.#idleCleanup.delete(channel)
    }
    this.#idleCleanup.set(channel, cleanup)
    this.#idle.push(channel)
    // Flowing while idle, so that a byte or an end from the device is seen at once and closes the channel.
    stream.resume()
  }
}

function discard(channel: PooledChannel) {
  channel.stream.on('error', () => {})
  channel.stream.destroy()
}

/** One pool per (session, service, port); a closed session's pools go with it. */
export function createChannelPools() {
  return perService((session: DeviceSession, service: string, port: number) => new ChannelPool(session, service, port))
}
