import type { Duplex } from 'node:stream'

/**
 * http.Agent and http-proxy treat an upstream connection as a net.Socket and
 * call these on it; an ssh2 Channel has none of them. The channel has no Nagle
 * or idle timer of its own (the SSH connection's socket has), so no-ops are right.
 */
interface SocketMethods {
  setNoDelay?: (noDelay?: boolean) => unknown
  setKeepAlive?: (enable?: boolean, delay?: number) => unknown
  setTimeout?: (ms: number, cb?: () => void) => unknown
  ref?: () => unknown
  unref?: () => unknown
}

export function asSocketLike<T extends Duplex>(channel: T): T {
  const c = channel as T & SocketMethods
  c.setNoDelay ??= () => c
  c.setKeepAlive ??= () => c
  c.setTimeout ??= (_ms: number, cb?: () => void) => {
    if (cb) c.once('timeout', cb)
    return c
  }
  c.ref ??= () => c
  c.unref ??= () => c
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
