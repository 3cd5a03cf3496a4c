import { execFileSync } from 'node:child_process'
import { constants, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls, { type TLSSocket } from 'node:tls'
import fc from 'fast-check'
import t from 'tap'
import { ForwardError } from '../../server/cluster/device-channels.js'
import { createPeerAuth, PEER_PROTOCOL, type PeerAuth } from '../../server/cluster/peer-auth.js'
import { createPeerClient } from '../../server/cluster/peer-client.js'
import { createPeerListener, peerTargetPath } from '../../server/cluster/peer-listener.js'
import { connectPeerTls, PEER_TLS_CIPHER, PEER_TLS_IDENTITY, peerTlsClientOptions } from '../../server/cluster/peer-tls.js'
import { createLogger } from '../../server/logger.js'
import { createTunnelRegistry } from '../../server/tunnel/tunnel-registry.js'
import { rawRequest } from '../lib/device-app.js'
import { offeredPskIdentities, offeredPskModes, PSK_DHE_KE, readHello, TLS_EXTENSION } from '../lib/tls-hello.js'
import { waitFor } from '../lib/wait.js'

/*
 * The peer listener with peer_tls on, on real sockets: TLS 1.3 with the cluster's pre-shared
 * key around the signed upgrade. Its registry holds no device, so a call that gets through
 * both layers is answered FORWARD_LOOP: proof that the HTTP inside the TLS was read and signed.
 * The channel carrying a device's bytes, and the wire seen by a wiretap, are in peer-tls-wire.test.ts.
 */

const psk = randomBytes(32)
const hmacKey = randomBytes(32)
const device = randomUUID()
const target = { device, kind: 'service', name: 'web', port: 80 } as const
const channelPath = peerTargetPath(target)

/** Everything the listeners log, at every level, so the test can say what was (not) written. */
const logLines: string[] = []
const logger = createLogger('trace', { write: (line: string) => void logLines.push(line) })

async function startListener(options: { handshakeTimeoutMs?: number; auth?: PeerAuth; maxPending?: number } = {}) {
  const listener = createPeerListener({ auth: options.auth ?? createPeerAuth({ key: hmacKey }), registry: createTunnelRegistry(), logger, psk, handshakeTimeoutMs: options.handshakeTimeoutMs, maxPending: options.maxPending })
  const port = await listener.listen('127.0.0.1', 0)
  t.teardown(() => listener.close())
  return { listener, port }
}

/** A TLS handshake with the given client options; resolves once it is complete. */
function handshake(port: number, options: tls.ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...options })
    socket.once('secureConnect', () => resolve(socket))
    socket.once('error', reject)
  })
}

/** A TCP connection that sends nothing, once the listener has taken it (the first byte it could send would be an alert). */
async function openSilent(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

/** Writes a signed upgrade on an open socket and reads the answer's head. */
function signedCall(socket: TLSSocket, auth: PeerAuth): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if (text.includes('\r\n\r\n')) resolve(text)
    })
    socket.once('error', reject)
    socket.once('close', () => resolve(text))
    const headers = { ...auth.sign('gw-test', 'GET', channelPath), Connection: 'Upgrade', Upgrade: PEER_PROTOCOL, Host: 'peer' }
    socket.write(`GET ${channelPath} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`)
  })
}

/** The bytes of a real ClientHello as connectPeerTls sends it, caught by a listener that never answers. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      socket.once('data', (d: Buffer) => {
        resolve(d)
        socket.destroy()
        server.close()
      })
    })
    server.listen(0, '127.0.0.1', () => {
      const client = connectPeerTls('127.0.0.1', (server.address() as net.AddressInfo).port, psk)
      client.on('error', () => {})
    })
    server.on('error', reject)
  })
}

/** Writes `bytes` on a fresh TCP connection; resolves with what came back once the listener closed it. */
function strangerBytes(port: number, bytes: Uint8Array, capMs = 5000): Promise<{ closed: boolean; reply: Buffer; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now()
    const chunks: Buffer[] = []
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes))
    const finish = (closed: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ closed, reply: Buffer.concat(chunks), ms: Date.now() - started })
    }
    const timer = setTimeout(() => finish(false), capMs)
    socket.on('data', (d: Buffer) => chunks.push(d))
    socket.on('error', () => {})
    socket.once('close', () => finish(true))
  })
}

