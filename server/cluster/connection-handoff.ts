import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from '../logger.js'
import { releaseFromServer, stopReading } from '../../shared/socket-handoff.js'

/**
 * With `edgetainer server --workers N`, a plain HTTP connection for a device
 * that a sibling worker holds moves to that worker, once, instead of each of
 * its requests crossing the loopback peer channel (docs/deploy.md). The
 * worker that accepted it reads the connection's first bytes, and when their
 * Host names such a device, hands the socket and those bytes to the primary,
 * which passes them on (cli/worker-supervisor.ts). Everything else, and
 * anything unclear (a first chunk without a whole request line and Host, a
 * route not known, a sibling gone), is served here as before.
 */

export const HANDOFF_MESSAGE = 'edgetainer:connection'
export const SIBLINGS_MESSAGE = 'edgetainer:siblings'

export interface HandoffMessage {
  type: typeof HANDOFF_MESSAGE
  /** The worker (node id) that should serve it, and the one that accepted it (to fall back on). */
  to: string
  from: string
  /** The bytes already read from the connection, base64. */
  head: string
}

export interface SiblingsMessage {
  type: typeof SIBLINGS_MESSAGE
  /** The node ids of the workers running now, this one included. */
  nodeIds: string[]
}

export function isHandoffMessage(message: unknown): message is HandoffMessage {
  const m = message as Partial<HandoffMessage> | null
  return typeof m === 'object' && m !== null && m.type === HANDOFF_MESSAGE && typeof m.to === 'string' && typeof m.from === 'string' && typeof m.head === 'string'
}

export function isSiblingsMessage(message: unknown): message is SiblingsMessage {
  const m = message as Partial<SiblingsMessage> | null
  return typeof m === 'object' && m !== null && m.type === SIBLINGS_MESSAGE && Array.isArray(m.nodeIds) && m.nodeIds.every((id) => typeof id === 'string')
}

/** Past this, the first chunk is not searched (a request head is far shorter; anything longer is served here). */
const MAX_SNIFF_BYTES = 16 * 1024
const REQUEST_LINE = /^[A-Z]{1,16} (\S{1,8192}) HTTP\/1\.[01]$/

/**
 * The target of the first request in a connection's first bytes: its path
 * and the Host header's host name (lower case, no port, no trailing dot).
 * Undefined unless the request line and a Host line are both whole in
 * `chunk`; never throws (the bytes are a client's).
 */
export function firstRequestTarget(chunk: Buffer): { host: string; path: string } | undefined {
  const text = chunk.toString('latin1', 0, Math.min(chunk.length, MAX_SNIFF_BYTES))
  const lineEnd = text.indexOf('\r\n')
  if (lineEnd < 0) return undefined
  const requestLine = REQUEST_LINE.exec(text.slice(0, lineEnd))
  if (!requestLine) return undefined
  const headEnd = text.indexOf('\r\n\r\n')
  const headers = text.slice(lineEnd + 2, headEnd < 0 ? text.lastIndexOf('\r\n') : headEnd)
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon !== 4 || line.slice(0, 4).toLowerCase() !== 'host') continue
    const value = line.slice(5).trim().toLowerCase()
    const host = value.startsWith('[') ? value.slice(0, value.indexOf(']') + 1) : value.split(':')[0]!
    const name = host.replace(/\.$/, '')
    return name ? { host: name, path: requestLine[1]! } : undefined
  }
  return undefined
}

export interface ConnectionHandoffDeps {
  /** The plain HTTP listener: its own connection handling runs for every connection served here. */
  server: Server
  nodeId: string
  /** The sibling worker (node id) holding the device this host and path reach, or undefined to serve it here. */
  siblingFor(host: string, path: string): Promise<string | undefined> | string | undefined
  /** Sends the socket and its first bytes on to the primary. */
  send(message: HandoffMessage, socket: Socket): void
  /** How long a new connection may stay silent before it is served here all the same (Node's header timeout then runs). */
  sniffTimeoutMs?: number
  logger: Logger
}

/**
 * Takes over the HTTP server's `connection` event (call before it listens).
 * Returns `receive` for the sockets the primary passes to this worker.
 */
export function attachConnectionHandoff(deps: ConnectionHandoffDeps) {
  const { server, logger } = deps
  const sniffTimeoutMs = deps.sniffTimeoutMs ?? 5000
  const [found] = server.listeners('connection') as ((this: Server, socket: Socket) => void)[]
  if (!found) throw new Error('the HTTP server has no connection handler to take over')
  const httpConnection = found
  server.removeListener('connection', httpConnection)

  /** Serves the socket here, with the bytes already read put back in front. */
  function serveHere(socket: Socket, head: Buffer | undefined) {
    if (socket.destroyed) return
    if (head?.length) socket.unshift(head)
    httpConnection.call(server, socket)
    // Paused while its first bytes were looked at: Node's parser takes over from here.
    socket.resume()
  }

  server.on('connection', (socket: Socket) => {
    let settled = false
    const onError = () => socket.destroy()
    socket.on('error', onError)
    const settle = () => {
      settled = true
      clearTimeout(silence)
      socket.off('error', onError)
      socket.off('data', onFirst)
    }
    const silence = setTimeout(() => {
      if (settled) return
      settle()
      serveHere(socket, undefined)
    }, sniffTimeoutMs)
    // Gone before it said anything: nothing to serve or to hand on.
    socket.once('close', () => {
      if (!settled) settle()
    })
    const onFirst = (chunk: Buffer) => {
      socket.pause()
      const target = firstRequestTarget(chunk)
      const decided = (sibling: string | undefined) => {
        if (settled) return
        settle()
        if (socket.destroyed) return
        if (!sibling || sibling === deps.nodeId) return serveHere(socket, chunk)
        try {
          const rest = stopReading(socket)
          releaseFromServer(socket)
          deps.send({ type: HANDOFF_MESSAGE, to: sibling, from: deps.nodeId, head: Buffer.concat([chunk, rest]).toString('base64') }, socket)
          logger.debug({ to: sibling, host: target?.host }, 'connection handed to the worker holding its device')
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'could not hand a connection to another worker')
          socket.destroy()
        }
      }
      if (!target) return decided(undefined)
      let sibling: ReturnType<ConnectionHandoffDeps['siblingFor']>
      try {
        sibling = deps.siblingFor(target.host, target.path)
      } catch {
        return decided(undefined)
      }
      if (typeof sibling === 'string' || sibling === undefined) return decided(sibling)
      sibling.then(decided, () => decided(undefined))
    }
    socket.once('data', onFirst)
  })

  return {
    /** A socket another worker passed on: served here with the bytes that worker had read. */
    receive(message: HandoffMessage, socket: Socket | undefined) {
      if (!socket) return
      serveHere(socket, Buffer.from(message.head, 'base64'))
    },
  }
}
