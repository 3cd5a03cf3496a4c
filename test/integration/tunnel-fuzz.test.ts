import t from 'tap'
import fc from 'fast-check'
import type ssh2 from 'ssh2'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device, type Ssh2Device } from '../lib/ssh2-device.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { registerDevice, trySshLogin } from '../lib/ssh-probes.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'

// Hostile SSH input from strangers (user names) and from an authenticated but compromised device
// (forwards, global requests, channels). Throughout, the gateway (this process) stays up and a canary device keeps serving.

async function startCanary(t: { teardown(fn: () => Promise<void> | void): void }, gw: TestGateway) {
  const key = newKeyPair('canary')
  const device = await registerDevice(gw, 'canary', key)
  const app = await startDeviceApp(t, 'canary')
  const res = await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token: gw.adminToken })
  if (res.status !== 201) throw new Error(`exposing the canary's service failed: ${res.status}`)
  const canary = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'canary', key })
  await canary.forward('web', 80, app.port)
  return async function canaryServes(): Promise<boolean> {
    const reply = await requestViaHost(gw.server.httpPort, `web.canary.localhost:${gw.server.httpPort}`, '/ping')
    return reply.status === 200 && reply.body === 'canary says hello at /ping'
  }
}

const awkward = fc.constantFrom('', '\u0000', '\n', '\r\n', '\u001b[2J', '\u202e', '\ud800', '\uffff', 'é', '🙂', '*', '0.0.0.0', '::', 'localhost', '127.0.0.1', '::1', 'canary', AGENT_API_HOST)
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'binary-ascii', maxLength: 80 }),
  awkward,
  fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  fc.string({ unit: fc.constantFrom('a', '\u0000', '\n', '\u001b', 'é', '🙂'), minLength: 300, maxLength: 3000 }),
)

t.test('SSH user names: any text is refused without harm', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { sshAuthLimit: { maxFailures: 1_000_000 } } })
  const canaryServes = await startCanary(t, gw)
  const stranger = newKeyPair('stranger')
  let cases = 0
  await fc.assert(
    fc.asyncProperty(anyText, async (name) => {
      cases++
      const result = await trySshLogin(gw.server.sshPort, name, stranger)
      return result !== 'ready'
    }),
    { numRuns: 120 },
  )
  t.comment(`ran ${cases} user-name cases`)
  t.ok(await canaryServes(), 'the canary still serves')
  t.equal((await gw.http.get('/api/devices/canary/status', { token: gw.adminToken })).body.online, true, 'the canary is still online')
})

type Outcome = 'ok' | 'refused' | 'closed' | 'no answer'

/** Runs one client call; settles on its callback, on the connection closing, or after 5 s. */
function settle(client: ssh2.Client, start: (done: (err?: Error | null, value?: unknown) => void) => void): Promise<Outcome> {
  return new Promise((resolve) => {
    const onClose = () => finish('closed')
    const timer = setTimeout(() => finish('no answer'), 5000)
    function finish(outcome: Outcome) {
      clearTimeout(timer)
      client.off('close', onClose)
      resolve(outcome)
    }
    client.once('close', onClose)
    try {
      start((err, value) => {
        // Channels that did open are closed again at once.
        if (value && typeof (value as ssh2.ClientChannel).close === 'function') (value as ssh2.ClientChannel).close()
        finish(err ? 'refused' : 'ok')
      })
    } catch {
      finish('refused')
    }
  })
}

