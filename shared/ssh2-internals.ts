import { createPublicKey, diffieHellman, randomFillSync, type KeyObject } from 'node:crypto'
import type net from 'node:net'
import sshCrypto from 'ssh2/lib/protocol/crypto.js'
import sshConstants from 'ssh2/lib/protocol/constants.js'

/**
 * Every place Edgetainer relies on ssh2 beyond its public API, in one module.
 * ssh2 is pinned (package.json) and test/unit/ssh2-internals.test.ts fails if
 * an upgrade moves any of these; fix them here and nowhere else. Over 300
 * lines on purpose: keeping every such reliance in one module is the point.
 *
 * What we rely on, and why:
 * - `_sock`: the raw socket of a server-side Connection or a Client. The
 *   gateway batches writes on it and cuts it when a peer ignores a disconnect;
 *   the agent turns Nagle off on it before `ready` handlers run.
 * - The server writes its identification line (`SSH-2.0-<ident>\r\n`) as one
 *   separate, first write when a connection starts: the gateway sends it
 *   itself at accept time (so a client that waits for the server's banner is
 *   served while its handshake waits for a slot) and swallows ssh2's copy.
 * - `keepaliveInterval` / `keepaliveCountMax` in ServerConfig: undocumented,
 *   honoured by ssh2's Server (lib/server.js), not in its typings.
 * - `lib/protocol/crypto.js`: its cipher classes and their `allocPacket`,
 *   which bufferPaddingRandomness() speeds up (below).
 * - The prototype of ssh2's X25519 key exchange (internal to lib/protocol/kex.js,
 *   reached through a finished `_kex`), with `_keys`, `generateKeys`,
 *   `getPublicKey` and `computeSecret`: rawX25519Keys() replaces the last two.
 * - `_protocol` of a Connection, with `_kex` (the finished key exchange and
 *   its `negotiated` algorithm names), `_identRaw` / `_remoteIdentRaw` and
 *   `_decipher._tag`, and the SUPPORTED_* lists of
 *   `lib/protocol/constants.js`: what releaseHandshakeState() trims once a
 *   session is up (below).
 */

interface WithSocket {
  _sock?: net.Socket
}

/** The TCP socket under an ssh2 server Connection or Client; undefined before it connects. */
export function sshSocket(connection: object): net.Socket | undefined {
  return (connection as WithSocket)._sock
}

/** The exact identification line ssh2's Server writes for `ident` (ServerConfig.ident). */
export function serverIdentLine(ident: string): Buffer {
  return Buffer.from(`SSH-2.0-${ident}\r\n`)
}

/**
 * Writes the server's identification line now, and drops the identical line
 * ssh2 writes first when the socket is later handed to its Server. Any other
 * first write passes through untouched (and the handshake would fail loudly).
 */
export function sendServerIdentEarly(socket: net.Socket, ident: string): void {
  const line = serverIdentLine(ident)
  socket.write(line)
  const write = socket.write
  socket.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    socket.write = write
    const [chunk, encodingOrCb, cb] = args
    if (Buffer.isBuffer(chunk) && chunk.equals(line)) {
      const done = typeof encodingOrCb === 'function' ? encodingOrCb : cb
      if (typeof done === 'function') process.nextTick(done)
      return true
    }
    return write.apply(socket, args)
  } as net.Socket['write']
}

interface SshCipher {
  allocPacket(payloadLen: number): Buffer
  free?(): void
}

interface SshCryptoModule {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number; authLen: number }>
  MAC_INFO: Record<string, { len: number }>
  createCipher(config: object): SshCipher
}

/** Where each packet of one cipher instance puts its padding, by payload length mod 16 (every block size divides 16). */
const PADDING_LAYOUTS = Symbol('edgetainer.paddingLayouts')
const PATCHED = Symbol('edgetainer.bufferedPadding')
type PaddingLayout = { padLen: number; tail: number }

/** Random bytes drawn from the CSPRNG a few KiB at a time and handed out once each, as OpenSSH's arc4random_buf does. */
function createRandomPool(size: number) {
  const pool = Buffer.allocUnsafe(size)
  let at = size
  return (target: Buffer, offset: number, length: number) => {
    if (at + length > size) {
      randomFillSync(pool)
      at = 0
    }
    pool.copy(target, offset, at, at + length)
    at += length
  }
}

/**
 * ssh2 fills each outgoing packet's padding (RFC 4253 §6: 4 to 255 random
 * bytes) with its own `crypto.randomFillSync` call, and a call costs more than
 * the rest of the packet's framing: about a tenth of the gateway's CPU per
 * proxied request in bench/tunnel. This patches every cipher class of ssh2
 * (once per process; both the gateway and the agent call it at start) to take
 * those bytes from a pool filled by the same CSPRNG 4 KiB at a time instead.
 * The bytes are as random, and none is used twice.
 *
 * The packet layout stays ssh2's own: the first packet of each payload length
 * mod 16 on a cipher instance is still built by ssh2's allocPacket, and its
 * padding length and trailer (MAC or tag) are reused for the same residue
 * later (they depend on nothing else: the block size divides 16).
 */
