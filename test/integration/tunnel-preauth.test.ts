import t from 'tap'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, waitFor } from '../lib/openssh.js'
import { holdSocket, registerDevice, sleep, trySshLogin, type HeldSocket } from '../lib/ssh-probes.js'

// Unauthenticated SSH sockets are bounded in time and count, and silent ones never hold a handshake slot.

async function openSshDeviceOnlineWithin(t: { teardown(fn: () => void): void }, gw: TestGateway, deviceId: string, ms: number) {
  const key = newKeyPair(deviceId)
  await registerDevice(gw, deviceId, key)
  const started = Date.now()
  const device = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId, keyFile: writeKeyPair(key), forwards: ['web:80:localhost:9'] })
  await waitFor(
    `${deviceId} online`,
    async () => {
      const res = await gw.http.get(`/api/devices/${deviceId}/status`, { token: gw.adminToken })
      return res.body.online && res.body.session.forwards.length === 1
    },
    ms,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ssh said: ${device.output().trim()}`)
  })
  return Date.now() - started
}

function stillOpen(sockets: HeldSocket[]) {
  return sockets.filter((s) => !s.closed).length
}

t.test('with 100 silent connections from one address, a stock OpenSSH device comes online within 5 s', async (t) => {
  // The per-address cap is raised so that all 100 are really held: the handshake pacing alone must not be occupiable.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: '200' } })
  const silent = await Promise.all(Array.from({ length: 100 }, () => holdSocket(gw.server.sshPort, '127.0.0.2')))
  t.teardown(() => silent.forEach((s) => s.socket.destroy()))
  await sleep(200)
  t.equal(stillOpen(silent), 100, '100 silent connections held')
  const ms = await openSshDeviceOnlineWithin(t, gw, 'pump-1', 5000)
  t.comment(`online after ${ms} ms`)
  t.equal(stillOpen(silent), 100, 'and still held while the device came online')
})

t.test('with 100 silent connections from 100 addresses, a stock OpenSSH device comes online within 5 s (default limits)', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const silent = await Promise.all(Array.from({ length: 100 }, (_, i) => holdSocket(gw.server.sshPort, `127.0.0.${i + 2}`)))
  t.teardown(() => silent.forEach((s) => s.socket.destroy()))
  await sleep(200)
  t.equal(stillOpen(silent), 100, '100 silent connections held, one per address')
  const ms = await openSshDeviceOnlineWithin(t, gw, 'pump-2', 5000)
  t.comment(`online after ${ms} ms`)
  t.equal(stillOpen(silent), 100, 'and still held while the device came online')
})

t.test('the login deadline cuts unauthenticated sockets, and the caps refuse the excess at once', async (t) => {
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_SSH_LOGIN_GRACE_SECONDS: '1', EDGETAINER_SSH_MAX_UNAUTHENTICATED: '3', EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: '2' },
  })
  const port = gw.server.sshPort
  const held = [await holdSocket(port, '127.0.0.2'), await holdSocket(port, '127.0.0.2')]
  const overPerAddress = await holdSocket(port, '127.0.0.2')
  held.push(await holdSocket(port, '127.0.0.3'))
  const overGlobal = await holdSocket(port, '127.0.0.4')
  const refusedAfter = await Promise.all([overPerAddress.whenClosed, overGlobal.whenClosed])
  t.ok(refusedAfter.every((ms) => ms < 900), `the third from one address and the fourth in all are refused at once (${refusedAfter} ms)`)
  t.equal(overPerAddress.received() + overGlobal.received(), '', 'refused sockets get nothing, not even a banner')
  t.equal(stillOpen(held), 3, 'the three within the caps are held')
  t.match(held[0]!.received(), /^SSH-2\.0-Edgetainer\r\n$/, 'a held socket has the server banner, sent before it spoke')

  const lifetimes = await Promise.all(held.map((s) => s.whenClosed))
  t.ok(lifetimes.every((ms) => ms >= 900 && ms < 4000), `the deadline cut silent sockets after ~1 s (${lifetimes} ms)`)

  // Their places are free again.
  const after = await holdSocket(port, '127.0.0.2')
  await sleep(300)
  t.equal(after.closed, false, 'a new socket from the same address is held again')
  // A peer that sends its identification line and then stalls (in the handshake proper) is cut the same way.
  after.socket.write('SSH-2.0-Staller_1.0\r\n')
  const stalled = await after.whenClosed
  t.ok(stalled >= 900 && stalled < 4000, `a peer stalled in its handshake is cut at the deadline too (${stalled} ms)`)
})

t.test('a peer that stalls after its identification line gives up its handshake slot', async (t) => {
  // Two slots, held at most 300 ms each: ten stallers cannot keep a device out.
  const gw = await startTestGateway(t, 'postgres', { start: { tunnel: { maxConcurrentHandshakes: 2, handshakeSlotMs: 300 } } })
  const stallers = await Promise.all(Array.from({ length: 10 }, (_, i) => holdSocket(gw.server.sshPort, `127.0.1.${i + 1}`)))
  t.teardown(() => stallers.forEach((s) => s.socket.destroy()))
  for (const s of stallers) s.socket.write('SSH-2.0-Staller_1.0\r\n')
  await sleep(100)
  const key = newKeyPair('pump-3')
  await registerDevice(gw, 'pump-3', key)
  const started = Date.now()
  t.equal(await trySshLogin(gw.server.sshPort, 'pump-3', key, 10_000), 'ready', 'the device gets in')
  t.comment(`in after ${Date.now() - started} ms`)
  t.ok(Date.now() - started < 5000, 'within 5 s')
  t.equal(stillOpen(stallers), 10, 'the stallers are still connected (their deadline has not come)')
})
