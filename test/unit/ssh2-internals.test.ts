import t from 'tap'
import net from 'node:net'
import { createRequire } from 'node:module'
import ssh2 from 'ssh2'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { bufferPaddingRandomness, rawX25519Keys, releaseHandshakeState, SSH2_X25519_METHODS, sendServerIdentEarly, serverIdentLine, sshMpint, sshSocket, withoutBufferPool } from '../../shared/ssh2-internals.js'

// Guards shared/ssh2-internals.ts: if an ssh2 upgrade moves what it relies on, this fails before the gateway does.

const require = createRequire(import.meta.url)

t.test('ssh2 is the version the internals were checked against', async (t) => {
  t.equal((require('ssh2/package.json') as { version: string }).version, '1.17.0', 'upgrade ssh2 only together with shared/ssh2-internals.ts')
})

interface Cipher {
  allocPacket(n: number): Buffer
  encrypt(packet: Buffer): void
  free?(): void
}
const sshCrypto = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>
  MAC_INFO: Record<string, { len: number }>
  createCipher(config: object): Cipher
  createDecipher(config: object): { decrypt(data: Buffer, start: number, end: number): number | undefined; free?(): void }
}

/** A cipher of each kind ssh2 builds (its compiled binding where it has one, and Node's crypto), keyed by name. */
function everyCipher(onWrite: (packet: Buffer) => void = () => {}): [string, Cipher][] {
  const mac = sshCrypto.MAC_INFO['hmac-sha2-256-etm@openssh.com']!
  const made: [string, Cipher][] = []
  for (const [name, info] of Object.entries(sshCrypto.CIPHER_INFO)) {
    for (const forceNative of [false, true]) {
      try {
        const cipher = sshCrypto.createCipher({
          outbound: { onWrite, cipherInfo: info, cipherKey: Buffer.alloc(info.keyLen, 7), cipherIV: Buffer.alloc(info.ivLen, 9), seqno: 0, macInfo: mac, macKey: Buffer.alloc(mac.len, 3), forceNative },
        })
        made.push([`${name}${forceNative ? ' (node crypto)' : ''}`, cipher])
      } catch {
        // A cipher this OpenSSL build lacks.
      }
    }
  }
  return made
}

/** Length field, padding length and total size of each packet a cipher allocates for payloads of 0–80 bytes. */
function layouts(cipher: Cipher): number[][] {
  const out: number[][] = []
  for (let n = 0; n <= 80; n++) {
    // Twice: the second packet of a length is the one built from the learned layout.
    for (const packet of [cipher.allocPacket(n), cipher.allocPacket(n)]) out.push([packet.readUInt32BE(0), packet[4]!, packet.length])
  }
  return out
}

t.test('buffered padding randomness keeps every cipher\'s packet layout, and its padding stays random', async (t) => {
  const before = new Map(everyCipher().map(([name, cipher]) => [name, layouts(cipher)]))
  const ssh2Own = new Map(everyCipher().map(([name, cipher]) => [name, cipher.allocPacket]))
  t.ok(before.has('aes128-gcm@openssh.com') && before.has('chacha20-poly1305@openssh.com') && before.has('aes128-ctr'), `the ciphers in use are covered (${before.size} kinds)`)
  bufferPaddingRandomness()
  bufferPaddingRandomness() // a second call (another gateway in the same process) changes nothing
  for (const [name, cipher] of everyCipher()) {
    t.not(cipher.allocPacket, ssh2Own.get(name), `${name}: allocPacket is the buffered one`)
    t.same(layouts(cipher), before.get(name), `${name}: the same length, padding and size for every payload length`)
    const paddings = new Set<string>()
    for (let i = 0; i < 20; i++) {
      const packet = cipher.allocPacket(33)
      paddings.add(packet.subarray(5 + 33, 5 + 33 + packet[4]!).toString('hex'))
    }
    t.equal(paddings.size, 20, `${name}: twenty packets, twenty different paddings`)
    cipher.free?.()
  }

  // A patched AES-GCM packet still opens with ssh2's own decipher.
  const info = sshCrypto.CIPHER_INFO['aes128-gcm@openssh.com']!
  let sealed: Buffer | undefined
  const [, cipher] = everyCipher((p) => (sealed = Buffer.from(p))).find(([name]) => name === 'aes128-gcm@openssh.com')!
  const payload = Buffer.from('\x5e channel data through a padded packet')
  cipher.allocPacket(payload.length) // ssh2's own; the next one is built from the learned layout
  const packet = cipher.allocPacket(payload.length)
  payload.copy(packet, 5)
  cipher.encrypt(packet)
  let opened: Buffer | undefined
  const decipher = sshCrypto.createDecipher({
    inbound: { onPayload: (p: Buffer) => void (opened = Buffer.from(p)), decipherInfo: info, decipherKey: Buffer.alloc(info.keyLen, 7), decipherIV: Buffer.alloc(info.ivLen, 9), seqno: 0 },
  })
  decipher.decrypt(sealed!, 0, sealed!.length)
  t.same(opened, payload, 'the device side reads the payload back')
})

