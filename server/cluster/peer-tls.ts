import tls, { type PeerCertificate, type TLSSocket } from 'node:tls'

/**
 * TLS 1.3 with an external pre-shared key on the peer channel (docs/cluster-forwarding.md,
 * scheme `psk://`). Every node derives the same key from the shared secret_key, so the
 * nodes authenticate each other and encrypt the channel with no certificate to issue,
 * distribute or renew. The HMAC-signed upgrade (peer-auth.ts) still runs inside.
 */

/** HKDF purpose of the channel key under secret_key (`edgetainer:cluster-peer-tls`): never the HMAC key's. */
export const PEER_TLS_KEY_PURPOSE = 'cluster-peer-tls'

/** The one PSK identity. It is public (the docs name it): the key is the secret. Versioned for a future key schedule. */
export const PEER_TLS_IDENTITY = 'edgetainer-peer/1'

/**
 * Named explicitly: Node offers no PSK suite by default. An external PSK handed over through
 * Node's pskCallback is tied by OpenSSL to a SHA-256 suite; AES-128-GCM is the one every build has.
 */
export const PEER_TLS_CIPHER = 'TLS_AES_128_GCM_SHA256'

const protocol = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: PEER_TLS_CIPHER } as const

/**
 * The listener's side. The server holds no certificate, so the PSK is the only way through:
 * an unknown identity gets null (OpenSSL then finds no certificate and fails the handshake),
 * a wrong key fails the binder check. OpenSSL's default key-exchange mode for a PSK is
 * psk_dhe_ke (an X25519 share on top of the key), which gives forward secrecy.
 */
export function peerTlsServerOptions(psk: Buffer, handshakeTimeoutMs: number): tls.TlsOptions {
  return {
    ...protocol,
    handshakeTimeout: handshakeTimeoutMs,
    pskCallback: (_socket: TLSSocket, identity: string) => (identity === PEER_TLS_IDENTITY ? psk : null),
  }
}

/**
 * A server that ignores the offered PSK may still finish TLS 1.3 with a certificate, and Node
 * would accept any CA-signed one once the host name check is skipped (there is no name to check
 * without a certificate). Such a server would then receive our signed upgrade and could replay
 * it to the real node within its window. So any certificate at all is a refusal: only the PSK
 * proves the far side is a node of this cluster.
 */
function refuseAnyCertificate(_host: string, cert: PeerCertificate): Error | undefined {
  if (cert && Object.keys(cert).length > 0) return new Error('the peer presented a certificate; the peer channel is authenticated by the cluster key only')
  return undefined
}

/** The dialling side's TLS options: offer the cluster key under the fixed identity, accept nothing but the PSK. */
export function peerTlsClientOptions(psk: Buffer): tls.ConnectionOptions {
  return {
    ...protocol,
    pskCallback: () => ({ psk, identity: PEER_TLS_IDENTITY }),
    checkServerIdentity: refuseAnyCertificate,
  }
}

/** A TLS-PSK connection to a peer listener (`psk://host:port`). */
export function connectPeerTls(host: string, port: number, psk: Buffer): TLSSocket {
  return tls.connect({ host, port, ...peerTlsClientOptions(psk) })
}
