import { randomBytes } from 'node:crypto'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { createPeerAuth } from '../../server/cluster/peer-auth.js'
import { createPeerClient } from '../../server/cluster/peer-client.js'
import { PEER_TLS_CIPHER, PEER_TLS_IDENTITY, PEER_TLS_KEY_PURPOSE } from '../../server/cluster/peer-tls.js'
import { loadMasterKey } from '../../server/secrets/master-key.js'
import type { StartOptions } from '../../server/start-options.js'
import { startDeviceApp } from '../lib/device-app.js'
import { newKeyPair } from '../lib/keys.js'
import { startRecordingRelay } from '../lib/recording-relay.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { offeredPskIdentities, offeredPskModes, PSK_DHE_KE, readHello, TLS_EXTENSION } from '../lib/tls-hello.js'
import { waitFor } from '../lib/wait.js'

/*
 * The peer channel end to end: a gateway holding a device's tunnel, and the production peer
 * client dialling it as another node would, by the peer URL the gateway advertises. A relay
 * in between records every byte, as a wiretap on the network between two nodes would.
 */

const secret = randomBytes(32).toString('base64')
const masterKey = loadMasterKey({ dataDir: '/nonexistent', configuredKey: secret })
/** Another node of the same cluster: it derives both keys from the shared secret_key. */
const otherNode = createPeerClient({ auth: createPeerAuth({ key: masterKey.derive('cluster-peer') }), psk: masterKey.derive(PEER_TLS_KEY_PURPOSE), nodeId: () => 'gw-other' })

/** A gateway (PGlite) with a peer listener, and a device on it forwarding a web app and an echo service. */
async function gatewayWithDevice(t: Test, env: Record<string, string>, start: StartOptions = {}) {
  const gw = await startTestGateway(t, 'pglite', { env: { EDGETAINER_SECRET_KEY: secret, EDGETAINER_PEER_LISTEN: '127.0.0.1:0', ...env }, start })
  const key = newKeyPair('wire')
  const device = (await gw.http.post('/api/devices', { name: 'Wire', device_id: 'wire-1', public_key: key.publicKey }, { token: gw.adminToken })).body as { id: string }
  const app = await startDeviceApp(t, 'web')
  const echo = net.createServer((socket) => {
    socket.on('error', () => socket.destroy())
    socket.on('data', (d) => socket.write(`echo:${d}`))
  })
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => echo.close(() => resolve())))
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'wire-1', key })
  t.teardown(() => dev.end())
  await dev.forward('web', 80, app.port)
  await dev.forward('echo', 7, (echo.address() as net.AddressInfo).port)
  await waitFor('the device forwards both', () => gw.server.tunnels.get(device.id)?.hasServiceForward('echo', 7))
  const nodes = (await gw.http.get('/api/cluster/nodes', { token: gw.adminToken })).body as { items: { self: boolean; peer_url: string }[] }
  const peerUrl = nodes.items.find((n) => n.self)!.peer_url
  return { gw, device, peerUrl, peerPort: Number(new URL(peerUrl).port) }
}

/** A TCP connection to the peer port that never starts its handshake. */
async function connectSilently(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  return socket
}

function echoed(channel: Duplex, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    channel.once('data', (d: Buffer) => resolve(d.toString('utf8')))
    channel.once('error', reject)
    channel.write(text)
  })
}

/** One HTTP/1.1 exchange on a raw channel to the device app; the app closes after answering. */
function httpOver(channel: Duplex, path: string, header: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    channel.on('data', (d: Buffer) => (text += d.toString('utf8')))
    channel.once('error', reject)
    channel.once('close', () => resolve(text))
    channel.write(`GET ${path} HTTP/1.1\r\nHost: web\r\nX-Marker: ${header}\r\nConnection: close\r\n\r\n`)
  })
}

t.test('peer_tls on (the default): psk:// advertised, TLS 1.3 on the channel, bytes both ways', async (t) => {
  const { device, peerUrl, peerPort } = await gatewayWithDevice(t, {})
  t.match(peerUrl, new RegExp(`^psk://127\\.0\\.0\\.1:${peerPort}/$`), 'the node advertises the TLS-PSK scheme')
  const channel = (await otherNode.open(peerUrl, { device: device.id, kind: 'service', name: 'echo', port: 7 })) as TLSSocket
  t.teardown(() => channel.destroy())
  t.equal(channel.encrypted, true, 'the channel is the TLS socket itself')
  t.equal(channel.getProtocol(), 'TLSv1.3')
  t.equal(channel.getCipher().standardName, PEER_TLS_CIPHER)
  t.match(channel.getEphemeralKeyInfo(), { type: 'ECDH' }, 'an ephemeral key exchange')
  t.equal(await echoed(channel, 'ping-1'), 'echo:ping-1', 'to the device and back')
  t.equal(await echoed(channel, 'ping-2'), 'echo:ping-2', 'and again on the same channel')
  const web = await otherNode.open(peerUrl, { device: device.id, kind: 'service', name: 'web', port: 80 })
  t.match(await httpOver(web, '/over-tls', 'x'), /web says hello at \/over-tls/, 'HTTP to the device app')
})

