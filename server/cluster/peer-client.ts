import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { isErrorCode } from '../error-codes.js'
import { ForwardError } from './device-channels.js'
import { PEER_PROTOCOL, type PeerAuth } from './peer-auth.js'
import { peerTargetPath, type PeerTarget } from './peer-listener.js'
import { connectPeerTls } from './peer-tls.js'
import { peerDialOf } from './peer-url.js'

/** The owner's refusals the caller passes on as they are; anything else from a peer is PEER_UNREACHABLE. */
const RELAYED = new Set(['FORWARD_LOOP', 'SERVICE_NOT_CONNECTED', 'SERVICE_UNREACHABLE'])
const MAX_REFUSAL_BYTES = 4096

/**
 * Opens one device channel on another node: a signed `GET` with
 * `Upgrade: edgetainer-peer/1` to its peer URL; after `101` the socket carries
 * the channel's bytes. One connection per channel, so a slow channel never
 * holds up another (HTTP keep-alive above it reuses channels instead).
 *
 * The scheme of the owner's peer URL says how to dial it (peer-url.ts): `psk://`
 * with TLS 1.3 and the cluster key `psk`, `http://` in clear, `https://` with the
 * system CAs. Every node holds `psk`, whatever its own peer_tls, so a cluster can
 * switch the listeners to TLS one node at a time.
 */
export function createPeerClient(deps: { auth: PeerAuth; psk: Buffer; nodeId: () => string; connectTimeoutMs?: number }) {
  const timeoutMs = deps.connectTimeoutMs ?? 10_000

  function open(peerUrl: string, target: PeerTarget): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const dial = peerDialOf(peerUrl)
      if (!dial) return reject(new ForwardError('PEER_UNREACHABLE', 'the owning node advertises no usable peer URL'))
      const path = peerTargetPath(target)
      const options: http.RequestOptions = {
        host: dial.host,
        port: dial.port,
        method: 'GET',
        path,
        headers: { ...deps.auth.sign(deps.nodeId(), 'GET', path), Connection: 'Upgrade', Upgrade: PEER_PROTOCOL },
      }
      // True between TCP connect and the end of the TLS handshake: a failure then means a key the owner does not share.
      let handshaking = false
      const connectTls = () => {
        const socket = connectPeerTls(dial.host, dial.port, deps.psk)
        socket.once('connect', () => (handshaking = true))
        socket.once('secureConnect', () => (handshaking = false))
        return socket
      }
      // psk:// has no agent: with `agent: false` Node builds a fresh Agent, which ignores createConnection and
      // would dial plain TCP. Without one, createConnection opens this request's one connection.
      const request =
        dial.transport === 'psk'
          ? http.request({ ...options, createConnection: connectTls })
          : (dial.transport === 'https' ? https : http).request({ ...options, agent: false })
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
        if (err instanceof ForwardError) return reject(err)
        // A refused TLS handshake is almost always a node with another secret_key: say so to whoever reads the debug log.
        if (handshaking) return reject(new ForwardError('PEER_UNREACHABLE', 'the TLS handshake with the owning node failed (is secret_key the same on every node, and is its listener TLS-PSK?)'))
        reject(new ForwardError('PEER_UNREACHABLE', 'the owning node could not be reached'))
      })
      request.end()
    })
  }

  return { open }
}

export type PeerClient = ReturnType<typeof createPeerClient>