t.test('a PSK client gets TLS 1.3, the configured suite, an ephemeral key exchange, and the signed upgrade inside', async (t) => {
  const { port } = await startListener()
  const socket = await handshake(port, peerTlsClientOptions(psk))
  t.teardown(() => socket.destroy())
  t.equal(socket.getProtocol(), 'TLSv1.3')
  t.equal(socket.getCipher().standardName, PEER_TLS_CIPHER, 'the one suite configured')
  // Node reports the (EC)DHE share of the handshake; an empty object would mean psk_ke, with no forward secrecy.
  t.match(socket.getEphemeralKeyInfo(), { type: 'ECDH', name: 'X25519' }, 'the key exchange is ephemeral (psk_dhe_ke)')
  t.same(socket.getPeerCertificate(), {}, 'no certificate: the key authenticated the listener')
  // A caller that also offers psk_ke (OpenSSL's SSL_OP_ALLOW_NO_DHE_KEX) still gets (EC)DHE from the listener.
  const lax = await handshake(port, { ...peerTlsClientOptions(psk), secureOptions: constants.SSL_OP_ALLOW_NO_DHE_KEX })
  t.match(lax.getEphemeralKeyInfo(), { type: 'ECDH' }, 'the listener never settles for psk_ke')
  lax.destroy()
  const head = await signedCall(socket, createPeerAuth({ key: hmacKey }))
  t.match(head, /^HTTP\/1\.1 502 FORWARD_LOOP\r\n/, 'the signed upgrade was read and checked inside the TLS')

  // The same through the production client, by the scheme of the peer URL.
  const client = createPeerClient({ auth: createPeerAuth({ key: hmacKey }), psk, nodeId: () => 'gw-test' })
  await t.rejects(client.open(`psk://127.0.0.1:${port}/`, target), { code: 'FORWARD_LOOP' }, 'the owner’s refusal travels back over TLS')
  const unsigned = await handshake(port, peerTlsClientOptions(psk))
  t.match(await signedCall(unsigned, createPeerAuth({ key: randomBytes(32) })), /^HTTP\/1\.1 401 PEER_UNAUTHORIZED\r\n/, 'the TLS key alone opens nothing: the upgrade must still be signed')
})

t.test('the ClientHello offers only psk_dhe_ke, with a key share, under the fixed identity', async (t) => {
  const hello = readHello(await captureClientHello())
  t.equal(hello?.kind, 'client_hello')
  t.same(offeredPskModes(hello!), [PSK_DHE_KE], 'psk_ke (no Diffie-Hellman) is never offered')
  t.ok(hello!.extensions.has(TLS_EXTENSION.keyShare), 'with an X25519/P-256 share')
  t.same(offeredPskIdentities(hello!), [PEER_TLS_IDENTITY])
  // 0x00ff is the renegotiation signalling value OpenSSL always adds, not a suite.
  t.same(hello!.cipherSuites.filter((suite) => suite !== 0x00ff), [0x1301], 'TLS_AES_128_GCM_SHA256 alone')
})

