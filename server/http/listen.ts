import type { Server } from 'node:net'
import type { Duplex } from 'node:stream'

export class ListenError extends Error {
  override name = 'ListenError'
}

/** Listens and resolves with the bound port (port 0 picks a free one); a taken port is a one-line error. */
export function listen(server: Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new ListenError(`cannot listen for ${what} on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : (err.code ?? err.message)}`))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    })
  })
}

const upgradedSockets = new WeakMap<Server, Set<Duplex>>()

/**
 * Remembers sockets that leave HTTP through an upgrade (WebSockets to the
 * terminal or to device apps): `closeAllConnections()` no longer sees them,
 * and one left open would keep `close()` waiting forever.
 */
export function trackUpgrades(server: Server): void {
  const sockets = new Set<Duplex>()
  upgradedSockets.set(server, sockets)
  server.on('upgrade', (_req: unknown, socket: Duplex) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
}

const stopped = new WeakMap<Server, Promise<void>>()

/**
 * Stops taking new connections and lets the open ones finish (a draining
 * node); resolves once the last one ended. Idempotent, and closeServer after
 * it still cuts what is left.
 */
export function stopAccepting(server: Server): Promise<void> {
  let closed = stopped.get(server)
  if (!closed) {
    closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()
    stopped.set(server, closed)
  }
  return closed
}

export function closeServer(server: Server): Promise<void> {
  const closed = stopAccepting(server)
  ;(server as Server & { closeAllConnections?: () => void }).closeAllConnections?.()
  for (const socket of upgradedSockets.get(server) ?? []) socket.destroy()
  return closed
}
