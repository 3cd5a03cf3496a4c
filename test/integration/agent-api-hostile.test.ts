import fc from 'fast-check'
import { sql } from 'kysely'
import t from 'tap'
import { AgentApiError, createAgentApiClient } from '../../agent/tunnel/agent-api-client.js'
import type { TunnelConnection } from '../../agent/tunnel/tunnel-client.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'
import { AGENT_PATHS, DEPLOY_STATES } from '../../shared/agent-wire.js'
import { connectAgentApiDevice } from '../lib/agent-api-device.js'
import { waitFor } from '../lib/openssh.js'
import { registrationToken, startTestAgent } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'

const at = () => new Date().toISOString()
const heartbeat = (extra: Record<string, unknown> = {}) => ({
  agent_version: 'fuzz',
  at: at(),
  metrics: { cpu_percent: 1, memory_used_bytes: 1, memory_total_bytes: 2, disk_used_bytes: 1, disk_total_bytes: 2, uptime_seconds: 1, load_1: 0, net_rx_bytes: 0, net_tx_bytes: 0 },
  containers: [],
  software: [],
  outbox: { pending: 0, dropped_log_lines: 0, quarantined: 0 },
  ...extra,
})

t.test('the agent API refuses bad events one by one, and survives anything a device sends', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'hostile' }, { token })).body
  const dev = await connectAgentApiDevice(t, { http, token: await registrationToken(address, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
  const deviceUuid: string = dev.registration.id
  const software = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: busybox\n' }, { token })).body
  const db = gw.server.database.db

  await t.test('a NUL byte or a broken surrogate refuses that event alone; the deploy result behind it is stored', async (t) => {
    const batch = {
      outbox_id: 'hostile-outbox-1',
      dropped_log_lines: 0,
      events: [
        { seq: 1, at: at(), kind: 'log', container: 'web', stream: 'stdout', line: 'fine' },
        { seq: 2, at: at(), kind: 'log', container: 'web', stream: 'stdout', line: 'nul \u0000 here' },
        { seq: 3, at: at(), kind: 'deploy', software_id: software.id, name: 'app', version: '1', status: 'running', error: null },
        { seq: 4, at: at(), kind: 'log', container: 'web', stream: 'stdout', line: 'half \ud800 pair' },
        { seq: 5, at: '-200000-01-01T00:00:00Z', kind: 'agent', message: 'a clock from the far past' },
        { seq: 6, at: at(), kind: 'what', extra: true },
      ],
    }
    // JSON.stringify escapes the lone surrogate as \ud800, which is what reaches the gateway.
    const res = await dev.json('POST', AGENT_PATHS.status, batch)
    t.equal(res.status, 200, res.text)
    t.equal(res.body.acked_seq, 6, 'the cursor moves past stored and refused events alike')
    t.same(
      res.body.rejected.map((r: { seq: number; code: string }) => [r.seq, r.code]),
      [
        [2, 'INVALID_EVENT'],
        [4, 'INVALID_EVENT'],
        [6, 'INVALID_EVENT'],
      ],
    )
    t.match(res.body.rejected[0].error, /line: must not contain NUL/, 'the reason names the field')
    const rows = await db.selectFrom('device_logs').select(['seq', 'log_type', 'message']).where('device_id', '=', deviceUuid).orderBy('seq').orderBy('log_type').execute()
    t.same(
      rows.map((r) => [Number(r.seq), r.log_type]),
      [
        [1, 'stdout'],
        [2, 'rejected'],
        [3, 'deploy'],
        [4, 'rejected'],
        [5, 'agent'],
        [6, 'rejected'],
      ],
    )
    const status = await db.selectFrom('device_software_status').selectAll().where('device_id', '=', deviceUuid).executeTakeFirst()
    t.match(status, { software_id: software.id, status: 'running', version: '1' }, 'the deploy result moved the deployment status')
    const again = await dev.json('POST', AGENT_PATHS.status, batch)
    t.equal(again.body.acked_seq, 6)
    const count = await db.selectFrom('device_logs').select((eb) => eb.fn.countAll<string>().as('n')).where('device_id', '=', deviceUuid).executeTakeFirstOrThrow()
    t.equal(Number(count.n), 6, 'a resend stores nothing twice, refusals included')
  })

  await t.test('a heartbeat with NUL in a container name is a 400, not a database error', async (t) => {
    const res = await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat({ containers: [{ name: 'a\u0000b', project: null, service: null, image: 'x', state: 'running', health: null, exit_code: null, restart_count: 0, started_at: null }] }))
    t.equal(res.status, 400, res.text)
    t.match(res.body, { code: 'VALIDATION_FAILED', error: /containers\.0\.name/ })
    t.equal((await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat())).status, 200)
  })

  await t.test("a heartbeat saying why dockerd cannot be read is kept and shown on the device's release view until the next one; a bad reason is a 400 naming it", async (t) => {
    const release = async () => (await http.get(`/api/devices/${deviceUuid}/release`, { token })).body
    const reason = 'cannot reach dockerd at unix:///var/run/docker.sock: ENOENT'
    t.equal((await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat({ docker_error: reason }))).status, 200)
    t.equal((await release()).docker_error, reason)
    t.equal((await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat())).status, 200)
    t.equal((await release()).docker_error, null, 'a heartbeat that read its containers clears it')
    for (const bad of ['nul \u0000 here', 'x'.repeat(1001), 42, null, '\uD800']) {
      const res = await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat({ docker_error: bad }))
      t.equal(res.status, 400, `${JSON.stringify(bad).slice(0, 20)}: ${res.text.slice(0, 200)}`)
      t.match(res.body, { code: 'VALIDATION_FAILED', error: /docker_error/ })
    }
    t.equal((await release()).docker_error, null, 'nothing of them was stored')
  })

  await t.test('a body over the limit is a 413', async (t) => {
    const res = await dev.request('POST', AGENT_PATHS.status, Buffer.alloc(9 * 1024 * 1024, 0x20))
    t.equal(res.status, 413)
  })

  await t.test('an agent with a refused event in its outbox quarantines it and delivers what follows', async (t) => {
    const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id) })
    await waitFor('agent online', () => agent.online())
    // What an older agent (before cleaning) or a bug could have queued: a deploy result naming no valid software id.
    agent.outbox.append([{ kind: 'deploy', at: at(), software_id: 'not-a-uuid', name: 'x', version: '1', status: 'failed', error: null }])
    agent.outbox.append([{ kind: 'deploy', at: at(), software_id: software.id, name: 'app', version: '2', status: 'running', error: null }])
    await waitFor('outbox drained', () => agent.outbox.pending === 0, 20_000)
    t.equal(agent.outbox.quarantined, 1, 'one event set aside')
    const uuid = agent.registration.id
    const status = await db.selectFrom('device_software_status').selectAll().where('device_id', '=', uuid).executeTakeFirst()
    t.match(status, { status: 'running', version: '2' }, 'the result behind the poison arrived')

    // An event that passes validation but fails in the database, every time: the whole batch answers 500.
    await sql`create function refuse_poison() returns trigger language plpgsql as $$
      begin if new.message = 'poison-by-database' then raise exception 'poisoned'; end if; return new; end $$`.execute(db)
    await sql`create trigger refuse_poison before insert on device_logs for each row execute function refuse_poison()`.execute(db)
    t.teardown(() => sql`drop trigger if exists refuse_poison on device_logs`.execute(db).then(() => {}))
    agent.outbox.append([
      { kind: 'agent', at: at(), message: 'before the poison' },
      { kind: 'agent', at: at(), message: 'poison-by-database' },
      { kind: 'deploy', at: at(), software_id: software.id, name: 'app', version: '3', status: 'running', error: null },
    ])
    await waitFor('outbox drained past the poison', () => agent.outbox.pending === 0, 30_000)
    t.equal(agent.outbox.quarantined, 2, 'the event that kept failing was found, narrowed to, and quarantined')
    const after = await db.selectFrom('device_software_status').selectAll().where('device_id', '=', uuid).executeTakeFirst()
    t.match(after, { status: 'running', version: '3' }, 'the deploy result behind it arrived')
    const before = await db.selectFrom('device_logs').select('message').where('device_id', '=', uuid).where('message', '=', 'before the poison').execute()
    t.equal(before.length, 1, 'the good event ahead of it arrived once')
    await sql`drop trigger refuse_poison on device_logs`.execute(db)
  })

  await t.test('fuzz: malformed batches, NUL, invalid UTF-8, huge values, wrong types, extra fields', async (t) => {
    const paths = [...Object.values(AGENT_PATHS), '/api/agent/nope', '/', '/api/agent/status/..%2f', '/%00']
    const nasty = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.constantFrom('\u0000', '\ud800', '\udfff\ud800', 'x'.repeat(70_000), '', '__proto__', 'constructor'),
      fc.integer(),
      fc.double(),
      fc.constantFrom(1e308, -1, 0, 2 ** 53, Number.MAX_SAFE_INTEGER, -0),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
    )
    const event = fc.record(
      {
        seq: fc.oneof(fc.integer({ min: -5, max: 50 }), nasty),
        at: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), nasty),
        kind: fc.oneof(fc.constantFrom('log', 'deploy', 'container', 'agent'), nasty),
        container: nasty,
        stream: fc.oneof(fc.constantFrom('stdout', 'stderr'), nasty),
        line: nasty,
        software_id: fc.oneof(fc.constant(software.id), fc.uuid(), nasty),
        name: nasty,
        version: nasty,
        status: fc.oneof(fc.constantFrom(...DEPLOY_STATES), nasty),
        error: nasty,
        state: nasty,
        service: nasty,
        health: nasty,
        previous: nasty,
        message: nasty,
        extra: nasty,
      },
      { requiredKeys: [] },
    )
    const batch = fc.record(
      {
        outbox_id: fc.oneof({ arbitrary: fc.constantFrom('fuzz-outbox-a', 'fuzz-outbox-b'), weight: 5 }, nasty),
        dropped_log_lines: fc.oneof({ arbitrary: fc.nat(), weight: 5 }, nasty),
        events: fc.oneof({ arbitrary: fc.array(event, { maxLength: 8 }), weight: 5 }, nasty),
        extra: nasty,
      },
      // Mostly well-formed envelopes, so the per-event path is what gets hammered.
      { requiredKeys: ['outbox_id', 'dropped_log_lines', 'events'] },
    )
    const jsonBody = fc.oneof(batch, fc.constant(heartbeat({ docker_error: 'cannot reach dockerd' })).chain((h) => fc.record({ ...Object.fromEntries(Object.keys(h).map((k) => [k, fc.oneof(fc.constant((h as any)[k]), nasty)])) }, { requiredKeys: [] })), nasty)
    // Invalid UTF-8 and broken JSON at the byte level.
    const rawBody = fc.oneof(
      jsonBody.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      fc.tuple(batch, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([v, bad]) => {
        const text = Buffer.from(JSON.stringify(v))
        const at = text.indexOf('"line":"')
        return at < 0 ? Buffer.concat([text, Buffer.from(bad)]) : Buffer.concat([text.subarray(0, at + 8), Buffer.from([0xff, 0xc0, ...bad].filter((b) => b !== 0x22 && b !== 0x5c)), text.subarray(at + 8)])
      }),
    )
    const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded')
    let n = 0
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: fc.constant('POST'), weight: 6 }, fc.constantFrom('GET', 'PUT', 'DELETE')),
        fc.oneof({ arbitrary: fc.constantFrom(AGENT_PATHS.status, AGENT_PATHS.heartbeat), weight: 6 }, fc.constantFrom(...paths)),
        rawBody,
        fc.oneof({ arbitrary: fc.constant('application/json'), weight: 6 }, contentType),
        async (method, path, body, type) => {
        n++
        const res = await dev.request(method, path, method === 'GET' ? undefined : body, method === 'GET' ? {} : { 'content-type': type })
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (res.status >= 500) throw new Error(`${method} ${path} answered ${res.status}: ${res.text.slice(0, 300)}`)
        if (res.status >= 400 && res.status !== 413) {
          if (typeof res.body?.error !== 'string' || typeof res.body?.code !== 'string') throw new Error(`${res.status} without {error, code}: ${res.text.slice(0, 200)}`)
        }
        },
      ),
      { numRuns: 250, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000) },
    )
    t.comment(`ran ${n} cases; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.equal((await http.get('/healthz')).status, 200, 'the gateway still answers')
    t.equal((await dev.json('POST', AGENT_PATHS.heartbeat, heartbeat())).status, 200, 'and the device still gets through')
  })
})

t.test('per-device rate limit: 429 with Retry-After, and the agent waits it out without touching the wire', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { agentRateLimit: { points: 5, windowSeconds: 2 } } })
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'limited' }, { token })).body
  const dev = await connectAgentApiDevice(t, { http, token: await registrationToken(address, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
  const other = await connectAgentApiDevice(t, { http, token: await registrationToken(address, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })

  const replies = []
  for (let i = 0; i < 7; i++) replies.push(await dev.request('GET', AGENT_PATHS.config))
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429], 'five in the window, then 429')
  t.match(replies[5]!.body, { code: 'TOO_MANY_REQUESTS' })
  const retryAfter = Number(replies[5]!.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After: ${retryAfter}`)
  t.equal((await other.request('GET', AGENT_PATHS.config)).status, 200, 'another device has its own budget')

  let channels = 0
  const connection = {
    client: dev.device.client,
    openApiChannel: () => {
      channels++
      return new Promise((resolve, reject) => dev.device.client.forwardOut('127.0.0.1', 0, AGENT_API_HOST, AGENT_API_PORT, (err, ch) => (err ? reject(err) : resolve(ch))))
    },
  } as unknown as TunnelConnection
  const api = createAgentApiClient({ connection: () => connection })
  const first = await api.request('GET', AGENT_PATHS.config).catch((err: unknown) => err)
  t.ok(first instanceof AgentApiError && first.status === 429 && (first.retryAfterMs ?? 0) >= 1000, 'the agent client sees the 429 and its Retry-After')
  const opened = channels
  const second = await api.request('GET', AGENT_PATHS.config).catch((err: unknown) => err)
  t.ok(second instanceof AgentApiError && second.status === 429, 'the next call backs off at once')
  t.equal(channels, opened, 'without opening a channel to the gateway')
  const ok = await waitFor('allowed again after Retry-After', () => api.request<{ device_id: string }>('GET', AGENT_PATHS.config).catch(() => undefined), 10_000)
  t.equal(ok.device_id, dev.registration.device_id)
})