const port = fc.oneof(fc.constantFrom(0, 1, 22, 80, 65535, 65536, 2 ** 32 - 1), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
// Often well-formed, so that accepted forwards (and their cancels) are exercised too.
const bindAddr = fc.oneof(anyText, fc.constantFrom('', 'localhost', '127.0.0.1', '::1', 'web'), fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,20}$/))
const bindPort = fc.oneof(port, fc.integer({ min: 0, max: 65535 }))
const action = fc.oneof(
  fc.record({ kind: fc.constant('tcpip-forward' as const), addr: bindAddr, port: bindPort }),
  fc.record({ kind: fc.constant('cancel-tcpip-forward' as const), addr: bindAddr, port: bindPort }),
  fc.record({ kind: fc.constant('streamlocal-forward' as const), path: anyText }),
  fc.record({ kind: fc.constant('cancel-streamlocal-forward' as const), path: anyText }),
  fc.record({ kind: fc.constant('no-more-sessions' as const) }),
  fc.record({ kind: fc.constant('direct-tcpip' as const), addr: fc.oneof(anyText, fc.constant(AGENT_API_HOST)), port: fc.oneof(port, fc.constant(AGENT_API_PORT)), srcAddr: anyText, srcPort: port }),
  fc.record({ kind: fc.constant('direct-streamlocal' as const), path: anyText }),
  fc.record({ kind: fc.constant('exec' as const), command: anyText, pty: fc.boolean(), env: fc.dictionary(fc.stringMatching(/^[A-Z_]{1,12}$/), anyText, { maxKeys: 3 }) }),
  fc.record({ kind: fc.constant('shell' as const), term: anyText, rows: fc.integer({ min: 0, max: 10_000 }) }),
  fc.record({ kind: fc.constant('subsystem' as const), name: anyText }),
  fc.record({ kind: fc.constant('sftp' as const) }),
)
type Action = typeof action extends fc.Arbitrary<infer A> ? A : never

function perform(client: ssh2.Client, a: Action): Promise<Outcome> {
  switch (a.kind) {
    case 'tcpip-forward':
      return settle(client, (done) => client.forwardIn(a.addr, a.port, done))
    case 'cancel-tcpip-forward':
      return settle(client, (done) => client.unforwardIn(a.addr, a.port, done))
    case 'streamlocal-forward':
      return settle(client, (done) => client.openssh_forwardInStreamLocal(a.path, done))
    case 'cancel-streamlocal-forward':
      return settle(client, (done) => client.openssh_unforwardInStreamLocal(a.path, done))
    case 'no-more-sessions':
      return settle(client, (done) => client.openssh_noMoreSessions(done))
    case 'direct-tcpip':
      return settle(client, (done) => client.forwardOut(a.srcAddr, a.srcPort, a.addr, a.port, done))
    case 'direct-streamlocal':
      return settle(client, (done) => client.openssh_forwardOutStreamLocal(a.path, done))
    case 'exec':
      return settle(client, (done) => client.exec(a.command, { pty: a.pty, env: a.env }, done))
    case 'shell':
      return settle(client, (done) => client.shell({ term: a.term, rows: a.rows }, done))
    case 'subsystem':
      return settle(client, (done) => client.subsys(a.name, done))
    case 'sftp':
      return settle(client, (done) => client.sftp(done))
  }
}

t.test('an authenticated device: random forwards, global requests and channels never harm the gateway', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { sshAuthLimit: { maxFailures: 1_000_000 } } })
  const canaryServes = await startCanary(t, gw)
  const key = newKeyPair('rogue')
  await registerDevice(gw, 'rogue', key)
  let rogue: Ssh2Device | undefined
  let cases = 0
  let actions = 0
  const outcomes: Record<string, number> = {}
  await fc.assert(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 6 }), async (batch) => {
      cases++
      // A connection the gateway ended (e.g. on a malformed request) is replaced, as a real device would reconnect.
      if (!rogue || outcomes.__lastClosed) {
        rogue?.end()
        rogue = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'rogue', key })
        outcomes.__lastClosed = 0
      }
      for (const a of batch) {
        actions++
        const outcome = await perform(rogue.client, a)
        const label = `${a.kind}:${outcome}`
        outcomes[label] = (outcomes[label] ?? 0) + 1
        if (outcome === 'closed') outcomes.__lastClosed = 1
        // Nothing a device asks for is answered by staying silent.
        if (outcome === 'no answer') return false
        if (outcome === 'closed') break
      }
      if (cases % 10 === 0 && !(await canaryServes())) return false
      return true
    }),
    { numRuns: 200 },
  )
  delete outcomes.__lastClosed
  t.comment(`ran ${cases} cases (${actions} requests): ${JSON.stringify(outcomes)}`)
  t.ok(await canaryServes(), 'the canary still serves')
  const status = await gw.http.get('/api/devices/rogue/status', { token: gw.adminToken })
  t.ok(status.status === 200, 'the API still answers')
  rogue?.end()
})
