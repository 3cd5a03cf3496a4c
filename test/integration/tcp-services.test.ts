import t from 'tap'
import net from 'node:net'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { connects, waitFor } from '../lib/openssh.js'

/** A line-echo server standing in for a raw TCP service on the device (a PLC, Redis, …). */
async function startEchoServer(t: Parameters<typeof startTestGateway>[0]): Promise<number> {
  const server = net.createServer((s) => s.on('data', (d) => s.write(`echo:${d}`)))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text))
    socket.once('data', (d) => {
      socket.destroy()
      resolve(String(d))
    })
    socket.once('error', reject)
    socket.once('close', () => resolve(''))
  })
}

t.test('a tcp service is reachable on a gateway loopback port while its device is online', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'PLC', device_id: 'plc-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const created = await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'modbus', container_name: 'modbus', internal_port: 502, protocol: 'tcp' }, { token: gw.adminToken })
  t.equal(created.status, 201)
  t.equal(created.body.url, null, 'no public URL for raw TCP')
  const gatewayPort: number = created.body.gateway_port
  t.ok(gatewayPort >= 30000 && gatewayPort < 32768, 'a port from the tcp range')
  await waitFor('listener bound', () => connects(gatewayPort))
  t.equal(await roundTrip(gatewayPort, 'hi'), '', 'offline device: the connection is closed')

  const echoPort = await startEchoServer(t)
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'plc-1', key })
  await dev.forward('modbus', 502, echoPort)
  await waitFor('forward registered', async () => (await gw.http.get(`/api/devices/plc-1/exposed-services/${created.body.id}`, { token: gw.adminToken })).body.connected)
  t.equal(await roundTrip(gatewayPort, 'read coils'), 'echo:read coils', 'bytes go through the tunnel both ways')

  // A client that stays connected (a PLC poller) must not hold the port open after the service is disabled.
  const held = net.connect(gatewayPort, '127.0.0.1')
  held.on('error', () => {})
  const heldClosed = new Promise<void>((resolve) => held.once('close', () => resolve()))
  await new Promise<void>((resolve) => held.once('connect', () => resolve()))
  held.write('still here')
  t.equal(String(await new Promise<Buffer>((resolve) => held.once('data', resolve))), 'echo:still here', 'a long-lived connection works')

  await gw.http.post(`/api/devices/plc-1/exposed-services/${created.body.id}/disable`, undefined, { token: gw.adminToken })
  await waitFor('listener closed when disabled', async () => !(await connects(gatewayPort)))
  await heldClosed
  t.pass('disabling unbinds the port and cuts the connection still open')

  await gw.http.post(`/api/devices/plc-1/exposed-services/${created.body.id}/enable`, undefined, { token: gw.adminToken })
  await waitFor('listener bound again when enabled', () => connects(gatewayPort))
  t.equal(await roundTrip(gatewayPort, 'again'), 'echo:again', 'enabling binds it again')
})
