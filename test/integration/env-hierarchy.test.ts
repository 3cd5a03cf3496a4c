import t from 'tap'
import { dialects } from '../lib/databases.js'
import { deploymentParts } from '../lib/deployment-parts.js'
import { startTestGateway } from '../lib/test-gateway.js'

const compose = `services:
  web:
    image: shop:1
  worker:
    image: shop-worker:1
`
// Each secret is a distinct string, so finding one anywhere it should not be is unambiguous.
const SW_SECRET = 'sw-secret-9f1c2e'
const FLEET_SECRET = 'fleet-secret-4a7b0d'
const DEVICE_SECRET = 'device-secret-c3d8e1'
const ROTATED_SECRET = 'rotated-secret-77aa10'
const secrets = [SW_SECRET, FLEET_SECRET, DEVICE_SECRET, ROTATED_SECRET]
const MASK = '********'

for (const dialect of dialects) {
  t.test(`environment hierarchy, secrets and env routes on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const parts = deploymentParts(gw)
    const token = gw.adminToken
    // Every admin-route response body passes through here, so the last subtest can check none held a secret.
    const bodies: string[] = []
    const record = async <T extends { body: unknown }>(p: Promise<T>) => {
      const res = await p
      bodies.push(typeof res.body === 'string' ? res.body : JSON.stringify(res.body))
      return res
    }
    const http = {
      get: (path: string, auth = token) => record(gw.http.get(path, { token: auth })),
      post: (path: string, body?: unknown, auth = token) => record(gw.http.post(path, body, { token: auth })),
      put: (path: string, body?: unknown, auth = token) => record(gw.http.put(path, body, { token: auth })),
      delete: (path: string, auth = token) => record(gw.http.delete(path, { token: auth })),
    }

    const software = (
      await http.post('/api/software', {
        name: 'shop',
        docker_compose_yaml: compose,
        env_vars: {
          vars: { A: 'sw-all', B: 'sw-all', C: 'sw-all', D: 'sw-all', API_KEY: { value: SW_SECRET, secret: true, description: 'payment key' } },
          services: { web: { vars: { B: 'sw-web', C: 'sw-web', D: 'sw-web' } } },
        },
      })
    ).body
    const fleet = (await http.post('/api/fleets', { name: 'stores' })).body
    const other = (await http.post('/api/fleets', { name: 'warehouses' })).body
    const pump1 = (await http.post('/api/devices', { name: 'Pump 1', device_id: 'pump-1', fleet_id: fleet.id })).body
    const pump2 = (await http.post('/api/devices', { name: 'Pump 2', device_id: 'pump-2', fleet_id: fleet.id })).body
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id })).status, 201)

    await t.test('writing levels: shorthand, validation, and masked answers', async (t) => {
      const fleetWeb = await http.put(`/api/fleets/${fleet.id}/env-vars/web`, { vars: { C: 'fleet', D: 'fleet', FLEET_TOKEN: { value: FLEET_SECRET, secret: true } } })
      t.equal(fleetWeb.status, 200)
      t.same(fleetWeb.body.vars.FLEET_TOKEN, { value: MASK, secret: true, description: null }, 'the PUT answer is masked')
      t.same(fleetWeb.body.vars.C, { value: 'fleet', secret: false, description: null })
      t.equal((await http.put(`/api/fleets/${fleet.id}/env-vars/worker`, { vars: { D: 'fleet-worker' } })).status, 200)
      const deviceWeb = await http.put('/api/devices/pump-1/env-vars/web', { vars: { D: 'device', DB_PASS: { value: DEVICE_SECRET, secret: true, description: 'db' } } })
      t.equal(deviceWeb.status, 200, 'devices are addressed by device_id too')

      const badName = await http.put('/api/devices/pump-1/env-vars/web', { vars: { '1BAD': 'x' } })
      t.equal(badName.status, 400)
      t.equal(badName.body.field, 'vars.1BAD')
      const badContainer = await http.put(`/api/fleets/${fleet.id}/env-vars/bad%20name`, { vars: { A: 'x' } })
      t.equal(badContainer.status, 400)
      t.equal(badContainer.body.field, 'container')
      const tooBig = await http.put('/api/devices/pump-1/env-vars/web', { vars: { BIG: 'x'.repeat(40_000) } })
      t.equal(tooBig.body.field, 'vars.BIG')
      t.match(tooBig.body.error, /at most 32768 bytes/)
      const unmask = await http.put('/api/devices/pump-1/env-vars/web', { vars: { DB_PASS: MASK } })
      t.equal(unmask.status, 400, 'the mask cannot turn a secret into a plain value')
      t.equal(unmask.body.field, 'vars.DB_PASS')
      t.equal((await http.get(`/api/devices/${pump1.id}/env-vars/web`)).body.vars.D.value, 'device', 'failed writes changed nothing')
      t.equal((await http.get(`/api/fleets/00000000-0000-4000-8000-000000000000/env-vars`)).status, 404)
      t.equal((await http.get('/api/devices/no-such-device/env-vars')).status, 404)
    })

    await t.test('precedence at all four levels, one container at a time', async (t) => {
      const resolved = await http.get('/api/devices/pump-1/env-vars?resolved=true')
      t.equal(resolved.status, 200)
      const { web, worker } = resolved.body.containers
      t.same(web.A, { value: 'sw-all', source: 'software', secret: false, overrides: [] }, 'software, all services')
      t.same(web.B, { value: 'sw-web', source: 'software', secret: false, overrides: ['software'] }, 'software, this service')
      t.same(web.C, { value: 'fleet', source: 'fleet', secret: false, overrides: ['software'] }, 'fleet')
      t.same(web.D, { value: 'device', source: 'device', secret: false, overrides: ['software', 'fleet'] }, 'device')
      t.same(web.API_KEY, { value: MASK, source: 'software', secret: true, overrides: [] })
      t.same(web.DB_PASS, { value: MASK, source: 'device', secret: true, overrides: [] })
      t.same(worker.D, { value: 'fleet-worker', source: 'fleet', secret: false, overrides: ['software'] }, 'the device variable for web leaves worker alone')
      t.same(worker.B, { value: 'sw-all', source: 'software', secret: false, overrides: [] })
      t.notOk('DB_PASS' in worker)

      const pump2View = (await http.get(`/api/devices/${pump2.id}/env-vars?resolved=true`)).body.containers
      t.equal(pump2View.web.D.value, 'fleet', "another device of the fleet does not see pump-1's variable")

      const own = await http.get('/api/devices/pump-1/env-vars')
      t.same(Object.keys(own.body.containers), ['web'], 'without resolved=true: the device level only')
      t.equal(own.body.containers.web.DB_PASS.value, MASK)

      const plan = await http.get('/api/devices/pump-1/deployment-plan')
      t.equal(plan.status, 200)
      t.same(plan.body, {
        software: [
          {
            software_id: software.id,
            name: 'shop',
            version: '1',
            compose,
            env: {
              web: { A: 'sw-all', B: 'sw-web', C: 'fleet', D: 'device', API_KEY: MASK, FLEET_TOKEN: MASK, DB_PASS: MASK },
              worker: { A: 'sw-all', B: 'sw-all', C: 'sw-all', D: 'fleet-worker', API_KEY: MASK },
            },
          },
        ],
      })
    })

    await t.test('the device resolver delivers secrets in plain text, in the same shape', async (t) => {
      const masked = (await http.get('/api/devices/pump-1/deployment-plan')).body
      const plain = await parts.resolver.resolveForDevice(pump1.id, { revealSecrets: true })
      t.same(Object.keys(plain.software[0]!), Object.keys(masked.software[0]))
      t.same(plain.software[0]!.env.web, { A: 'sw-all', B: 'sw-web', C: 'fleet', D: 'device', API_KEY: SW_SECRET, FLEET_TOKEN: FLEET_SECRET, DB_PASS: DEVICE_SECRET })
      t.same(JSON.parse(JSON.stringify(await parts.resolver.resolveForDevice(pump1.id, { revealSecrets: false }))), masked, 'unrevealed, it is the admin plan')
    })

    await t.test('secrets are stored encrypted, kept when sent back masked, replaced without being read', async (t) => {
      const db = gw.server.database.db
      const raw = JSON.stringify([
        await db.selectFrom('fleet_env_vars').selectAll().execute(),
        await db.selectFrom('device_env_vars').selectAll().execute(),
        await db.selectFrom('software_versions').selectAll().execute(),
      ])
      for (const s of [SW_SECRET, FLEET_SECRET, DEVICE_SECRET]) t.notOk(raw.includes(s), `the raw tables do not hold ${s}`)
      t.match(raw, /"value":"v1\.[\w-]+\.[\w-]+\.[\w-]+"/, 'they hold sealed values')

      const keep = await http.put('/api/devices/pump-1/env-vars/web', { vars: { D: 'device-2', DB_PASS: { value: MASK, secret: true, description: 'db' } } })
      t.equal(keep.status, 200)
      let plain = await parts.resolver.resolveForDevice(pump1.id, { revealSecrets: true })
      t.equal(plain.software[0]!.env.web!.DB_PASS, DEVICE_SECRET, 'the masked secret kept its value')
      t.equal(plain.software[0]!.env.web!.D, 'device-2')

      const rotate = await http.put('/api/devices/pump-1/env-vars/web', { vars: { D: 'device-2', DB_PASS: { value: ROTATED_SECRET, secret: true } } })
      t.equal(rotate.status, 200)
      plain = await parts.resolver.resolveForDevice(pump1.id, { revealSecrets: true })
      t.equal(plain.software[0]!.env.web!.DB_PASS, ROTATED_SECRET, 'replaced without reading it first')

      const swKeep = await http.put(`/api/software/${software.id}/env-vars`, {
        vars: { A: 'sw-all', B: 'sw-all', C: 'sw-all', D: 'sw-all', API_KEY: { value: MASK, secret: true, description: 'payment key' }, NEW: 'x' },
        services: { web: { vars: { B: 'sw-web', C: 'sw-web', D: 'sw-web' } } },
      })
      t.equal(swKeep.body.version, '2')
      t.equal(swKeep.body.vars.API_KEY.value, MASK)
      plain = await parts.resolver.resolveForDevice(pump1.id, { revealSecrets: true })
      t.equal(plain.software[0]!.version, '2', 'the unpinned fleet deployment follows the new version')
      t.equal(plain.software[0]!.env.worker!.API_KEY, SW_SECRET, 'a software default secret is kept across versions')
    })

    await t.test('export and import, per fleet and per device', async (t) => {
      const exported = await http.get(`/api/fleets/${fleet.id}/env-vars/export`)
      t.equal(exported.status, 200)
      t.equal(exported.body.level, 'fleet')
      t.equal(exported.body.containers.web.vars.FLEET_TOKEN.value, MASK, 'secrets export masked')
      t.equal(exported.body.containers.worker.vars.D.value, 'fleet-worker')

      const edited = structuredClone(exported.body)
      edited.containers.web.vars.C.value = 'fleet-imported'
      const imported = await http.post(`/api/fleets/${fleet.id}/env-vars/import`, edited)
      t.equal(imported.status, 200)
      t.equal(imported.body.containers.web.C.value, 'fleet-imported')
      const plain = await parts.resolver.resolveForDevice(pump2.id, { revealSecrets: true })
      t.equal(plain.software[0]!.env.web!.FLEET_TOKEN, FLEET_SECRET, 'an imported masked secret keeps the stored value')
      t.equal(plain.software[0]!.env.web!.C, 'fleet-imported')

      const elsewhere = await http.post(`/api/fleets/${other.id}/env-vars/import`, exported.body)
      t.equal(elsewhere.status, 400, 'a masked secret with nothing stored to keep is refused')
      t.equal(elsewhere.body.field, 'containers.web.vars.FLEET_TOKEN')
      t.same((await http.get(`/api/fleets/${other.id}/env-vars`)).body.containers, {}, 'all or nothing: worker was not imported either')

      const deviceExport = (await http.get('/api/devices/pump-1/env-vars/export')).body
      t.equal(deviceExport.device_id, pump1.id)
      const toPump2 = await http.post('/api/devices/pump-2/env-vars/import', { containers: { worker: { vars: { D: 'pump2-worker' } } } })
      t.equal(toPump2.status, 200)
      t.equal((await http.get(`/api/devices/${pump2.id}/env-vars?resolved=true`)).body.containers.worker.D.source, 'device')
    })

    await t.test('reading, deleting and restarting one container', async (t) => {
      t.same((await http.get(`/api/fleets/${fleet.id}/env-vars/worker`)).body, { container: 'worker', vars: { D: { value: 'fleet-worker', secret: false, description: null } } })
      t.same((await http.get(`/api/fleets/${fleet.id}/env-vars/nothing-here`)).body, { container: 'nothing-here', vars: {} })
      t.equal((await http.delete(`/api/fleets/${fleet.id}/env-vars/worker`)).status, 204)
      t.equal((await http.delete(`/api/fleets/${fleet.id}/env-vars/worker`)).status, 404)
      t.same(Object.keys((await http.get(`/api/fleets/${fleet.id}/env-vars`)).body.containers), ['web'])
      t.equal((await http.get('/api/devices/pump-1/env-vars?resolved=true')).body.containers.worker.D.source, 'software', 'worker falls back to the defaults')

      const first = await http.post('/api/devices/pump-1/env-vars/web/restart')
      t.equal(first.status, 202)
      t.match(first.body, { device_id: pump1.id, container: 'web', status: 'queued', requested_by: 'admin', consumed_at: null })
      const again = await http.post(`/api/devices/${pump1.id}/env-vars/web/restart`)
      t.equal(again.body.id, first.body.id, 'a restart already waiting is reused')
      const waiting = await parts.restarts.pending(pump1.id)
      t.same(waiting.map((r) => r.container), ['web'])
      t.same((await parts.restarts.take(pump1.id)).map((r) => r.id), [first.body.id], 'the agent takes it')
      t.same(await parts.restarts.pending(pump1.id), [])
      const later = await http.post('/api/devices/pump-1/env-vars/web/restart')
      t.not(later.body.id, first.body.id, 'after it was taken, a new request queues anew')
    })

    await t.test('every change is audited, secrets without their values', async (t) => {
      const deviceAudit = await http.get(`/api/audit?target_type=device&target_id=${pump1.id}&limit=100`)
      const actions = deviceAudit.body.items.map((r: { action: string }) => r.action)
      t.same(actions.filter((a: string) => a !== 'device.create'), ['container.restart', 'container.restart', 'env.update', 'env.update', 'env.update'])
      const rotation = deviceAudit.body.items.find((r: { action: string; details: { changes: { name: string }[] } }) => r.action === 'env.update' && r.details.changes.some((c) => c.name === 'DB_PASS'))
      t.same(rotation.details, { container: 'web', changes: [{ name: 'DB_PASS', change: 'changed', secret: true }] })
      const fleetAudit = await http.get(`/api/audit?target_type=fleet&target_id=${fleet.id}&limit=100`)
      t.same(
        fleetAudit.body.items.map((r: { action: string }) => r.action).filter((a: string) => a.startsWith('env.')),
        ['env.delete', 'env.import', 'env.update', 'env.update'],
      )
      const firstWrite = fleetAudit.body.items.findLast((r: { action: string }) => r.action === 'env.update')
      t.same(firstWrite.details.changes, [
        { name: 'C', change: 'added', secret: false, value: 'fleet' },
        { name: 'D', change: 'added', secret: false, value: 'fleet' },
        { name: 'FLEET_TOKEN', change: 'added', secret: true },
      ])
      const raw = JSON.stringify(await gw.server.database.db.selectFrom('audit_log').selectAll().execute())
      for (const s of secrets) t.notOk(raw.includes(s), `no audit row holds ${s}`)
    })

    await t.test('viewers read; operators change variables and restart; neither deploys', async (t) => {
      const viewer = await gw.tokenFor('viewer')
      const operator = await gw.tokenFor('operator')
      t.equal((await http.get('/api/devices/pump-1/env-vars?resolved=true', viewer)).status, 200)
      t.equal((await http.get(`/api/fleets/${fleet.id}/env-vars/export`, viewer)).status, 200)
      t.equal((await http.put('/api/devices/pump-1/env-vars/web', { vars: { X: '1' } }, viewer)).status, 403)
      t.equal((await http.put(`/api/fleets/${fleet.id}/env-vars/web`, { vars: { X: '1' } }, viewer)).status, 403)
      t.equal((await http.delete('/api/devices/pump-1/env-vars/web', viewer)).status, 403)
      t.equal((await http.post(`/api/fleets/${fleet.id}/env-vars/import`, { containers: {} }, viewer)).status, 403)
      t.equal((await http.post('/api/devices/pump-1/env-vars/web/restart', undefined, viewer)).status, 403)
      t.equal((await http.post(`/api/software/${software.id}/deploy`, { device_id: 'pump-1' }, viewer)).status, 403)
      t.equal((await http.post(`/api/software/${software.id}/deploy`, { device_id: 'pump-1' }, operator)).status, 403)
      t.equal((await http.put('/api/devices/pump-2/env-vars/web', { vars: { X: '1' } }, operator)).status, 200)
      t.equal((await http.post('/api/devices/pump-2/env-vars/web/restart', undefined, operator)).status, 202)
      t.equal((await http.get('/api/devices/pump-2/env-vars/web', viewer)).body.vars.X.value, '1', 'the viewer sees what the operator wrote')
    })

    await t.test('no admin response carried a secret value', async (t) => {
      t.ok(bodies.length > 50, `${bodies.length} responses checked`)
      for (const s of secrets) t.notOk(bodies.some((b) => b.includes(s)), `${s} never left the gateway through an admin route`)
      t.ok(bodies.some((b) => b.includes(MASK)), 'masked values did')
    })
  })
}
