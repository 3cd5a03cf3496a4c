import t from 'tap'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { WebSocket } from 'ws'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { connects, sshExec, startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import type { DialectName } from '../lib/databases.js'

/** Listening TCP sockets owned by this process, as "address:port" (from /proc, so nothing is guessed). */
function ownListeners(): Set<string> {
  const inodes = new Set<string>()
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (m) inodes.add(m[1]!)
    } catch {
      // fds come and go while we look
    }
  }
  const result = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols[3] !== '0A' || !inodes.has(cols[9]!)) continue
      const [hexAddr, hexPort] = cols[1]!.split(':') as [string, string]
      const addr = hexAddr.length === 8 ? hexAddr.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.') : `[${hexAddr}]`
      result.add(`${addr}:${parseInt(hexPort, 16)}`)
    }
  }
  return result
}

async function setupDevice(t: Parameters<typeof startTestGateway>[0], dialect: DialectName) {
  const gw = await startTestGateway(t, dialect, { start: { sshAuthLimit: { maxFailures: 1000 } } })
  const key = newKeyPair('pump-1')
  const keyFile = writeKeyPair(key)
  const device = (await gw.http.post('/api/devices', { name: 'Pump 1', device_id: 'pump-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  return { gw, key, keyFile, device }
}

async function waitOnline(gw: TestGateway, deviceId: string, forwards: number) {
  return waitFor(`${deviceId} online with ${forwards} forwards`, async () => {
    const res = await gw.http.get(`/api/devices/${deviceId}/status`, { token: gw.adminToken })
    return res.body.online && res.body.session.forwards.length === forwards ? res.body : undefined
  })
}

t.test('a stock OpenSSH client works as a device', async (t) => {
  const { gw, keyFile, device } = await setupDevice(t, 'postgres')
  const sshd = await startTestSshd(t)
  const app = await startDeviceApp(t, 'web')
  const service = await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token: gw.adminToken })
  t.equal(service.status, 201)
  t.equal(service.body.url, `http://web.pump-1.localhost:${gw.server.httpPort}/`)

  const listenersBefore = ownListeners()
  startOpenSshDevice(t, {
    gatewayPort: gw.server.sshPort,
    gatewayHostKey: gw.server.hostPublicKey,
    deviceId: 'pump-1',
    keyFile,
    forwards: [`0:localhost:${sshd.port}`, `web:80:localhost:${app.port}`],
  })
  const status = await waitOnline(gw, 'pump-1', 2)
  t.equal(status.status, 'online')
  t.equal(status.session.remote_address, '127.0.0.1')
  t.ok(Date.parse(status.session.since) > 0, 'since is a timestamp')
  t.same(
    status.session.forwards.map((f: { kind: string; gateway_port: number | null }) => [f.kind, f.gateway_port]).sort(),
    [['service', null], ['ssh', device.ssh_port]],
  )

  await t.test('its assigned port reaches the real sshd', async (t) => {
    const res = await sshExec(device.ssh_port, sshd.clientKeyFile, sshd.hostPublicKey, 'echo tunnel-ok')
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'tunnel-ok')
  })

  await t.test('nothing it asked for binds a non-loopback address, and service routes bind nothing', async (t) => {
    const added = [...ownListeners()].filter((l) => !listenersBefore.has(l))
    t.same(added, [`127.0.0.1:${device.ssh_port}`], 'exactly one new listener: the sshd port on loopback')
  })

  await t.test('its service answers on web.<subdomain>.localhost over HTTP', async (t) => {
    const res = await requestViaHost(gw.server.httpPort, `web.pump-1.localhost:${gw.server.httpPort}`, '/hello?x=1')
    t.equal(res.status, 200)
    t.equal(res.body, 'web says hello at /hello?x=1')
    const headers = app.seen.at(-1)!
    t.equal(headers['x-forwarded-for'], '127.0.0.1')
    t.equal(headers['x-forwarded-proto'], 'http')
    t.match(headers['x-forwarded-host'], /^web\.pump-1\.localhost/)
    const again = await Promise.all([1, 2, 3, 4, 5].map((i) => requestViaHost(gw.server.httpPort, 'web.pump-1.localhost', `/n/${i}`)))
    t.same(again.map((r) => r.body), [1, 2, 3, 4, 5].map((i) => `web says hello at /n/${i}`), 'concurrent requests each get their answer')
  })

  await t.test('and over WebSocket', async (t) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.server.httpPort}/socket`, { headers: { host: 'web.pump-1.localhost' } })
    t.teardown(() => ws.terminate())
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))))
    ws.send('ping-through-tunnel')
    t.equal(await reply, 'echo:ping-through-tunnel')
  })

  await t.test('the device’s own host routes by url_path and strips the prefix', async (t) => {
    await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'grafana', container_name: 'web', internal_port: 80, url_path: '/grafana', auth_required: false }, { token: gw.adminToken })
    const res = await requestViaHost(gw.server.httpPort, 'pump-1.localhost', '/grafana/dashboards')
    t.equal(res.status, 200)
    t.equal(res.body, 'web says hello at /dashboards')
    t.equal(app.seen.at(-1)!['x-forwarded-prefix'], '/grafana')
    const root = await requestViaHost(gw.server.httpPort, 'pump-1.localhost', '/')
    t.equal(root.body, 'web says hello at /', 'the first service without a path is the default')
  })
})

t.test('a device may not bind public or unassigned ports', async (t) => {
  const { gw, keyFile } = await setupDevice(t, 'postgres')
  for (const forward of ['0.0.0.0:0:localhost:22', '[::]:0:localhost:22', '18022:localhost:22']) {
    const dev = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'pump-1', keyFile, forwards: [forward] })
    t.equal(await dev.exited, 255, `-R ${forward} is refused`)
    t.match(dev.output(), /remote port forwarding failed/)
  }
  await waitFor('registry drained', () => gw.server.tunnels.size === 0)
})

t.test('refusals: wrong key, another device’s key, unknown device', async (t) => {
  const { gw, keyFile } = await setupDevice(t, 'postgres')
  const other = newKeyPair('pump-2')
  await gw.http.post('/api/devices', { name: 'Pump 2', device_id: 'pump-2', public_key: other.publicKey }, { token: gw.adminToken })
  const cases = [
    { why: 'a key nobody registered', deviceId: 'pump-1', keyFile: writeKeyPair(newKeyPair('stranger')) },
    { why: 'another device’s key under this name', deviceId: 'pump-1', keyFile: writeKeyPair(other) },
    { why: 'an unknown device', deviceId: 'pump-404', keyFile },
  ]
  for (const c of cases) {
    const dev = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: c.deviceId, keyFile: c.keyFile, forwards: ['0:localhost:22'] })
    t.equal(await dev.exited, 255, c.why)
    t.match(dev.output(), /Permission denied \(publickey\)/, `${c.why}: permission denied`)
  }
  t.equal(gw.server.tunnels.size, 0, 'no session was created')
})

t.test('failed SSH authentications are rate limited per address', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { sshAuthLimit: { maxFailures: 2, windowSeconds: 600 } } })
  const key = newKeyPair('limited')
  const keyFile = writeKeyPair(key)
  await gw.http.post('/api/devices', { name: 'Limited', device_id: 'limited', public_key: key.publicKey }, { token: gw.adminToken })
  const wrong = writeKeyPair(newKeyPair('wrong'))
  for (let i = 0; i < 2; i++) {
    const dev = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'limited', keyFile: wrong, forwards: [] })
    t.equal(await dev.exited, 255)
  }
  const right = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'limited', keyFile, forwards: ['0:localhost:22'] })
  t.equal(await right.exited, 255, 'even the right key is refused while the address is blocked')
})

t.test('a new session replaces the old; kill -9 drains routes, port and status', async (t) => {
  const { gw, keyFile, device } = await setupDevice(t, 'postgres')
  const sshd = await startTestSshd(t)
  const app = await startDeviceApp(t, 'web')
  await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token: gw.adminToken })
  const forwards = [`0:localhost:${sshd.port}`, `web:80:localhost:${app.port}`]
  const first = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'pump-1', keyFile, forwards })
  const firstStatus = await waitOnline(gw, 'pump-1', 2)

  const second = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'pump-1', keyFile, forwards })
  await first.exited
  t.pass('the first client was disconnected')
  const secondStatus = await waitOnline(gw, 'pump-1', 2)
  t.not(secondStatus.session.since, firstStatus.session.since, 'a new session holds the device')
  t.equal(gw.server.tunnels.size, 1, 'one live session per device')
  t.equal((await requestViaHost(gw.server.httpPort, 'web.pump-1.localhost', '/after')).status, 200, 'routes follow the new session')
  t.equal((await sshExec(device.ssh_port, sshd.clientKeyFile, sshd.hostPublicKey, 'true')).code, 0, 'the port follows the new session')

  second.child.kill('SIGKILL')
  await second.exited
  await waitFor('registry drained', () => gw.server.tunnels.size === 0)
  await waitFor('port released', async () => !(await connects(device.ssh_port)))
  const after = await waitFor('status offline', async () => {
    const res = await gw.http.get('/api/devices/pump-1', { token: gw.adminToken })
    return res.body.status === 'offline' ? res.body : undefined
  })
  t.ok(Date.parse(after.last_seen) >= Date.parse(secondStatus.session.since), 'last_seen is set when the session ends')
  const offline = await requestViaHost(gw.server.httpPort, 'web.pump-1.localhost', '/', { accept: 'text/html' })
  t.equal(offline.status, 502)
  t.match(offline.body, /offline/)
})

t.test('deleting a device ends its tunnel at once', async (t) => {
  const { gw, keyFile, device } = await setupDevice(t, 'postgres')
  const sshd = await startTestSshd(t)
  const dev = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'pump-1', keyFile, forwards: [`0:localhost:${sshd.port}`] })
  await waitOnline(gw, 'pump-1', 1)
  t.equal((await gw.http.delete(`/api/devices/${device.id}`, { token: gw.adminToken })).status, 204)
  await dev.exited
  await waitFor('registry drained', () => gw.server.tunnels.size === 0)
  t.notOk(await connects(device.ssh_port), 'port released')
})
