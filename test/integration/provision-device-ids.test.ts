import t from 'tap'
import fc from 'fast-check'
import { deviceIdPattern, subdomainPattern } from '../../server/devices/device-store.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/**
 * Device ids from a token's name pattern, through the real registration call,
 * on real PostgreSQL (several connections, so concurrent registrations really
 * race). The rule itself is unit-tested in test/unit/device-labels.test.ts.
 */
t.test('a name pattern names the device id and subdomain', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { registerLimit: { maxAttempts: 100_000, windowSeconds: 60 } } })
  const { http, adminToken: token } = gw
  const fleet = (await http.post('/api/fleets', { name: 'lab' }, { token })).body
  const newToken = async (body: Record<string, unknown>) => {
    const res = await http.post('/api/provision/tokens', { fleet_id: fleet.id, ...body }, { token })
    if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.token as string
  }
  const register = (value: string, publicKey = newKeyPair().publicKey, hostname = 'flatcar') =>
    http.post('/api/provision/register', { token: value, public_key: publicKey, hostname })

  await t.test('lab-{n} → device id, SSH user and subdomain lab-1; its services live at web.lab-1.<base>', async (t) => {
    const value = await newToken({ name_pattern: 'lab-{n}', max_uses: 2 })
    const key = newKeyPair('lab-1')
    const res = await register(value, key.publicKey)
    t.equal(res.status, 201, JSON.stringify(res.body))
    t.match(res.body, { device_id: 'lab-1', name: 'lab-1', subdomain: 'lab-1' })
    const second = await register(value)
    t.match(second.body, { device_id: 'lab-2', name: 'lab-2', subdomain: 'lab-2' }, 'the next use is lab-2')

    // The id is the tunnel's SSH user name: the device dials in as lab-1 and its web service answers on web.lab-1.localhost.
    const app = await startDeviceApp(t, 'lab-one')
    const created = await http.post(`/api/devices/lab-1/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token })
    t.equal(created.status, 201, JSON.stringify(created.body))
    const device = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'lab-1', key })
    await device.forward('web', 80, app.port)
    await waitFor('lab-1 online', async () => (await http.get('/api/devices/lab-1', { token })).body.status === 'online')
    const web = await requestViaHost(gw.server.httpPort, 'web.lab-1.localhost', '/hello')
    t.equal(web.status, 200)
    t.equal(web.body, 'lab-one says hello at /hello', 'web.lab-1.localhost reaches the device registered from lab-{n}')
  })

  await t.test('collisions take -2, -3 …: with device ids, with subdomains, with reserved labels', async (t) => {
    const again = await newToken({ name_pattern: 'lab-{n}' })
    t.match((await register(again)).body, { device_id: 'lab-1-2', subdomain: 'lab-1-2', name: 'lab-1' }, 'a second lab-{n} token: lab-1 is taken, the name stays')
    const third = await newToken({ name_pattern: 'lab-{n}' })
    t.match((await register(third)).body, { device_id: 'lab-1-3', subdomain: 'lab-1-3' })

    // A device made by hand holds subdomain bay-1 under another id: the label is taken all the same.
    const manual = await http.post('/api/devices', { name: 'by hand', device_id: 'manual-7', subdomain: 'bay-1' }, { token })
    t.equal(manual.status, 201, JSON.stringify(manual.body))
    t.match((await register(await newToken({ name_pattern: 'bay-{n}' }))).body, { device_id: 'bay-1-2', subdomain: 'bay-1-2' }, 'a taken subdomain counts')
    t.match((await register(await newToken({ name_pattern: 'api' }))).body, { device_id: 'api-2', subdomain: 'api-2', name: 'api' }, 'a reserved label counts')

    t.match((await register(await newToken({ name_pattern: 'Lab North {n}' }))).body, { device_id: 'lab-north-1', subdomain: 'lab-north-1', name: 'Lab North 1' }, 'names are normalised')
    t.match((await register(await newToken({ name_pattern: '{hostname}-{n}' }), undefined, 'Pump_House.7')).body, { device_id: 'pump-house-7-1', name: 'Pump_House.7-1' })
    const long = await newToken({ name_pattern: `${'x'.repeat(70)}{n}`, max_uses: 2 })
    const [a, b] = [(await register(long)).body, (await register(long)).body]
    t.equal(a.device_id, 'x'.repeat(63), 'cut to 63')
    t.equal(b.device_id, `${'x'.repeat(61)}-2`, 'the same cut for use 2 collides: the suffix fits within 63')
    t.match((await register(await newToken({ name_pattern: '{hostname}' }), undefined, '___')).body.device_id, /^dev-[0-9a-f]{10}$/, 'nothing usable left: a random id')
    t.match((await register(await newToken({}))).body.device_id, /^dev-[0-9a-f]{10}$/, 'no pattern: a random id, as before')
  })

  await t.test('parallel registrations never produce duplicates', async (t) => {
    const tokens = await Promise.all([1, 2, 3].map(() => newToken({ name_pattern: 'rack-{n}', max_uses: 4 })))
    const results = await Promise.all(tokens.flatMap((value) => [1, 2, 3, 4].map(() => register(value))))
    t.same(results.map((r) => r.status), Array(12).fill(201), 'all twelve register')
    const ids = results.map((r) => r.body.device_id as string)
    t.equal(new Set(ids).size, 12, 'twelve distinct ids')
    t.same([...ids].sort(), ['rack-1', 'rack-1-2', 'rack-1-3', 'rack-2', 'rack-2-2', 'rack-2-3', 'rack-3', 'rack-3-2', 'rack-3-3', 'rack-4', 'rack-4-2', 'rack-4-3'])
    for (const r of results) t.equal(r.body.subdomain, r.body.device_id, `${r.body.device_id}: subdomain = device id`)
  })

  await t.test('fuzz: any name pattern and reported hostname give a valid, unique id or a 400, never a 5xx', async (t) => {
    const seen = new Set<string>()
    let runs = 0
    const unstorable = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
    const piece = fc.oneof(fc.constantFrom('{n}', '{hostname}', '{x}', '{', '}', ' ', '-', '.', '_'), fc.string({ maxLength: 12, unit: 'grapheme' }))
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 8 }), fc.string({ maxLength: 80, unit: 'binary' }), async (parts, hostname) => {
        runs++
        const created = await http.post('/api/provision/tokens', { fleet_id: fleet.id, name_pattern: parts.join('') }, { token })
        if (created.status === 400) return created.body.code === 'VALIDATION_FAILED'
        if (created.status !== 201) return false
        const res = await register(created.body.token, undefined, hostname)
        // A reported hostname nothing can store (NUL, an unpaired surrogate) is refused by name, before the token is used.
        if (unstorable.test(hostname)) return res.status === 400 && res.body.code === 'VALIDATION_FAILED' && /hostname/.test(res.body.error)
        if (res.status !== 201) return false
        const id = res.body.device_id as string
        const fresh = !seen.has(id)
        seen.add(id)
        return fresh && id === res.body.subdomain && deviceIdPattern.test(id) && subdomainPattern.test(id)
      }),
      // The first is the counterexample a full run found, when a NUL hostname was still expected to register.
      { numRuns: 60, examples: [[['{n}'], '\u0000'], [['{hostname}'], '\uD800x']] },
    )
    t.comment(`ran ${runs} cases`)
    t.equal((await http.get('/healthz')).status, 200, 'the gateway is alive')
  })
})