t.test('open channels never count against the cap on connections still handshaking', async (t) => {
  const { device, peerUrl, peerPort } = await gatewayWithDevice(t, {}, { peerListener: { maxPending: 2, handshakeTimeoutMs: 60_000 } })
  // Three channels, one after another: more than the cap, which counts only what has not yet become a channel.
  const channels: Duplex[] = []
  for (let i = 0; i < 3; i++) channels.push(await otherNode.open(peerUrl, { device: device.id, kind: 'service', name: 'echo', port: 7 }))
  t.teardown(() => channels.forEach((c) => c.destroy()))
  const silent = await Promise.all(Array.from({ length: 2 }, () => connectSilently(peerPort)))
  t.teardown(() => silent.forEach((s) => s.destroy()))
  await t.rejects(otherNode.open(peerUrl, { device: device.id, kind: 'service', name: 'echo', port: 7 }), { code: 'PEER_UNREACHABLE' }, 'two strangers mid-handshake fill the cap')
  for (const [i, channel] of channels.entries()) t.equal(await echoed(channel, `still-${i}`), `echo:still-${i}`, `channel ${i + 1} still carries bytes`)
  silent.forEach((s) => s.destroy())
  const next = await waitFor('a fourth channel once the strangers are gone', () => otherNode.open(peerUrl, { device: device.id, kind: 'service', name: 'echo', port: 7 }).catch(() => undefined))
  t.teardown(() => next.destroy())
  t.equal(await echoed(next, 'fourth'), 'echo:fourth')
})

t.test('a wiretap between the nodes sees no clear text; the handshake is psk_dhe_ke', async (t) => {
  const { device, peerPort } = await gatewayWithDevice(t, {})
  const relay = await startRecordingRelay(t, peerPort)
  const marker = `keystroke-${randomBytes(8).toString('hex')}`
  const channel = await otherNode.open(`psk://127.0.0.1:${relay.port}/`, { device: device.id, kind: 'service', name: 'web', port: 80 })
  const answer = await httpOver(channel, `/${marker}`, marker)
  t.match(answer, new RegExp(`web says hello at /${marker}`), 'the marker went to the device app and came back')
  const up = relay.upstream()
  const down = relay.downstream()
  t.ok(up.length > 200 && down.length > 200, `the relay saw the traffic (${up.length} bytes up, ${down.length} down)`)
  for (const [direction, bytes] of [['caller → owner', up], ['owner → caller', down]] as const) {
    t.notOk(bytes.includes(marker), `${direction}: the marker is not on the wire`)
    t.notOk(bytes.includes('HTTP/1.1'), `${direction}: neither is any HTTP`)
    t.notOk(bytes.includes(device.id), `${direction}: nor the device id`)
    t.notOk(bytes.includes('x-edgetainer-peer-signature'), `${direction}: nor the signed upgrade`)
  }
  const clientHello = readHello(up)
  const serverHello = readHello(down)
  t.equal(clientHello?.kind, 'client_hello')
  t.equal(serverHello?.kind, 'server_hello')
  t.same(offeredPskModes(clientHello!), [PSK_DHE_KE], 'the caller offers the PSK with (EC)DHE only')
  t.same(offeredPskIdentities(clientHello!), [PEER_TLS_IDENTITY], 'the identity is the public, fixed one')
  t.ok(serverHello!.extensions.has(TLS_EXTENSION.preSharedKey), 'the owner accepted the PSK')
  t.ok(serverHello!.extensions.has(TLS_EXTENSION.keyShare), 'and answered with a key share: psk_dhe_ke, so a later leak of secret_key does not open recorded traffic')
  t.same(serverHello!.cipherSuites, [0x1301], 'TLS_AES_128_GCM_SHA256')
})

t.test('peer_tls off: http:// advertised, and the same wiretap reads everything', async (t) => {
  const { device, peerUrl, peerPort } = await gatewayWithDevice(t, { EDGETAINER_PEER_TLS: 'off' })
  t.match(peerUrl, new RegExp(`^http://127\\.0\\.0\\.1:${peerPort}/$`))
  const relay = await startRecordingRelay(t, peerPort)
  const marker = `keystroke-${randomBytes(8).toString('hex')}`
  const channel = await otherNode.open(`http://127.0.0.1:${relay.port}/`, { device: device.id, kind: 'service', name: 'web', port: 80 })
  t.match(await httpOver(channel, `/${marker}`, marker), new RegExp(`web says hello at /${marker}`))
  t.ok(relay.upstream().includes(marker), 'caller → owner: the marker is readable')
  t.ok(relay.downstream().includes(marker), 'owner → caller: the marker is readable')
  t.ok(relay.upstream().includes('x-edgetainer-peer-signature'), 'so is the signed upgrade')
  // A psk:// dial at a plain listener fails rather than falling back to clear text.
  await t.rejects(otherNode.open(`psk://127.0.0.1:${peerPort}/`, { device: device.id, kind: 'service', name: 'web', port: 80 }), { code: 'PEER_UNREACHABLE' })
})
