import t from 'tap'
import fc from 'fast-check'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { runVerifyIgnition } from '../../cli/ignition-verify.js'
import { newKeyPair } from '../lib/keys.js'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { filesOf } from '../lib/ignition-config.js'
import { startTestGateway } from '../lib/test-gateway.js'

/**
 * A gateway on 127.0.0.1 with its default-style loopback public URL: exactly
 * the setup whose files used to send devices to themselves without a word.
 * The console side is test/browser/provision-endpoints.test.ts.
 */
t.test('configs that point devices at a loopback address are refused unless allowed', async (t) => {
  const agent = await ensureAgentBuilt()
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_PUBLIC_URL: 'http://127.0.0.1:0' },
    start: { agentDir: agent.dir, configFetchLimit: { maxFailures: 100_000, windowSeconds: 60 } },
  })
  const { http, adminToken: token } = gw
  const fleet = (await http.post('/api/fleets', { name: 'bench' }, { token })).body
  const created = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 5 }, { token })).body
  const serverUrl = `http://127.0.0.1:${gw.server.httpPort}`

  await t.test('GET /api/provision/endpoints says where a file would send devices, and that it is loopback', async (t) => {
    const res = await http.get('/api/provision/endpoints', { token: await gw.tokenFor('viewer') })
    t.equal(res.status, 200, 'a viewer may see it')
    t.match(res.body, { server_url: serverUrl, ssh: { host: '127.0.0.1', port: gw.server.sshPort }, loopback: true })
    t.match(res.body.problem, /public_url \(EDGETAINER_PUBLIC_URL\)/)
    t.match(res.body.agent, { url: `${serverUrl}/api/provision/agent/${agent.sha512}`, sha512: agent.sha512 }, 'the content-addressed URL a config would pin')
    t.type(res.body.agent.size, 'number')
    t.equal((await http.get('/api/provision/endpoints')).status, 401, 'not without a session')
  })

  await t.test('the config is refused with 409 LOOPBACK_ENDPOINT naming the setting and the override', async (t) => {
    for (const query of ['', '?format=butane', '?allow_loopback=0', '?allow_loopback=false']) {
      const res = await http.get(`/api/provision/config/${created.token}${query}`)
      t.equal(res.status, 409, `${query || 'no query'}: 409`)
      t.equal(res.body.code, 'LOOPBACK_ENDPOINT')
      t.equal(res.body.field, 'public_url')
      t.match(res.body.error, new RegExp(`refusing to render this config: devices would dial the server URL ${serverUrl.replace(/\./g, '\\.')} and the SSH endpoint 127\\.0\\.0\\.1:${gw.server.sshPort}`))
      t.match(res.body.error, /Set public_url \(EDGETAINER_PUBLIC_URL\)[\s\S]*ssh_port[\s\S]*\?allow_loopback=1/)
    }
    const unknown = await http.get(`/api/provision/config/etr_${'z'.repeat(43)}`)
    t.equal(unknown.status, 404, 'an unknown token is still a 404 first: the refusal tells nothing to a guesser')
  })

  await t.test('?allow_loopback=1 renders it for a lab test on this machine', async (t) => {
    for (const value of ['1', 'true', 'yes', 'on']) {
      const res = await http.get(`/api/provision/config/${created.token}?allow_loopback=${value}`)
      t.equal(res.status, 200, `allow_loopback=${value}`)
      const agentYaml = parseYaml(filesOf(res.body as IgnitionConfig).get('/etc/edgetainer/agent.yaml')!.text!)
      t.match(agentYaml, { server_url: serverUrl, ssh_host: '127.0.0.1', ssh_port: gw.server.sshPort })
    }
    const butane = await http.get(`/api/provision/config/${created.token}?format=butane&allow_loopback=1`)
    t.equal(butane.status, 200)
    const bad = await http.get(`/api/provision/config/${created.token}?allow_loopback=maybe`)
    t.equal(bad.status, 400, 'anything else is a 400')
    t.match(bad.body, { code: 'VALIDATION_FAILED', field: 'allow_loopback' })
    t.equal((await http.get(`/api/provision/tokens/${created.id}`, { token })).body.uses, 0, 'rendering used nothing')
  })

  await t.test('verify-ignition: the on-site check that a file is current', async (t) => {
    const fresh = (await http.post('/api/provision/tokens', { fleet_id: fleet.id }, { token })).body
    const config = (await http.get(`/api/provision/config/${fresh.token}?allow_loopback=1`)).body as IgnitionConfig
    const file = path.join(gw.dataDir, 'device.ign')
    writeFileSync(file, JSON.stringify(config))
    const verify = async (options: { allowLoopback?: boolean } = {}) => {
      let out = ''
      const ok = await runVerifyIgnition(file, { ...options, write: (text) => (out += text) })
      return { ok, out }
    }

    const lab = await verify({ allowLoopback: true })
    t.ok(lab.ok, 'a lab file, current')
    t.match(lab.out, /^ok {3}\/opt\/bin\/edgetainer-agent: \S+ matches the sha512 in the file \(\d+\.\d MiB, the first-boot download\)$/m, 'the download is what the file pins')
    t.match(lab.out, /^ok {3}registration: the token is still usable/m)
    t.match(lab.out, /is current: install it\.\n$/)

    const strict = await verify()
    t.notOk(strict.ok, 'without the lab override a loopback file fails')
    t.match(strict.out, /^fail server URL 127\.0\.0\.1 is a loopback address/m)

    const tampered = structuredClone(config)
    const agentFile = tampered.storage.files.find((f) => f.path === '/opt/bin/edgetainer-agent')!
    agentFile.contents.verification = { hash: `sha512-${'0'.repeat(128)}` }
    writeFileSync(file, JSON.stringify(tampered))
    const stale = await verify({ allowLoopback: true })
    t.notOk(stale.ok)
    t.match(stale.out, /^fail \/opt\/bin\/edgetainer-agent: \S+ no longer matches the sha512 in the file: download a fresh file$/m, 'a file pinning another agent is caught')

    writeFileSync(file, JSON.stringify(config))
    t.equal((await http.post('/api/provision/register', { token: fresh.token, public_key: newKeyPair().publicKey })).status, 201)
    const used = await verify({ allowLoopback: true })
    t.notOk(used.ok)
    t.match(used.out, /^fail registration: \S+ refuses the token \(410: registration token has been used up\): ask for a new file$/m, 'a used-up token is caught')

    writeFileSync(file, '{"ignition":{"version":"3.3.0"}}')
    await t.rejects(verify(), /holds no \/etc\/edgetainer\/agent\.yaml/, 'a file that is not a device file says so')

    // Whatever file a tech points it at: a clear ValidationError, never a crash.
    let runs = 0
    const agentYaml = fc.oneof(fc.string(), fc.constant('server_url: 1\ntoken: [x'), fc.constant('data:nocomma')).map((text) =>
      text.startsWith('data:') ? text : `data:;base64,${Buffer.from(text).toString('base64')}`,
    )
    const deviceFile = fc.oneof(
      fc.json(),
      fc.string(),
      agentYaml.map((source) => JSON.stringify({ storage: { files: [{ path: '/etc/edgetainer/agent.yaml', contents: { source } }] } })),
    )
    await fc.assert(
      fc.asyncProperty(deviceFile, async (text) => {
        runs++
        writeFileSync(file, text)
        const outcome = await verify().then(
          () => 'verified',
          (err: Error) => err.constructor.name,
        )
        return outcome === 'ValidationError'
      }),
      { numRuns: 100 },
    )
    t.comment(`ran ${runs} cases`)
  })

  await t.test('fuzz: any format, allow_loopback and token give 200/400/404/409/410, never a 5xx', async (t) => {
    let runs = 0
    const value = fc.oneof(fc.constantFrom('1', '0', 'true', 'yes', 'off', 'ignition', 'butane', '', '%00', '%ff', '[]'), fc.string({ maxLength: 20 }))
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant(created.token), fc.string({ maxLength: 60 }).map((s) => encodeURIComponent(s) || 'x')),
        fc.array(fc.tuple(fc.constantFrom('format', 'allow_loopback', 'allow_loopback[]', 'x'), value), { maxLength: 4 }),
        async (tokenPart, params) => {
          runs++
          const query = params.map(([k, v]) => `${k}=${/^%/.test(v) || v === '[]' ? v : encodeURIComponent(v)}`).join('&')
          const res = await http.get(`/api/provision/config/${tokenPart}${query ? `?${query}` : ''}`)
          return [200, 400, 404, 409, 410].includes(res.status)
        },
      ),
      { numRuns: 150 },
    )
    t.comment(`ran ${runs} cases`)
    t.equal((await http.get('/healthz')).status, 200, 'the gateway is alive')
  })
})
