import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { openTerminal } from '../lib/terminal-client.js'

t.test('web terminal through the tunnel to a real sshd', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' } })
  const terminalKey = (await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body as string
  t.match(terminalKey, /^ssh-ed25519 AAAA\S+ edgetainer-terminal\n$/)
  // The device's sshd authorises the gateway's terminal key, as Ignition does on a real device.
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Term', device_id: 'term-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  const dev = startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'term-1', keyFile: writeKeyPair(key), forwards: [`0:localhost:${sshd.port}`] })
  await waitFor('device online', async () => (await gw.http.get('/api/devices/term-1/status', { token: gw.adminToken })).body.online)
  const operator = await gw.tokenFor('operator')

  await t.test('bytes both ways, resize reaches the PTY, exit is reported', async (t) => {
    const term = await openTerminal(gw, operator, `/api/devices/${device.id}/terminal?cols=90&rows=30`)
    term.send('stty size; echo marker-$((6*7))\n')
    await waitFor('command output', () => term.output().includes('marker-42'))
    t.match(term.output(), /30 90/, 'initial size from the query')
    term.ws.send(JSON.stringify({ type: 'resize', cols: 132, rows: 43 }))
    term.send('stty size\n')
    await waitFor('resized', () => term.output().includes('43 132'))
    t.pass('resize reached the PTY')
    term.send('exit 3\n')
    const exit = await term.exit
    t.equal(exit.code, 3)
    t.match(exit.reason, /exited/)
  })

  await t.test('only operators and admins, only from our origin, only with the cookie', async (t) => {
    const viewer = await gw.tokenFor('viewer')
    await t.rejects(openTerminal(gw, viewer, `/api/devices/${device.id}/terminal`), /HTTP 403/, 'viewers are refused')
    await t.rejects(openTerminal(gw, operator, `/api/devices/${device.id}/terminal`, { origin: 'https://evil.example' }), /HTTP 403/, 'foreign origins are refused')
    await t.rejects(openTerminal(gw, 'not-a-token', `/api/devices/${device.id}/terminal`), /HTTP 401/, 'no session, no terminal')
    await t.rejects(openTerminal(gw, operator, '/api/devices/nope/terminal'), /HTTP 404/)
    await t.rejects(openTerminal(gw, operator, `/api/devices/${device.id}/terminal?container=$(reboot)`), /HTTP 400/, 'container names are validated')
  })

  await t.test('sessions are audited with their duration', async (t) => {
    const rows = await waitFor('audit rows', async () => {
      const res = await gw.http.get(`/api/audit?target_id=${device.id}&target_type=device`, { token: gw.adminToken })
      const actions = res.body.items.map((r: { action: string }) => r.action)
      return actions.includes('terminal.close') ? res.body.items : undefined
    })
    const close = rows.find((r: { action: string }) => r.action === 'terminal.close')
    t.match(close.actor, /^operator/, 'the operator who opened it')
    t.type(close.details.duration_seconds, 'number')
    t.ok(rows.some((r: { action: string }) => r.action === 'terminal.open'))
  })

  await t.test('the device dropping ends the terminal with a clear message', async (t) => {
    const term = await openTerminal(gw, operator, `/api/devices/${device.id}/terminal`)
    term.send('echo ready\n')
    await waitFor('shell ready', () => term.output().includes('ready'))
    dev.child.kill('SIGKILL')
    const exit = await term.exit
    t.match(exit.reason, /device disconnected|connection to the device closed/)
    await waitFor('registry drained', () => gw.server.tunnels.size === 0)
    const offline = await openTerminal(gw, operator, `/api/devices/${device.id}/terminal`)
    t.match((await offline.exit).reason, /offline/, 'an offline device says so')
  })
})

t.test('an idle terminal is closed after the configured time, with a message', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root', EDGETAINER_TERMINAL_IDLE_MINUTES: '0.02' } })
  const terminalKey = (await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body as string
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const key = newKeyPair()
  await gw.http.post('/api/devices', { name: 'Idle', device_id: 'idle-1', public_key: key.publicKey }, { token: gw.adminToken })
  startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'idle-1', keyFile: writeKeyPair(key), forwards: [`0:localhost:${sshd.port}`] })
  await waitFor('device online', async () => (await gw.http.get('/api/devices/idle-1/status', { token: gw.adminToken })).body.online)
  const term = await openTerminal(gw, gw.adminToken, '/api/devices/idle-1/terminal')
  const exit = await term.exit
  t.match(exit.reason, /without activity/)
})

t.test('terminal upgrades with paths that do not parse or decode are a 400, and the gateway answers after', async (t) => {
  const fc = (await import('fast-check')).default
  const { rawRequest } = await import('../lib/device-app.js')
  const gw = await startTestGateway(t, 'postgres')
  const upgrade = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://localhost:${gw.server.httpPort}\r\n\r\n`
  for (const path of ['//x[/api/devices/a/terminal', '/api/devices/%ZZ/terminal', '/api/devices/%E0%A4%A/terminal']) {
    const answer = await rawRequest(gw.server.httpPort, upgrade(path))
    t.equal(answer.status, 400, `${path} is a 400`)
  }
  let cases = 0
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: 'binary-ascii', maxLength: 60 }), async (segment) => {
      cases++
      const path = `/api/devices/${segment.replace(/[\s\x00-\x1f\x7f]/g, '')}/terminal`
      const answer = await rawRequest(gw.server.httpPort, Buffer.from(upgrade(path), 'latin1'))
      return answer.status === 0 || answer.status < 500
    }),
    { numRuns: 150 },
  )
  t.comment(`ran ${cases} cases`)
  t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway still answers')
})
