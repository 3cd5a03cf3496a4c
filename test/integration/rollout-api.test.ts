import fc from 'fast-check'
import t from 'tap'
import { casesFor, routesOf, type FuzzCase } from '../lib/api-fuzzer.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/** The rollout API without devices that answer: validation, 409s, roles, audit, pins of offline devices, and fuzzing. */
t.test('rollout API', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { rolloutTickMs: 100 } })
  const { http, adminToken: token } = gw
  const as = { token }
  const operator = { token: await gw.tokenFor('operator') }
  const viewer = { token: await gw.tokenFor('viewer') }
  const fleet = (await http.post('/api/fleets', { name: 'field' }, as)).body
  const other = (await http.post('/api/fleets', { name: 'empty' }, as)).body
  const devices: any[] = []
  for (const [i, labels] of [{ site: 'north', hw: 'pi4' }, { site: 'north', hw: 'pi5' }, { site: 'south', hw: 'pi4' }].entries()) {
    const res = await http.post('/api/devices', { name: `box ${i}`, device_id: `box-${i}`, fleet_id: fleet.id, labels }, as)
    t.equal(res.status, 201)
    t.same(res.body.labels, labels)
    devices.push(res.body)
  }
  const sw = (await http.post('/api/software', { name: 'web', docker_compose_yaml: 'services:\n  web:\n    image: web:1\n', version: '1.0' }, as)).body
  t.equal((await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: 'services:\n  web:\n    image: web:2\n', version: '2.0' }, as)).status, 200)

  await t.test('bodies are validated with errors that name the field', async (t) => {
    const bad = async (body: Record<string, unknown>, field: RegExp) => {
      const res = await http.post('/api/rollouts', { software_id: sw.id, ...body }, as)
      t.equal(res.status, 400, JSON.stringify(body))
      t.match(res.body, { code: 'VALIDATION_FAILED', error: field })
    }
    await bad({}, /fleet_id: give exactly one of fleet_id or devices/)
    await bad({ fleet_id: fleet.id, devices: ['box-0'] }, /give exactly one/)
    await bad({ fleet_id: fleet.id, version: '9.9' }, /version: software web has no version 9.9/)
    await bad({ fleet_id: fleet.id, selector: 'site in north' }, /selector: expected "\(" after in/)
    await bad({ devices: ['box-0', 'nope'] }, /devices: no device nope/)
    await bad({ fleet_id: fleet.id, strategy: 'yolo' }, /strategy/)
    await bad({ fleet_id: fleet.id, error_threshold_percent: 101 }, /error_threshold_percent/)
    await bad({ software_id: '00000000-0000-4000-8000-000000000000', fleet_id: fleet.id }, /software_id: no software/)
  })

  await t.test('roles: admins create; operators run; viewers read', async (t) => {
    t.equal((await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id }, operator)).status, 403)
    const draft = await http.post('/api/rollouts', { software_id: sw.id, fleet_id: fleet.id, selector: 'site=north', strategy: 'manual', wave_size: 1, deadline_seconds: 0.3 }, as)
    t.equal(draft.status, 201)
    t.match(draft.body, { status: 'draft', selector: 'site=north', settings: { wave_size: 1, error_threshold_percent: 20, soak_seconds: 60, failure_action: 'pause' } })
    t.equal((await http.post(`/api/rollouts/${draft.body.id}/start`, undefined, viewer)).status, 403)
    const started = await http.post(`/api/rollouts/${draft.body.id}/start`, undefined, operator)
    t.equal(started.status, 200)
    t.same(started.body.waves.map((w: any) => w.size), [1, 1], 'the selector matched the two north devices')
    t.same(started.body.devices.map((d: any) => d.device_id), ['box-0', 'box-1'])
    t.equal((await http.get(`/api/rollouts/${draft.body.id}`, viewer)).status, 200)
    t.equal((await http.get(`/api/rollouts?status=running&fleet_id=${fleet.id}`, viewer)).body.total, 1)
    t.equal((await http.get(`/api/rollouts?status=draft`, viewer)).body.total, 0)

    // The offline first device is sent the release (pinned), then skipped at its deadline; the manual wave waits for advance.
    const skipped = await waitFor('box-0 skipped', async () => {
      const r = (await http.get(`/api/rollouts/${draft.body.id}`, as)).body
      return r.devices[0].state === 'skipped' && /advance to start wave 2/.test(r.reason ?? '') ? r : undefined
    })
    t.match(skipped.devices[0].reason, /offline for more than 0.3 s/)
    t.equal(skipped.devices[1].released_at, null, 'wave 2 waits for the operator')
    const plan = (await http.get(`/api/devices/box-0/deployment-plan`, as)).body
    t.equal(plan.software[0]?.version, '2.0', 'the skipped device keeps its pin and catches up when it returns')

    const deploy = await http.post(`/api/software/${sw.id}/deploy`, { fleet_id: fleet.id }, as)
    t.equal(deploy.status, 409, 'a plain deploy is refused while a rollout of the software is active')
    t.match(deploy.body, { code: 'ROLLOUT_ACTIVE' })
    t.equal((await http.post(`/api/rollouts/${draft.body.id}/pause`, undefined, operator)).body.status, 'paused')
    t.equal((await http.post(`/api/rollouts/${draft.body.id}/pause`, undefined, operator)).status, 409, 'pausing twice is a 409')
    t.equal((await http.post(`/api/rollouts/${draft.body.id}/resume`, undefined, operator)).body.status, 'running')
    const cancelled = await http.post(`/api/rollouts/${draft.body.id}/cancel`, undefined, operator)
    t.equal(cancelled.body.status, 'cancelled')
    t.match(cancelled.body.reason, /cancelled by operator/)

    const audit = (await http.get(`/api/audit?target_id=${draft.body.id}`, as)).body.items.map((a: any) => a.action).sort()
    t.same(audit, ['rollout.cancel', 'rollout.create', 'rollout.pause', 'rollout.resume', 'rollout.start'].sort(), 'every change is audited')

    const after = await http.post(`/api/software/${sw.id}/deploy`, { fleet_id: fleet.id, version: '1.0' }, as)
    t.equal(after.status, 201, 'once the rollout ended, a plain deploy replaces its pins')
    t.equal((await http.get(`/api/devices/box-0/deployment-plan`, as)).body.software[0]?.version, '1.0')
  })

  await t.test('starting with no matching device is a 409; explicit devices work without a fleet', async (t) => {
    const none = (await http.post('/api/rollouts', { software_id: sw.id, fleet_id: other.id }, as)).body
    const res = await http.post(`/api/rollouts/${none.id}/start`, undefined, as)
    t.equal(res.status, 409)
    t.match(res.body, { code: 'ROLLOUT_NO_DEVICES' })
    t.equal((await http.post(`/api/rollouts/${none.id}/cancel`, undefined, as)).status, 200)
    const explicit = await http.post('/api/rollouts', { software_id: sw.id, devices: ['box-2', devices[2].id], strategy: 'immediate', start: true }, as)
    t.equal(explicit.status, 201)
    t.equal(explicit.body.total, 1, 'the same device named twice counts once')
    const again = await http.post('/api/rollouts', { software_id: sw.id, devices: ['box-2'] }, as)
    t.equal(again.status, 409)
    t.match(again.body, { code: 'ROLLOUT_ACTIVE' })
    t.equal((await http.post(`/api/rollouts/${explicit.body.id}/rollback`, undefined, as)).body.status, 'rolled_back')
    t.equal((await http.get(`/api/rollouts/not-a-uuid`, as)).status, 404)
    t.equal((await http.post(`/api/rollouts/00000000-0000-4000-8000-000000000000/start`, undefined, as)).status, 404)
  })

  await t.test('fuzz: rollout routes and the device selector never answer 5xx', async (t) => {
    const doc = (await http.get('/api/openapi.json')).body
    const routes = routesOf(doc).filter((r) => r.path.startsWith('/api/rollouts') || r.path === '/api/devices' || r.path === '/api/devices/{id}')
    t.ok(routes.length >= 11, `${routes.length} operations`)
    const ids = [fleet.id, sw.id, devices[0].id]
    const rollouts = (await http.get('/api/rollouts?limit=50', as)).body.items.map((r: any) => r.id)
    let n = 0
    const failures: string[] = []
    const send = async (c: FuzzCase) => {
      const headers: Record<string, string> = {}
      if (c.auth === 'admin') headers.authorization = `Bearer ${token}`
      if (c.auth === 'forged') headers.authorization = 'Bearer et_forged0000000000000000000000'
      if (c.contentType) headers['content-type'] = c.contentType
      const res = await fetch(`${http.baseUrl}${c.url}`, { method: c.method, headers, body: c.body })
      const text = await res.text()
      if (res.status >= 500) failures.push(`${res.status} ${c.method} ${c.url.slice(0, 100)} ${(c.body ?? '').slice(0, 100)} → ${text.slice(0, 100)}`)
    }
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(casesFor(route, (p) => (p === 'id' ? [...rollouts, ...ids] : ids)), async (c) => {
          n++
          await send(c)
        }),
        { numRuns: 25 },
      )
    }
    t.comment(`ran ${n} cases`)
    t.same(failures, [], 'no 5xx')
    t.equal((await http.get('/healthz')).status, 200, 'the gateway still answers')
  })
})
