import { isLoopbackHost } from '../provision/gateway-endpoints.js'

/**
 * What a peer URL (`gateway_nodes.peer_url`) tells the nodes that dial it: its scheme says how
 * (docs/cluster-forwarding.md). The advertising node picks the scheme that matches its own
 * listener, so the callers need no setting of their own, and a cluster can switch from one to
 * the other node by node.
 */

/**
 * - `psk`: TLS 1.3 keyed from secret_key (peer-tls.ts); what a node with `peer_tls` on listens with.
 * - `http`: plain TCP, for `peer_tls: off` (a rolling upgrade from a version without TLS).
 * - `https`: TLS with the system CAs, to a terminator in front of a listener with `peer_tls: off`.
 */
export type PeerTransport = 'psk' | 'http' | 'https'

const transports: Record<string, PeerTransport> = { 'psk:': 'psk', 'http:': 'http', 'https:': 'https' }
/** psk:// has no port of its own: it must be written. */
const defaultPorts: Partial<Record<PeerTransport, number>> = { http: 80, https: 443 }

export interface PeerDial {
  transport: PeerTransport
  host: string
  port: number
}

/** How to dial a peer URL, or undefined when it is not one (another scheme, no port for psk://). */
export function peerDialOf(peerUrl: string): PeerDial | undefined {
  let url: URL
  try {
    url = new URL(peerUrl)
  } catch {
    return undefined
  }
  const transport = transports[url.protocol]
  if (!transport) return undefined
  const port = url.port ? Number(url.port) : defaultPorts[transport]
  if (port === undefined || !url.hostname) return undefined
  return { transport, host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port }
}

/** What a node advertises when `peer_url` is unset: its bound listener, in the scheme that listener speaks. */
export function defaultPeerUrl(host: string, port: number, peerTls: boolean): string {
  const bracketed = host.includes(':') ? `[${host}]` : host
  return `${peerTls ? 'psk' : 'http'}://${bracketed}:${port}/`
}

/** The port a peer URL is dialled on (its default when none is written), or undefined when none applies. */
export function peerUrlPort(peerUrl: string): number | undefined {
  return peerDialOf(peerUrl)?.port
}

/**
 * Why this node's own `peer_url` cannot reach its own listener, or undefined when it can.
 * `listening` is false for a peer_url advertised without `peer_listen` (nothing here listens,
 * so `peer_tls` decides nothing); the URL must still be one the other nodes can dial.
 */
export function peerUrlProblem(peerUrl: string, options: { peerTls: boolean; listening: boolean }): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(peerUrl)?.[1]?.toLowerCase() ?? ''
  const dial = peerDialOf(peerUrl)
  if (!dial) {
    if (scheme === 'psk') return `peer_url ${peerUrl} must name a host and a port: psk:// has no default port; write psk://host:port/`
    return `peer_url ${peerUrl} has the scheme "${scheme}:": peer URLs are psk://host:port/ (peer_tls on), or http:// or https:// (peer_tls off)`
  }
  if (!options.listening) return undefined
  if (options.peerTls && dial.transport !== 'psk') {
    return `peer_tls is on, so the peer listener (peer_listen) accepts TLS-PSK only, but peer_url ${peerUrl} tells other nodes to dial it without: advertise psk://host:port/ in peer_url (EDGETAINER_PEER_URL), or set peer_tls: off (EDGETAINER_PEER_TLS=off)`
  }
  if (!options.peerTls && dial.transport === 'psk') {
    return `peer_tls is off, so the peer listener (peer_listen) speaks plain HTTP, but peer_url ${peerUrl} tells other nodes to dial it with TLS-PSK: advertise http://host:port/ in peer_url (EDGETAINER_PEER_URL), or set peer_tls: on (EDGETAINER_PEER_TLS=on)`
  }
  return undefined
}

/**
 * True for a peer listener on a loopback address that is also advertised as one (the `--workers`
 * default): its traffic never leaves this host, so `peer_tls: off` there is no warning. A wildcard
 * bind (0.0.0.0, ::) is not, nor a loopback listener advertised elsewhere (a TCP relay in front).
 */
export function staysOnThisHost(listenHost: string, peerUrl: string): boolean {
  const unspecified = ['0.0.0.0', '::', '::ffff:0.0.0.0'].includes(listenHost.toLowerCase().replace(/^\[(.*)\]$/, '$1'))
  const dialled = peerDialOf(peerUrl)?.host
  return !unspecified && isLoopbackHost(listenHost) && dialled !== undefined && isLoopbackHost(dialled)
}
