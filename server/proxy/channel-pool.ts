import type { Duplex } from 'node:stream'
import type { DeviceChannels } from '../cluster/device-channels.js'
import { createResponseParser, type ResponseParser } from './node-http-parser.js'
import { perService } from './per-service.js'

/** A local tunnel session, or a device another gateway node holds (reached over the peer channel). */
type DeviceSession = Pick<DeviceChannels, 'openServiceChannel'>

/**
 * What one request does with a channel's events while it holds the channel.
 * The channel's listeners are added once, when it opens, and pass each event
 * to its current user: adding and removing five listeners per request cost
 * the proxy more CPU than its routing did.
 */
export interface ChannelUser {
  data(chunk: Buffer): void
  end(): void
  close(): void
  error(err: Error): void
  drain(): void
  /** The channel's timer ran out (see PooledChannel.silence). */
  silence(): void
}

/** A channel into one device service, with the parser that reads its answers (kept across kept-alive requests). */
export interface PooledChannel {
  readonly stream: Duplex
  readonly parser: ResponseParser
  /** False for a channel opened for this request, true for one taken from the pool. */
  reused: boolean
  /** The request using the channel; undefined while it is idle in the pool (or being closed). */
  user: ChannelUser | undefined
  /**
   * One timer for the channel's life, re-armed by each request (refresh), rather than a timer made and
   * cleared per request; it tells the current user, if any. Unref'd, and cleared when the channel goes.
   */
  readonly silence: NodeJS.Timeout
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
  /** One idle timer per channel, re-armed on each release rather than made anew. */
  readonly #idleTimers = new WeakMap<PooledChannel, NodeJS.Timeout>()

  constructor(session: DeviceSession, service: string, port: number) {
    this.#session = session
    this.#service = service
    this.#port = port
  }

  /** An idle channel still fit for a request, taken out of the pool; undefined when there is none. */
  takeIdle(): PooledChannel | undefined {
    for (let channel = this.#idle.pop(); channel; channel = this.#idle.pop()) {
      // Paused until the request listens: nothing the device sends may be lost in between.
      channel.stream.pause()
      const { stream, parser } = channel
      if (!stream.destroyed && stream.readable && stream.writable && stream.readableLength === 0 && !parser.stray) {
        channel.reused = true
        return channel
      }
      discard(channel)
    }
    return undefined
  }

  /**
   * An idle channel (unless `fresh`), or a new one (rejects with the tunnel's reason, e.g. a ForwardError).
   * `silenceMs`: how long the channel's timer runs once a request arms it.
   */
  async acquire(options: { fresh?: boolean; silenceMs: number }): Promise<PooledChannel> {
    const idle = options.fresh ? undefined : this.takeIdle()
    if (idle) return idle
    const stream = await this.#session.openServiceChannel(this.#service, this.#port, { address: '127.0.0.1', port: 0 })
    const silence = setTimeout(() => channel.user?.silence(), options.silenceMs).unref()
    const channel: PooledChannel = { stream, parser: createResponseParser(), reused: false, user: undefined, silence }
    // Without a user, the channel is idle or on its way out: any event from the device closes it (and takes it out of the pool).
    const unused = () => this.#drop(channel)
    stream.on('data', (chunk: Buffer) => (channel.user ? channel.user.data(chunk) : unused()))
    stream.on('end', () => (channel.user ? channel.user.end() : unused()))
    stream.on('error', (err: Error) => (channel.user ? channel.user.error(err) : unused()))
    stream.on('drain', () => channel.user?.drain())
    stream.once('close', () => {
      clearTimeout(channel.silence)
      channel.parser.close()
      if (channel.user) channel.user.close()
      else unused()
    })
    // A data listener sets the stream flowing; it waits for the request instead.
    stream.pause()
    return channel
  }

  /** Back into the pool after a whole kept-alive answer; closed instead when the pool is full. */
  release(channel: PooledChannel): void {
    const { stream } = channel
    channel.user = undefined
    if (stream.destroyed || !stream.readable || !stream.writable || this.#idle.length >= MAX_IDLE) return discard(channel)
    channel.parser.listen(undefined)
    const timer = this.#idleTimers.get(channel)
    if (timer) timer.refresh()
    else {
      const made = setTimeout(() => this.#idle.includes(channel) && this.#drop(channel), IDLE_MS)
      made.unref()
      this.#idleTimers.set(channel, made)
    }
    this.#idle.push(channel)
    // Flowing while idle, so that a byte or an end from the device is seen at once and closes the channel.
    stream.resume()
  }

  /** Closes a channel that is not in use, and forgets it. */
  #drop(channel: PooledChannel) {
    const at = this.#idle.indexOf(channel)
    if (at >= 0) this.#idle.splice(at, 1)
    clearTimeout(this.#idleTimers.get(channel))
    discard(channel)
  }
}

function discard(channel: PooledChannel) {
  clearTimeout(channel.silence)
  channel.stream.on('error', () => {})
  channel.stream.destroy()
}

/** One pool per (session, service, port); a closed session's pools go with it. */
export function createChannelPools() {
  return perService((session: DeviceSession, service: string, port: number) => new ChannelPool(session, service, port))
}