t.test('a wrong key, a wrong identity, or no TLS at all fail; the listener serves on', async (t) => {
  const { port } = await startListener()
  await t.rejects(handshake(port, peerTlsClientOptions(randomBytes(32))), { code: /^ERR_SSL_/ }, 'another cluster’s key: the binder does not verify')
  await t.rejects(
    handshake(port, { ...peerTlsClientOptions(psk), pskCallback: () => ({ psk, identity: 'someone-else/1' }) }),
    { code: /^ERR_SSL_/ },
    'an unknown identity: no key, and no certificate to fall back on',
  )
  const wrongKey = createPeerClient({ auth: createPeerAuth({ key: hmacKey }), psk: randomBytes(32), nodeId: () => 'gw-test' })
  const refused = await wrongKey.open(`psk://127.0.0.1:${port}/`, target).catch((err: unknown) => err)
  t.ok(refused instanceof ForwardError && refused.code === 'PEER_UNREACHABLE', 'the caller reports the owner unreachable')
  t.match((refused as Error).message, /TLS handshake .* secret_key/, 'and says what to check')

  // A node with peer_tls off (or an older version) speaks plain HTTP: it gets no answer at all.
  const auth = createPeerAuth({ key: hmacKey })
  const headers = { ...auth.sign('gw-test', 'GET', channelPath), Connection: 'Upgrade', Upgrade: PEER_PROTOCOL, Host: 'peer' }
  const plain = await rawRequest(port, `GET ${channelPath} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 5000)
  t.equal(plain.status, 0, 'a signed upgrade in clear is closed without an HTTP answer')
  const plainClient = createPeerClient({ auth, psk, nodeId: () => 'gw-test' })
  await t.rejects(plainClient.open(`http://127.0.0.1:${port}/`, target), { code: 'PEER_UNREACHABLE' }, 'http:// to a TLS listener is unreachable')

  const after = await handshake(port, peerTlsClientOptions(psk))
  t.teardown(() => after.destroy())
  t.match(await signedCall(after, auth), /^HTTP\/1\.1 502 FORWARD_LOOP/, 'after all that, a proper call still gets through')
})

t.test('a server that skips the PSK and shows a certificate is refused, even one the client would trust', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-peer-impostor-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=impostor', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' })
  const cert = readFileSync(path.join(dir, 'cert.pem'))
  let received = 0
  const impostor = tls.createServer({ cert, key: readFileSync(path.join(dir, 'key.pem')), minVersion: 'TLSv1.3' }, (socket) => {
    socket.on('data', (d: Buffer) => (received += d.length))
    socket.on('error', () => {})
  })
  impostor.on('tlsClientError', () => {})
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => impostor.close(() => resolve())))
  const port = (impostor.address() as net.AddressInfo).port
  // The CA is trusted here on purpose: a publicly trusted certificate is as easy to get.
  await t.rejects(handshake(port, { ...peerTlsClientOptions(psk), ca: cert }), /presented a certificate/)
  // Why the check is there: with a no-op checkServerIdentity, the handshake completes and the signed upgrade would be sent.
  const naive = await handshake(port, { ...peerTlsClientOptions(psk), ca: cert, checkServerIdentity: () => undefined })
  t.equal(naive.getProtocol(), 'TLSv1.3', 'a no-op checkServerIdentity would have accepted the impostor')
  naive.destroy()
  t.equal(received, 0, 'the impostor never received a byte of a call')
})

t.test('silent and truncated handshakes end at the handshake timeout', async (t) => {
  const { port } = await startListener({ handshakeTimeoutMs: 300 })
  const silent = await strangerBytes(port, new Uint8Array(0))
  t.ok(silent.closed && silent.ms >= 250 && silent.ms < 4000, `a silent socket is closed (${silent.ms} ms)`)
  const hello = await captureClientHello()
  const truncated = await strangerBytes(port, hello.subarray(0, Math.floor(hello.length / 2)))
  t.ok(truncated.closed && truncated.ms < 4000, `half a ClientHello is closed (${truncated.ms} ms)`)
  t.equal(truncated.reply.length, 0, 'and answered with nothing')
})

