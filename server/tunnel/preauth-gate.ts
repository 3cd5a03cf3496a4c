import type net from 'node:net'
import { Semaphore, E_CANCELED } from 'async-mutex'
import type { Logger } from '../logger.js'

export interface PreauthLimits {
  /** Time from connect to authenticated before the socket is cut (OpenSSH's LoginGraceTime). */
  loginGraceMs: number
  /** Sockets not yet authenticated, in all; more are refused at once. */
  maxUnauthenticated: number
  /** Sockets not yet authenticated from one address; more are refused at once. */
  maxUnauthenticatedPerAddress: number
  /** Handshakes (key exchange and authentication) run at once; the rest wait in line. */
  maxConcurrentHandshakes: number
  /** How long one handshake may hold its slot; a stalled peer then gives it up (its deadline still runs). */
  handshakeSlotMs: number
}

export const defaultPreauthLimits: PreauthLimits = {
  loginGraceMs: 30_000,
  maxUnauthenticated: 1000,
  maxUnauthenticatedPerAddress: 50,
  maxConcurrentHandshakes: 32,
  handshakeSlotMs: 5000,
}

interface Pending {
  address: string
  deadline: NodeJS.Timeout
  releaseSlot?: () => void
  slotTimer?: NodeJS.Timeout
}

/**
 * Everything an unauthenticated SSH socket may hold, bounded in time and count.
 * A socket is counted from accept until it authenticates or closes, and cut at
 * the login deadline. It takes a handshake slot (the CPU-heavy key exchange is
 * paced so a reconnect storm does not time every device out) only once it has
 * sent its first bytes, so silent sockets never occupy one; the line of
 * sockets waiting for a slot is bounded by the unauthenticated caps.
 */
export function createPreauthGate(deps: { limits: PreauthLimits; logger: Logger; handshake(socket: net.Socket): void }) {
  const { limits, logger } = deps
  const pending = new Map<net.Socket, Pending>()
  const perAddress = new Map<string, number>()
  const slots = new Semaphore(limits.maxConcurrentHandshakes)
  let refused = 0
  let refusalLogged = 0
  let closed = false

  // Refusals under a flood would flood the log too: at most one line per 10 s, with the count.
  function noteRefusal(address: string, why: string) {
    refused++
    const now = Date.now()
    if (now - refusalLogged < 10_000) return
    refusalLogged = now
    logger.warn({ remote: address, refused_since_last: refused, why }, 'ssh connection refused before handshake')
    refused = 0
  }

  function forget(socket: net.Socket) {
    const entry = pending.get(socket)
    if (!entry) return
    pending.delete(socket)
    clearTimeout(entry.deadline)
    clearTimeout(entry.slotTimer)
    entry.releaseSlot?.()
    const left = (perAddress.get(entry.address) ?? 1) - 1
    if (left > 0) perAddress.set(entry.address, left)
    else perAddress.delete(entry.address)
  }

  function takeSlot(socket: net.Socket) {
    slots.acquire().then(
      ([, release]) => {
        const entry = pending.get(socket)
        if (closed || !entry || socket.destroyed) return release()
        let released = false
        entry.releaseSlot = () => {
          if (released) return
          released = true
          release()
        }
        entry.slotTimer = setTimeout(() => entry.releaseSlot?.(), limits.handshakeSlotMs)
        entry.slotTimer.unref()
        try {
          deps.handshake(socket)
        } catch (err) {
          logger.error({ err }, 'ssh handshake could not start')
          socket.destroy()
        }
      },
      (err: unknown) => {
        if (err !== E_CANCELED) logger.error({ err }, 'ssh handshake slot failed')
        socket.destroy()
      },
    )
  }

  return {
    /** A freshly accepted, paused socket; false when it was refused (and destroyed). */
    admit(socket: net.Socket): boolean {
      socket.on('error', () => socket.destroy())
      const address = socket.remoteAddress ?? ''
      const fromAddress = perAddress.get(address) ?? 0
      let refusal: string | undefined
      if (closed || !address) refusal = 'shutting down or peer gone'
      else if (pending.size >= limits.maxUnauthenticated) refusal = 'too many unauthenticated connections'
      else if (fromAddress >= limits.maxUnauthenticatedPerAddress) refusal = 'too many unauthenticated connections from this address'
      if (refusal) {
        noteRefusal(address, refusal)
        socket.destroy()
        return false
      }
      perAddress.set(address, fromAddress + 1)
      const deadline = setTimeout(() => {
        logger.debug({ remote: address }, 'ssh login grace time over')
        socket.destroy()
      }, limits.loginGraceMs)
      deadline.unref()
      pending.set(socket, { address, deadline })
      socket.once('close', () => forget(socket))
      // Wait for the peer's first bytes (its identification line) before it may queue for a slot.
      socket.once('data', (chunk: Buffer) => {
        socket.pause()
        socket.unshift(chunk)
        takeSlot(socket)
      })
      socket.resume()
      return true
    },
    /** The socket's peer authenticated: it no longer counts, and its slot frees. */
    authenticated(socket: net.Socket): void {
      forget(socket)
    },
    get unauthenticated(): number {
      return pending.size
    },
    close(): void {
      closed = true
      slots.cancel()
      for (const socket of [...pending.keys()]) socket.destroy()
    },
  }
}

export type PreauthGate = ReturnType<typeof createPreauthGate>
