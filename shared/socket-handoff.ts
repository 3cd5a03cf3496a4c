import type { Server, Socket } from 'node:net'

/**
 * Moving an accepted TCP connection to another process of `edgetainer server
 * --workers N` (node:cluster passes socket handles over IPC). Node does the
 * passing; two things around it rely on net.Socket internals, kept here and
 * nowhere else (test/unit/socket-handoff.test.ts fails if Node moves them):
 *
 * - Node drops whatever a sending process reads from the socket once it has
 *   handed it over (its read callback becomes a no-op until the handle is
 *   closed), so the sender must stop reading first: `_handle.readStop()`.
 * - A socket its net.Server accepted counts in that server's `_connections`
 *   until it closes, and a sent socket never closes there: left counted, the
 *   server's close() would wait for it forever. Node's own bookkeeping for
 *   that case asks the receiving process for its count, which a relaying
 *   process never answers; so the socket is taken off its server by hand.
 */

interface SocketInternals {
  _handle?: { readStop?: () => number; reading?: boolean } | null
  server?: Server | null
  _server?: (Server & { _connections?: number }) | null
}

/** Stops reading from the socket now; returns what it had already read and not yet handed out. */
export function stopReading(socket: Socket): Buffer {
  const parts: Buffer[] = []
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) parts.push(chunk)
  const handle = (socket as unknown as SocketInternals)._handle
  if (handle?.readStop) {
    handle.reading = false
    handle.readStop()
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts)
}

/** Takes a socket about to be sent elsewhere off the net.Server that accepted it (see above). */
export function releaseFromServer(socket: Socket): void {
  const internals = socket as unknown as SocketInternals
  const server = internals._server
  internals.server = null
  internals._server = null
  if (server && typeof server._connections === 'number' && server._connections > 0) server._connections--
}

/** True when this Node still has what stopReading and releaseFromServer rely on. */
export function socketInternalsPresent(socket: Socket): boolean {
  const internals = socket as unknown as SocketInternals
  return typeof internals._handle?.readStop === 'function' && 'reading' in (internals._handle ?? {}) && '_server' in internals
}
