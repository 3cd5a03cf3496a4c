import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { isErrorCode } from '../error-codes.js'
import { ForwardError } from './device-channels.js'
import { PEER_PROTOCOL, type PeerAuth } from './peer-auth.js'
import { peerTargetPath, type PeerTarget } from './peer-listener.js'

/** The owner's refusals the caller passes on as they are; anything else from a peer is PEER_UNREACHABLE. */
const RELAYED = new Set(['FORWARD_LOOP', 'SERVICE_NOT_CONNECTED', 'SERVICE_UNREACHABLE'])
const MAX_REFUSAL_BYTES = 4096

/**
 * Opens one device channel on another node: a signed `GET` with
 * `Upgrade: edgetainer-peer/1` to its peer URL; after `101` the socket carries
 * the channel's bytes. One connection per channel, so a slow channel never
 * holds up another (HTTP keep-alive above it reuses channels instead).
 */
export function createPeerClient(deps: { auth: PeerAuth; nodeId: () => string; connectTimeoutMs?: number }) {
  const timeoutMs = deps.connectTimeoutMs ?? 10_000

  function open(peerUrl: string, target: PeerTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      let url: URL
      try {
        url = new URL(peerUrl)
      } catch {
        return reject(new ForwardError('PEER_UNREACHABLE', 'the owning node advertises no usable peer URL'))
      }
      const path = peerTargetPath(target)
      const request = (url.protocol === 'https:' ? https : http).request({
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        method: 'GET',
        path,
        agent: false,
        headers: { ...deps.auth.sign(deps.nodeId(), 'GET', path), Connection: 'Upgrade', Upgrade: PEER_PROTOCOL },
      })
      const timer = setTimeout(() => request.destroy(new ForwardError('PEER_UNREACHABLE', 'the owning node did not answer in time')), timeoutMs)
      request.once('upgrade', (_res, socket: Socket, head: Buffer) => {
        clearTimeout(timer)
        socket.setNoDelay(true)
        if (head.length) socket.unshift(head)
        resolve(socket)
      })
      request.once('response', (res) => {
        clearTimeout(timer)
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size <= MAX_REFUSAL_BYTES) chunks.push(c)
        })
        res.once('end', () => {
          let code: unknown
          try {
            code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown }).code
          } catch {
            code = undefined
          }
          if (typeof code === 'string' && isErrorCode(code) && RELAYED.has(code)) {
            reject(new ForwardError(code as 'FORWARD_LOOP' | 'SERVICE_NOT_CONNECTED' | 'SERVICE_UNREACHABLE', `the owning node refused: ${code}`))
          } else reject(new ForwardError('PEER_UNREACHABLE', `the owning node answered ${res.statusCode}`))
        })
        res.once('error', () => reject(new ForwardError('PEER_UNREACHABLE', 'the owning node closed the connection')))
      })
      request.once('error', (err) => {
        clearTimeout(timer)
        reject(err instanceof ForwardError ? err : new ForwardError('PEER_UNREACHABLE', 'the owning node could not be reached'))
      })
      request.end()
    })
  }

  return { open }
}

export type PeerClient = ReturnType<typeof createPeerClient>