export function bufferPaddingRandomness(): void {
  const { CIPHER_INFO, MAC_INFO, createCipher } = sshCrypto as unknown as SshCryptoModule
  const fill = createRandomPool(4096)
  const mac = MAC_INFO['hmac-sha2-256']!
  for (const info of Object.values(CIPHER_INFO)) {
    for (const forceNative of [false, true]) {
      let cipher: SshCipher
      try {
        cipher = createCipher({
          outbound: {
            onWrite() {},
            cipherInfo: info,
            cipherKey: Buffer.alloc(info.keyLen),
            cipherIV: Buffer.alloc(info.ivLen),
            seqno: 0,
            macInfo: mac,
            macKey: Buffer.alloc(mac.len),
            forceNative,
          },
        })
      } catch {
        continue // a cipher this OpenSSL build lacks (blowfish, idea…): ssh2 could not use it either
      }
      cipher.free?.()
      patchAllocPacket(Object.getPrototypeOf(cipher) as SshCipher & Record<symbol, unknown>, fill)
    }
  }
}

function patchAllocPacket(proto: SshCipher & Record<symbol, unknown>, fill: ReturnType<typeof createRandomPool>) {
  if (proto[PATCHED]) return
  const original = proto.allocPacket
  proto[PATCHED] = true
  proto.allocPacket = function (this: Record<symbol, (PaddingLayout | undefined)[] | undefined>, payloadLen: number): Buffer {
    const layouts = (this[PADDING_LAYOUTS] ??= [])
    const residue = payloadLen & 15
    const layout = layouts[residue]
    if (!layout) {
      const packet = original.call(this, payloadLen)
      const padLen = packet[4]!
      layouts[residue] = { padLen, tail: packet.length - (5 + payloadLen + padLen) }
      return packet
    }
    const packetLen = 5 + payloadLen + layout.padLen
    const packet = Buffer.allocUnsafe(packetLen + layout.tail)
    packet.writeUInt32BE(packetLen - 4, 0)
    packet[4] = layout.padLen
    fill(packet, 5 + payloadLen, layout.padLen)
    return packet
  }
}

/**
 * Runs `fn` with Node's shared Buffer pool off, so that every small Buffer it
 * makes gets its own memory. A pooled Buffer is a slice of an 8 KiB slab, and
 * one long-lived slice keeps the whole slab alive: ssh2 makes a few such
 * slices per connection (its identification line, held in a closure for the
 * connection's life), and with thousands of idle sessions those slabs were
 * half the gateway's buffer memory. Only for short synchronous setup code.
 */
export function withoutBufferPool<T>(fn: () => T): T {
  const poolSize = Buffer.poolSize
  Buffer.poolSize = 0
  try {
    return fn()
  } finally {
    Buffer.poolSize = poolSize
  }
}

const { SUPPORTED_KEX, SUPPORTED_SERVER_HOST_KEY, SUPPORTED_CIPHER, SUPPORTED_MAC, SUPPORTED_COMPRESSION } = sshConstants as Record<string, string[]>
const directionLists: Record<string, string[] | undefined> = { cipher: SUPPORTED_CIPHER, mac: SUPPORTED_MAC, compress: SUPPORTED_COMPRESSION }

/** ssh2's own constant for a negotiated name: the parsed one is a slice of the peer's whole algorithm list, and keeps it alive. */
function canonical(name: string | undefined, list: string[] | undefined): string | undefined {
  if (name === '') return ''
  return list?.find((known) => known === name) ?? name
}

function canonicalNames(negotiated: Negotiated): void {
  negotiated.kex = canonical(negotiated.kex, SUPPORTED_KEX)
  negotiated.serverHostKey = canonical(negotiated.serverHostKey, SUPPORTED_SERVER_HOST_KEY)
  for (const direction of [negotiated.cs, negotiated.sc]) {
    if (!direction) continue
    for (const field of Object.keys(direction)) direction[field] = canonical(direction[field], directionLists[field]) ?? direction[field]!
  }
}

/** A copy of a small Buffer in memory of its own (see withoutBufferPool). */
function unpooledCopy(buf: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(buf.length)
  buf.copy(copy)
  return copy
}

interface Negotiated {
  kex?: string
  serverHostKey?: string
  cs?: Record<string, string>
  sc?: Record<string, string>
}

