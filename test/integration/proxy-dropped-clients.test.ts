import net from 'node:net'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { rawRequest, requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'

/**
 * After sish's race test: clients that vanish mid-request, mid-response and
 * mid-WebSocket, many times over, must leave no channel open in the device's
 * tunnel. A leaked one would hold a device-side connection (and its request)
 * open for ever.
 */

const ROUNDS = Number(process.env.PROXY_DROP_ROUNDS ?? 40)

/** Connects, writes `text`, waits until `until` says so (or `ms` passes), then vanishes. */
function dropAfter(port: number, text: string, until: (received: string) => boolean, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    const drop = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve()
    }
    const timer = setTimeout(drop, ms)
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1')
      if (until(received)) drop()
    })
    socket.on('error', drop)
    socket.write(Buffer.from(text, 'latin1'))
    if (until('')) drop()
  })
}

t.test('clients dropped mid-forward leave no channel behind', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const port = gw.server.httpPort
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Race', device_id: 'race-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const app = await startDeviceApp(t, 'app')
  const open = (
    await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'open', container_name: 'app', internal_port: 80, auth_required: false }, { token: gw.adminToken })
  ).body
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'race-1', key })
  await dev.forward('app', 80, app.port)
  await waitFor('service connected', async () => (await gw.http.get(`/api/devices/${device.id}/exposed-services/${open.id}`, { token: gw.adminToken })).body.connected)
  const host = `open.race-1.localhost:${port}`
  // The device's own view of its tunnel: channels it still has open (ssh2 keeps no public count).
  const deviceChannels = () => (dev.client as unknown as { _chanMgr: { _count: number } })._chanMgr._count
  const wsHead = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`
  // A masked text frame, as a browser would send.
  const frame = Buffer.from([0x81, 0x84, 1, 2, 3, 4, 'p'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2, 'n'.charCodeAt(0) ^ 3, 'g'.charCodeAt(0) ^ 4]).toString('latin1')

  const drops = {
    'before the proxy answers': () => dropAfter(port, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`, () => true, 0),
    'mid-request (half a body sent)': () =>
      dropAfter(port, `POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(5000)}`, () => false, 20 + Math.random() * 30),
    'mid-response (part of the body received)': () => dropAfter(port, `GET /hold HTTP/1.1\r\nHost: ${host}\r\n\r\n`, (r) => r.includes('the first part'), 5000),
    'WebSocket upgrade, before the 101': () => dropAfter(port, wsHead('/'), () => true, 0),
    'WebSocket to a slow app, before its 101': () => dropAfter(port, wsHead('/slow'), () => false, 50),
    'WebSocket, mid-stream': () => dropAfter(port, wsHead('/') + frame, (r) => r.includes('echo:ping'), 5000),
  }

  let cases = 0
  for (const [what, drop] of Object.entries(drops)) {
    for (let round = 0; round < ROUNDS; round += 10) {
      await Promise.all(Array.from({ length: 10 }, () => drop()))
      cases += 10
    }
    await waitFor(
      `channels drain after clients drop ${what}`,
      async () => {
        const open = app.open()
        // No request in the storm completes, so not even the keep-alive pool keeps a channel.
        return open.requests === 0 && open.websockets === 0 && deviceChannels() === 0 && open.connections === 0
      },
      15_000,
    )
    t.pass(`${ROUNDS} clients dropped ${what}: the device has ${deviceChannels()} channels, ${app.open().requests} requests open`)
  }
  t.equal(app.open().requests, 0, 'no request is left open on the device')
  t.equal(app.open().websockets, 0, 'no WebSocket is left open on the device')
  t.equal(deviceChannels(), 0, 'no channel is left open in the tunnel')
  const res = await rawRequest(port, `GET /after HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
  t.equal(res.body, 'app says hello at /after', 'the service keeps answering')
  t.equal((await requestViaHost(port, host, '/again')).status, 200)
  t.comment(`ran ${cases} dropped connections`)
})