t.test('the server sends its banner early, ssh2 its copy never, and a client still completes the handshake', async (t) => {
  const hostKey = generateEd25519('host')
  const clientKey = generateEd25519('client')
  let serverSideSocket: net.Socket | undefined
  const server = new ssh2.Server({ hostKeys: [hostKey.private], ident: 'UnitTest' }, (connection) => {
    serverSideSocket = sshSocket(connection)
    connection.on('authentication', (ctx) => ctx.accept())
    connection.on('error', () => {})
  })
  const front = net.createServer({ pauseOnConnect: true }, (socket) => {
    sendServerIdentEarly(socket, 'UnitTest')
    socket.resume()
    server.injectSocket(socket)
  })
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve))
  t.teardown(() => front.close())
  const port = (front.address() as net.AddressInfo).port

  // A raw peer sees exactly one identification line, then binary packets (KEXINIT).
  const raw = net.connect(port, '127.0.0.1')
  const received: Buffer[] = []
  raw.on('data', (d) => received.push(d))
  await new Promise((r) => raw.once('data', r))
  t.same(Buffer.concat(received), serverIdentLine('UnitTest'), 'the banner alone, before the peer spoke')
  raw.write('SSH-2.0-Raw_1.0\r\n')
  await new Promise((r) => raw.once('data', r))
  const all = Buffer.concat(received).toString('latin1')
  t.equal(all.split('SSH-2.0-').length - 1, 1, 'one identification line in all')
  raw.destroy()

  // A real client completes the handshake over it; both ends expose their socket where we read it.
  const client = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
    client.connect({ host: '127.0.0.1', port, username: 'unit', privateKey: clientKey.private })
  })
  t.ok(sshSocket(client) instanceof net.Socket, "Client's _sock is its socket")
  t.ok(serverSideSocket instanceof net.Socket, "server Connection's _sock is its socket")
  client.end()
})

t.test('withoutBufferPool gives small Buffers memory of their own, and restores the pool even when it throws', async (t) => {
  const poolSize = Buffer.poolSize
  const inside = withoutBufferPool(() => [Buffer.allocUnsafe(16), Buffer.from('SSH-2.0-Edgetainer')])
  for (const b of inside) t.equal(b.buffer.byteLength, b.length, 'not a slice of a shared slab')
  t.equal(Buffer.poolSize, poolSize)
  t.ok(Buffer.allocUnsafe(16).buffer.byteLength > 16, 'outside, small Buffers come from the pool again')
  t.throws(() => withoutBufferPool(() => {
    throw new Error('setup failed')
  }), /setup failed/)
  t.equal(Buffer.poolSize, poolSize, 'restored after a throw')
})

t.test('releaseHandshakeState drops the finished key exchange, and the session still re-keys and carries requests', async (t) => {
  const hostKey = generateEd25519('host')
  const clientKey = generateEd25519('client')
  interface Internals {
    _protocol: { _kex: Record<string, unknown>; _identRaw: Buffer; _remoteIdentRaw: Buffer; _decipher: { _tag?: Buffer } }
  }
  let inspected: { ownFinishBefore: boolean; keysBefore: boolean; ownFinishAfter: boolean; keysAfter: unknown; unpooled: boolean } | undefined
  let serverConnection: ssh2.Connection | undefined
  let negotiatedKept = false
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (connection) => {
    serverConnection = connection
    connection.on('authentication', (ctx) => ctx.accept())
    connection.on('ready', () => {
      const protocol = (connection as unknown as Internals)._protocol
      const kex = protocol._kex
      const ownFinishBefore = Object.prototype.hasOwnProperty.call(kex, 'finish')
      const keysBefore = Boolean(kex._keys)
      const negotiatedBefore = JSON.stringify(kex.negotiated)
      releaseHandshakeState(connection)
      negotiatedKept = JSON.stringify(kex.negotiated) === negotiatedBefore && /aes128-gcm/.test(negotiatedBefore)
      const kept = [protocol._identRaw, protocol._remoteIdentRaw, ...(protocol._decipher._tag ? [protocol._decipher._tag] : [])]
      inspected = {
        ownFinishBefore,
        keysBefore,
        ownFinishAfter: Object.prototype.hasOwnProperty.call(kex, 'finish'),
        keysAfter: kex._keys,
        unpooled: kept.every((b) => b.buffer.byteLength === b.length),
      }
    })
    connection.on('request', (accept, _reject, name) => {
      if (name === 'tcpip-forward') accept?.(40_000)
    })
    connection.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const client = new ssh2.Client()
  client.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve)
    client.once('error', reject)
    client.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, username: 'unit', privateKey: clientKey.private, algorithms: { cipher: ['aes128-gcm@openssh.com'] } })
  })
  t.teardown(() => client.end())
  t.match(inspected, { ownFinishBefore: true, keysBefore: true, ownFinishAfter: false, keysAfter: null, unpooled: true }, 'the closure and the key pair are gone, the kept lines are unpooled')
  t.ok(negotiatedKept, 'the negotiated algorithm names read the same (now ssh2\'s constants)')
  const constants = require('ssh2/lib/protocol/constants.js') as Record<string, unknown>
  for (const list of ['SUPPORTED_KEX', 'SUPPORTED_SERVER_HOST_KEY', 'SUPPORTED_CIPHER', 'SUPPORTED_MAC', 'SUPPORTED_COMPRESSION']) {
    t.ok(Array.isArray(constants[list]) && (constants[list] as unknown[]).length > 0, `ssh2 still lists ${list}`)
  }
  await new Promise<void>((resolve) => serverConnection!.rekey(resolve))
  t.pass('a re-key after the release completes')
  const port = await new Promise<number>((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err, p) => (err ? reject(err) : resolve(p))))
  t.equal(port, 40_000, 'and the session carries requests on the new keys')
})

