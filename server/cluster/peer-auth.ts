import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * The headers of a call on the peer channel. `forwarded-by` is the hop marker
 * (openBalena's `Forwarded`): a request carrying it was forwarded once already
 * and is never forwarded again. All of them are covered by the signature.
 */
export const PEER_HEADERS = {
  forwardedBy: 'x-edgetainer-forwarded-by',
  time: 'x-edgetainer-peer-time',
  nonce: 'x-edgetainer-peer-nonce',
  signature: 'x-edgetainer-peer-signature',
} as const

/** The upgrade token of the peer channel: after `101`, the connection carries raw bytes of one device channel. */
export const PEER_PROTOCOL = 'edgetainer-peer/1'

const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const noncePattern = /^[A-Za-z0-9_-]{22,64}$/
const signaturePattern = /^[A-Za-z0-9_-]{43}$/
const timePattern = /^\d{1,15}$/

export type PeerVerdict = { ok: true; from: string } | { ok: false }

/**
 * HMAC-SHA256 over (node, time, nonce, method, path) with a key every node of
 * the cluster derives from the shared secret_key. A signature older or newer
 * than `maxSkewMs` is refused, and a nonce is accepted once within that window,
 * so a captured handshake can be neither altered nor replayed.
 */
export function createPeerAuth(deps: { key: Buffer; maxSkewMs?: number; maxNonces?: number; now?: () => number }) {
  const maxSkewMs = deps.maxSkewMs ?? 30_000
  const maxNonces = deps.maxNonces ?? 200_000
  const now = deps.now ?? Date.now
  /** nonce → when it may be forgotten (it is outside the window by then). */
  const seen = new Map<string, number>()

  const mac = (from: string, time: string, nonce: string, method: string, path: string) =>
    createHmac('sha256', deps.key).update(`edgetainer-peer-v1\n${from}\n${time}\n${nonce}\n${method}\n${path}`).digest()

  function remember(nonce: string, at: number): boolean {
    if (seen.has(nonce)) return false
    // Map order is insertion order, so the oldest entries are first: drop those past their window.
    for (const [old, until] of seen) {
      if (until > at && seen.size < maxNonces) break
      seen.delete(old)
    }
    seen.set(nonce, at + 2 * maxSkewMs)
    return true
  }

  return {
    /** Headers for one call from node `from` (this node). */
    sign(from: string, method: string, path: string): Record<string, string> {
      const time = String(now())
      const nonce = randomBytes(18).toString('base64url')
      return {
        [PEER_HEADERS.forwardedBy]: from,
        [PEER_HEADERS.time]: time,
        [PEER_HEADERS.nonce]: nonce,
        [PEER_HEADERS.signature]: mac(from, time, nonce, method, path).toString('base64url'),
      }
    },
    /** Says only yes or no: why a call was refused is never told to the caller. */
    verify(method: string, path: string, headers: IncomingHttpHeaders): PeerVerdict {
      const from = headers[PEER_HEADERS.forwardedBy]
      const time = headers[PEER_HEADERS.time]
      const nonce = headers[PEER_HEADERS.nonce]
      const signature = headers[PEER_HEADERS.signature]
      if (typeof from !== 'string' || !nodeIdPattern.test(from)) return { ok: false }
      if (typeof time !== 'string' || !timePattern.test(time)) return { ok: false }
      if (typeof nonce !== 'string' || !noncePattern.test(nonce)) return { ok: false }
      if (typeof signature !== 'string' || !signaturePattern.test(signature)) return { ok: false }
      const at = now()
      if (Math.abs(at - Number(time)) > maxSkewMs) return { ok: false }
      const expected = mac(from, time, nonce, method, path)
      if (!timingSafeEqual(expected, Buffer.from(signature, 'base64url'))) return { ok: false }
      // Only an authentic call takes a place in the nonce cache, so strangers cannot fill it.
      if (!remember(nonce, at)) return { ok: false }
      return { ok: true, from }
    },
  }
}

export type PeerAuth = ReturnType<typeof createPeerAuth>
