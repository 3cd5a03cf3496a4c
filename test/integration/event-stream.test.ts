import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'

/** Reads an SSE response until `until` matches the text so far, or the deadline passes. */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, seen: { text: string }, until: RegExp, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  const decoder = new TextDecoder()
  while (!until.test(seen.text)) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timed out waiting for ${until} in ${JSON.stringify(seen.text)}`)
    let timer: NodeJS.Timeout | undefined
    const chunk = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${until}`)), left))),
    ]).finally(() => clearTimeout(timer))
    if (chunk.done) return false
    seen.text += decoder.decode(chunk.value, { stream: true })
  }
  return true
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('GET /api/events streams device events to the console', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { eventPingMs: 100 } })
  const url = `http://127.0.0.1:${gw.server.httpPort}/api/events`
  const anonymous = await fetch(url)
  t.equal(anonymous.status, 401, 'no stream without a credential')
  t.equal((await anonymous.json()).code, 'UNAUTHORIZED')

  const baseline = gw.server.events.listenerCount('device.status')
  const baselineChanged = gw.server.events.listenerCount('device.changed')
  const viewer = await gw.tokenFor('viewer')
  const abort = new AbortController()
  t.teardown(() => abort.abort())
  const res = await fetch(url, { headers: { authorization: `Bearer ${viewer}` }, signal: abort.signal })
  t.equal(res.status, 200, 'a viewer may subscribe')
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  t.match(res.headers.get('cache-control'), /no-cache/)
  const reader = res.body!.getReader()
  const seen = { text: '' }
  await readUntil(reader, seen, /: connected\n\n/)
  t.match(seen.text, /^retry: 3000\n/, 'tells EventSource how soon to reconnect')
  t.equal(gw.server.events.listenerCount('device.status'), baseline + 1, 'the stream listens on the bus')

  const device = await gw.http.post('/api/devices', { name: 'Pump 9', device_id: 'pump-9', public_key: null }, { token: gw.adminToken })
  t.equal(device.status, 201)
  await readUntil(reader, seen, /event: device\.changed\ndata: .*\n\n/)
  const changed = JSON.parse(/event: device\.changed\ndata: (.*)\n/.exec(seen.text)![1]!)
  t.same(changed, { id: device.body.id, device_id: 'pump-9' }, 'device.changed carries ids only, not the whole row')

  const lastSeen = new Date()
  gw.server.events.emit('device.status', { id: device.body.id, device_id: 'pump-9', status: 'online', last_seen: lastSeen })
  await readUntil(reader, seen, /event: device\.status\ndata: .*\n\n/)
  const status = JSON.parse(/event: device\.status\ndata: (.*)\n/.exec(seen.text)![1]!)
  t.same(status, { id: device.body.id, device_id: 'pump-9', status: 'online', last_seen: lastSeen.toISOString() })

  await readUntil(reader, seen, /: ping\n\n/)
  t.pass('a comment ping keeps the stream alive through proxies')

  abort.abort()
  await waitFor('the listeners to go', () => gw.server.events.listenerCount('device.status') === baseline)
  t.equal(gw.server.events.listenerCount('device.changed'), baselineChanged, 'a closed stream removes its listeners')
})

t.test('a stream ends when its session does', async (t) => {
  // Logout has no in-process hook: the periodic credential re-check (shortened here) finds it.
  const gw = await startTestGateway(t, 'postgres', { start: { eventPingMs: 100, accessRecheckMs: 100 } })
  const baseline = gw.server.events.listenerCount('device.changed')
  const session = await gw.tokenFor('operator')
  const res = await fetch(`http://127.0.0.1:${gw.server.httpPort}/api/events`, { headers: { authorization: `Bearer ${session}` } })
  t.equal(res.status, 200)
  const reader = res.body!.getReader()
  const seen = { text: '' }
  await readUntil(reader, seen, /: connected\n\n/)
  t.equal((await gw.http.post('/api/auth/logout', {}, { token: session })).status, 204)
  const open = await readUntil(reader, seen, /never appears/)
  t.equal(open, false, 'the gateway closes the stream at the next re-check after a logout')
  t.match(seen.text, /event: access\.revoked\ndata: \{"reason":"access revoked: the session ended/, 'and says why first')
  await waitFor('the listeners to go', () => gw.server.events.listenerCount('device.changed') === baseline)
  t.pass('and removes its listeners')
})

t.test('a stream ends when its user is disabled or their password changes, and survives a demotion it may still see', async (t) => {
  // A long re-check interval: these closes come from the in-process re-check right after the change.
  const gw = await startTestGateway(t, 'postgres', { start: { eventPingMs: 100, accessRecheckMs: 60_000 } })
  async function subscribe(role: 'operator' | 'admin', username: string) {
    const password = `${username}-password-123`
    const created = await gw.http.post('/api/users', { username, password, role }, { token: gw.adminToken })
    const token = (await gw.http.post('/api/auth/login', { username, password })).body.token as string
    const res = await fetch(`http://127.0.0.1:${gw.server.httpPort}/api/events`, { headers: { cookie: `edgetainer_session=${token}` } })
    t.equal(res.status, 200)
    const reader = res.body!.getReader()
    const seen = { text: '' }
    await readUntil(reader, seen, /: connected\n\n/)
    return { id: created.body.id as string, reader, seen }
  }

  const disabled = await subscribe('operator', 'sse-disabled')
  t.equal((await gw.http.put(`/api/users/${disabled.id}`, { disabled: true }, { token: gw.adminToken })).status, 200)
  t.equal(await readUntil(disabled.reader, disabled.seen, /never appears/), false, 'disabling the user closes the stream')
  t.match(disabled.seen.text, /event: access\.revoked\ndata: \{"reason":"access revoked: the account was disabled"\}/)

  const rekeyed = await subscribe('operator', 'sse-password')
  t.equal((await gw.http.put(`/api/users/${rekeyed.id}`, { password: 'another-long-password' }, { token: gw.adminToken })).status, 200)
  t.equal(await readUntil(rekeyed.reader, rekeyed.seen, /never appears/), false, 'a new password closes the stream')
  t.match(rekeyed.seen.text, /access revoked: the password was changed/)

  const demoted = await subscribe('admin', 'sse-demoted')
  t.equal((await gw.http.put(`/api/users/${demoted.id}`, { role: 'viewer' }, { token: gw.adminToken })).status, 200)
  const before = demoted.seen.text.length
  await readUntil(demoted.reader, demoted.seen, /: ping\n\n[^]*: ping\n\n/)
  t.notMatch(demoted.seen.text.slice(before), /access\.revoked/, 'a viewer may still watch events: the stream stays open')
  await demoted.reader.cancel()
})
