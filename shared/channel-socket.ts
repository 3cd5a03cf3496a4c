import type { Duplex } from 'node:stream'

// Shared by both ends of a tunnel: the gateway's proxy agent and TCP services, and the device agent's API client and forwards.

/**
 * http.Agent and http-proxy treat an upstream connection as a net.Socket and
 * call these on it; an ssh2 Channel has none of them. Nagle and keepalive
 * belong to the SSH connection's socket, so those are no-ops. `setTimeout`
 * must behave as a socket's does: one idle timer, refreshed by traffic either
 * way, and `setTimeout(0, cb)` removes `cb`. (Node's http client calls it on
 * every keep-alive request; a shim that only added listeners leaked one per
 * request and never timed a hung service out.)
 */
interface SocketMethods {
  setNoDelay?: (noDelay?: boolean) => unknown
  setKeepAlive?: (enable?: boolean, delay?: number) => unknown
  setTimeout?: (ms: number, cb?: () => void) => unknown
  ref?: () => unknown
  unref?: () => unknown
}

interface WritableInternals {
  _write(chunk: Buffer, encoding: BufferEncoding | null, cb: (err?: Error | null) => void): void
  _writev?: (chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (err?: Error | null) => void) => void
}

export function asSocketLike<T extends Duplex>(channel: T): T {
  const c = channel as T & SocketMethods
  c.setNoDelay ??= () => c
  c.setKeepAlive ??= () => c
  c.ref ??= () => c
  c.unref ??= () => c

  let timer: NodeJS.Timeout | undefined
  let timerMs = 0
  c.setTimeout = (ms: number, cb?: () => void) => {
    // The http client sets the same timeout on every keep-alive request: re-arm the timer rather than replace it.
    if (ms > 0 && ms === timerMs && timer) timer.refresh()
    else {
      clearTimeout(timer)
      timer = undefined
      timerMs = ms
      if (ms > 0) {
        timer = setTimeout(() => c.emit('timeout'), ms)
        timer.unref()
      }
    }
    if (cb) {
      if (ms === 0) c.removeListener('timeout', cb)
      else c.once('timeout', cb)
    }
    return c
  }
  // Activity in either direction restarts the idle timer, as on a socket.
  const push = c.push.bind(c)
  c.push = (chunk: unknown, encoding?: BufferEncoding) => {
    timer?.refresh()
    return push(chunk, encoding)
  }
  const write = c.write.bind(c) as (...args: unknown[]) => boolean
  ;(c as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    timer?.refresh()
    return write(...args)
  }
  c.once('close', () => clearTimeout(timer))
  // Corked writes (an HTTP request's head and body) leave as one SSH packet and
  // one encryption, not one per chunk: a Channel has no _writev of its own.
  const channelWrite = (c as unknown as WritableInternals)._write.bind(c)
  ;(c as unknown as WritableInternals)._writev = (chunks, cb) => {
    const buffers = chunks.map(({ chunk, encoding }) => (typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk))
    channelWrite(buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers), null, cb)
  }
  return channel
}

/** Joins two streams; either side ending or failing ends both, so no half-dead pair lingers. */
export function splice(a: Duplex, b: Duplex): void {
  const destroyBoth = () => {
    a.destroy()
    b.destroy()
  }
  a.on('error', destroyBoth)
  b.on('error', destroyBoth)
  a.on('close', () => b.destroy())
  b.on('close', () => a.destroy())
  a.pipe(b)
  b.pipe(a)
}
