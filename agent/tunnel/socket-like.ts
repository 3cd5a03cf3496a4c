import type { Duplex } from 'node:stream'

/**
 * Node's http machinery calls socket methods an ssh2 Channel lacks. The
 * channel has no Nagle or idle timer of its own (the SSH socket has), so
 * no-ops are right.
 */
export function asSocketLike<T extends Duplex>(channel: T): T {
  const c = channel as unknown as Record<string, unknown> & Duplex
  for (const name of ['setNoDelay', 'setKeepAlive', 'ref', 'unref']) c[name] ??= () => c
  // A real idle timer, as net.Socket has: http.Agent relies on it to close idle keep-alive channels.
  let timer: NodeJS.Timeout | undefined
  let idleMs = 0
  const arm = () => {
    clearTimeout(timer)
    timer = idleMs > 0 ? setTimeout(() => c.emit('timeout'), idleMs) : undefined
    timer?.unref()
  }
  c.on('data', () => idleMs && arm())
  c.on('close', () => clearTimeout(timer))
  c.setTimeout ??= (ms: number, cb?: () => void) => {
    idleMs = ms
    if (cb) {
      if (ms === 0) c.removeListener('timeout', cb)
      else c.once('timeout', cb)
    }
    arm()
    return c
  }
  return channel
}

/** Joins two streams; either side ending or failing ends both. */
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