t.test('rawX25519Keys: the same keys and secrets as ssh2, handshakes keep working, a bad peer key is an error', async (t) => {
  const hostKey = generateEd25519('host')
  const clientKey = generateEd25519('client')
  const prototypes: object[] = []
  const server = new ssh2.Server({ hostKeys: [hostKey.private] }, (connection) => {
    connection.on('authentication', (ctx) => ctx.accept())
    connection.on('ready', () => {
      const kex = (connection as unknown as { _protocol: { _kex: object } })._protocol._kex
      rawX25519Keys(connection)
      prototypes.push(Object.getPrototypeOf(kex) as object)
    })
    connection.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  // The first handshake hands over the prototype; the later ones run on the patched methods (a wrong secret would fail them).
  for (let i = 0; i < 3; i++) {
    const client = new ssh2.Client()
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve)
      client.once('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'unit', privateKey: clientKey.private, algorithms: { kex: ['curve25519-sha256'] } })
    })
    client.end()
  }
  t.equal(prototypes.length, 3)
  t.equal(prototypes[0], prototypes[2], 'one class for every exchange')
  interface Exchange {
    _keys: unknown
    getPublicKey(): Buffer
    computeSecret(other: Buffer): Buffer | Error
  }
  const proto = prototypes[0] as Exchange & Record<symbol, { getPublicKey(): Buffer; computeSecret(other: Buffer): Buffer | Error }>
  const ssh2Own = proto[SSH2_X25519_METHODS]!
  t.ok(ssh2Own && proto.computeSecret !== ssh2Own.computeSecret, 'patched once, ssh2\'s own methods kept')
  for (let i = 0; i < 64; i++) {
    const exchange = Object.create(proto) as Exchange
    exchange._keys = null
    const peer = Object.create(proto) as Exchange
    peer._keys = null
    const peerPublic = peer.getPublicKey()
    t.same(exchange.getPublicKey(), ssh2Own.getPublicKey.call(exchange), 'the same public key bytes')
    const ours = exchange.computeSecret(peerPublic)
    t.same(ours, ssh2Own.computeSecret.call(exchange, peerPublic), 'the same secret as ssh2 computes')
    t.same(ours, peer.computeSecret(exchange.getPublicKey()), 'and both sides agree')
  }
  const exchange = Object.create(proto) as Exchange
  exchange._keys = null
  for (const bad of [Buffer.alloc(31, 1), Buffer.alloc(33, 1), Buffer.alloc(0), Buffer.alloc(32)]) {
    t.type(exchange.computeSecret(bad), Error, `a ${bad.length}-byte${bad.length === 32 ? ' all-zero' : ''} peer key is an error, not a throw`)
  }
})

t.test('sshMpint strips leading zeros and marks a set top bit', async (t) => {
  t.same(sshMpint(Buffer.from([0, 0, 0x12, 0x34])), Buffer.from([0x12, 0x34]))
  t.same(sshMpint(Buffer.from([0, 0x80, 1])), Buffer.from([0, 0x80, 1]))
  t.same(sshMpint(Buffer.from([0xff])), Buffer.from([0, 0xff]))
  t.same(sshMpint(Buffer.from([0, 0, 0])), Buffer.alloc(0))
  t.same(sshMpint(Buffer.from([0x7f, 0])), Buffer.from([0x7f, 0]))
})