interface SshProtocol {
  _kex?: { _finished?: boolean; finish?: unknown; _keys?: unknown; negotiated?: Negotiated }
  _identRaw?: Buffer
  _remoteIdentRaw?: Buffer
  _decipher?: { _tag?: unknown }
}

/**
 * Drops what ssh2 keeps of a finished handshake for the rest of a
 * connection's life, once it is authenticated: the closure that holds the
 * shared secret and the exchange hash (the key exchange's own `finish`), the
 * X25519 key pair, and the peer's algorithm lists that the negotiated names
 * are slices of. A later re-key makes a new exchange and needs neither;
 * it reads only the session id and the identification lines, which stay. The
 * small Buffers that do stay are moved out of the shared pool, so that they
 * no longer pin 8 KiB slabs. With many idle devices this is a few KiB of the
 * gateway's memory per session.
 */
export function releaseHandshakeState(connection: object): void {
  const protocol = (connection as { _protocol?: SshProtocol })._protocol
  if (!protocol) return
  const kex = protocol._kex
  if (kex?._finished) {
    // The prototype's finish() returns false on a finished exchange: the own one is the closure.
    if (Object.prototype.hasOwnProperty.call(kex, 'finish')) delete kex.finish
    if ('_keys' in kex) kex._keys = null
    if (kex.negotiated) canonicalNames(kex.negotiated)
  }
  if (Buffer.isBuffer(protocol._identRaw)) protocol._identRaw = unpooledCopy(protocol._identRaw)
  if (Buffer.isBuffer(protocol._remoteIdentRaw)) protocol._remoteIdentRaw = unpooledCopy(protocol._remoteIdentRaw)
  const decipher = protocol._decipher
  if (decipher && Buffer.isBuffer(decipher._tag)) decipher._tag = unpooledCopy(decipher._tag)
}

interface X25519Exchange {
  type?: string
  _keys: { publicKey: KeyObject; privateKey: KeyObject } | null
  generateKeys(): void
  getPublicKey(): Buffer
  computeSecret(otherPublicKey: Buffer): Buffer | Error
}

/** ssh2's own getPublicKey and computeSecret, kept on the patched prototype (tests compare against them). */
export const SSH2_X25519_METHODS = Symbol('edgetainer.ssh2X25519Methods')

/** A shared secret as an SSH mpint's value (RFC 4251 §5): no leading zero bytes, and one zero byte first if the top bit is set. */
export function sshMpint(secret: Buffer): Buffer {
  let start = 0
  while (start < secret.length && secret[start] === 0) start++
  const value = secret.subarray(start)
  if (value.length && value[0]! & 0x80) return Buffer.concat([Buffer.alloc(1), value])
  return value
}

/**
 * ssh2's X25519 key exchange (curve25519-sha256, the first choice of OpenSSH
 * and of the agent) exports its own public key and imports the peer's as
 * DER. OpenSSL 3 runs DER through its generic decoder and encoder framework:
 * about 0.1 ms each, a tenth of the gateway's CPU per handshake, which a
 * reconnect storm of thousands multiplies. The raw form (JWK) does the same
 * in a few microseconds. The keys, the secret and the bytes on the wire do
 * not change.
 *
 * ssh2 keeps that class to itself, so the first finished exchange of the
 * process hands us its prototype, which is then patched once; every later
 * handshake takes the raw path. Other key exchanges are left alone.
 */
export function rawX25519Keys(connection: object): void {
  const kex = (connection as { _protocol?: { _kex?: X25519Exchange } })._protocol?._kex
  if (kex?.type !== '25519') return
  const proto = Object.getPrototypeOf(kex) as X25519Exchange & Record<symbol, unknown>
  if (proto[SSH2_X25519_METHODS] || typeof proto.generateKeys !== 'function') return
  proto[SSH2_X25519_METHODS] = { getPublicKey: proto.getPublicKey, computeSecret: proto.computeSecret }
  proto.getPublicKey = function (this: X25519Exchange): Buffer {
    this.generateKeys()
    return Buffer.from(this._keys!.publicKey.export({ format: 'jwk' }).x!, 'base64url')
  }
  proto.computeSecret = function (this: X25519Exchange, otherPublicKey: Buffer): Buffer | Error {
    this.generateKeys()
    try {
      // A key that is not 32 bytes, or that OpenSSL refuses, is an Error here, as in ssh2's own: the handshake fails.
      if (otherPublicKey.length !== 32) throw new Error(`X25519 public key of ${otherPublicKey.length} bytes, not 32`)
      const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: otherPublicKey.toString('base64url') }, format: 'jwk' })
      return sshMpint(diffieHellman({ privateKey: this._keys!.privateKey, publicKey }))
    } catch (err) {
      return err as Error
    }
  }
}