t.test('connections still handshaking are capped: one past the cap is closed at once, and room comes back as they end', async (t) => {
  // A handshake timeout far past the test: only the cap can close anything quickly here.
  const { port } = await startListener({ handshakeTimeoutMs: 60_000, maxPending: 3 })
  const warnedBefore = logLines.length
  const silent = await Promise.all(Array.from({ length: 3 }, () => openSilent(port)))
  t.teardown(() => silent.forEach((s) => s.destroy()))
  const past = await strangerBytes(port, new Uint8Array(0), 10_000)
  t.ok(past.closed && past.ms < 5000, `the fourth is closed without waiting for any timeout (${past.ms} ms)`)
  t.equal(past.reply.length, 0, 'and answered with nothing')
  const second = await strangerBytes(port, await captureClientHello(), 10_000)
  t.ok(second.closed && second.ms < 5000, 'so is a ClientHello that would have been served')
  t.equal(silent.filter((s) => s.destroyed).length, 0, 'the three already in their handshake are untouched')
  const warnings = logLines.slice(warnedBefore).map((line) => JSON.parse(line) as { level: number; msg: string; refused?: number; max_pending?: number }).filter((e) => e.level === 40)
  t.equal(warnings.length, 1, 'one warning for the burst, not one per refusal')
  t.match(warnings[0], { msg: /too many connections still handshaking/, refused: 1, max_pending: 3 })

  silent.forEach((s) => s.destroy())
  const auth = createPeerAuth({ key: hmacKey })
  const answer = await waitFor('room for a handshake again', async () => {
    const socket = await handshake(port, peerTlsClientOptions(psk)).catch(() => undefined)
    if (!socket) return undefined
    t.teardown(() => socket.destroy())
    return signedCall(socket, auth)
  })
  t.match(answer, /^HTTP\/1\.1 502 FORWARD_LOOP/, 'a proper call gets through once the silent ones are gone')
})

t.test('close() ends connections still in their TLS handshake', async (t) => {
  const listener = createPeerListener({ auth: createPeerAuth({ key: hmacKey }), registry: createTunnelRegistry(), logger, psk, handshakeTimeoutMs: 60_000 })
  const port = await listener.listen('127.0.0.1', 0)
  const silent = strangerBytes(port, new Uint8Array(0), 10_000)
  await new Promise((resolve) => setTimeout(resolve, 100))
  const started = Date.now()
  await listener.close()
  t.ok(Date.now() - started < 2000, 'close() did not wait for the handshake timeout')
  t.equal((await silent).closed, true, 'the silent socket was closed')
})

t.test('fuzz: a stranger’s bytes end that connection, never the process, and are never answered in HTTP', async (t) => {
  const { port } = await startListener({ handshakeTimeoutMs: 300 })
  const hello = await captureClientHello()
  const mutate = (edits: [number, number][]) => {
    const copy = Buffer.from(hello)
    for (const [at, byte] of edits) copy[at % copy.length] = byte
    return copy
  }
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.integer({ min: 0, max: hello.length - 1 }).map((n) => hello.subarray(0, n)),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map(mutate),
    // Something that looks like a handshake record, with nonsense inside.
    fc.uint8Array({ maxLength: 400 }).map((body) => Buffer.concat([Buffer.from([22, 3, 1, body.length >> 8, body.length & 255]), body])),
    fc.uint8Array({ maxLength: 200 }).map((tail) => Buffer.concat([hello, tail])),
    fc.constant(Buffer.from(`GET ${channelPath} HTTP/1.1\r\nHost: peer\r\nConnection: Upgrade\r\nUpgrade: ${PEER_PROTOCOL}\r\n\r\n`)),
  )
  let n = 0
  await fc.assert(
    fc.asyncProperty(bytes, async (input) => {
      n++
      const result = await strangerBytes(port, input)
      return result.closed && !result.reply.includes('HTTP/')
    }),
    { numRuns: 120 },
  )
  t.comment(`ran ${n} cases`)
  const after = await handshake(port, peerTlsClientOptions(psk))
  t.teardown(() => after.destroy())
  t.match(await signedCall(after, createPeerAuth({ key: hmacKey })), /^HTTP\/1\.1 502 FORWARD_LOOP/, 'the listener still serves')
})

t.test('what the listeners logged: handshake failures at debug, never the key', async (t) => {
  const entries = logLines.map((line) => JSON.parse(line) as { level: number; msg: string })
  t.ok(entries.some((e) => e.msg === 'peer TLS handshake refused' && e.level === 20), 'refused handshakes are logged at debug')
  t.same(entries.filter((e) => e.level > 20 && !/too many connections still handshaking/.test(e.msg)), [], 'nothing above debug but the cap test’s warning')
  const text = logLines.join('')
  for (const encoding of ['hex', 'base64', 'base64url'] as const) t.notOk(text.includes(psk.toString(encoding)), `the key is not in the log (${encoding})`)
})
