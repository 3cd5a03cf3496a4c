import t from 'tap'
import { dialects } from '../lib/databases.js'
import { deploymentParts } from '../lib/deployment-parts.js'
import { startTestGateway } from '../lib/test-gateway.js'

const compose = (tag: string) => `services:\n  app:\n    image: app:${tag}\n`

interface PlanEntry {
  name: string
  version: string
}

for (const dialect of dialects) {
  t.test(`deployments: fleets, late joiners, overrides, pinning and status on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const parts = deploymentParts(gw)
    const { http } = gw
    const token = gw.adminToken

    const app = (await http.post('/api/software', { name: 'app', docker_compose_yaml: compose('1') }, { token })).body
    const tools = (await http.post('/api/software', { name: 'tools', docker_compose_yaml: 'services:\n  shell:\n    image: busybox:1\n' }, { token })).body
    const fleet = (await http.post('/api/fleets', { name: 'line-1' }, { token })).body
    const d1 = (await http.post('/api/devices', { name: 'd1', device_id: 'd1', fleet_id: fleet.id }, { token })).body

    const plan = async (device: string): Promise<Record<string, string>> => {
      const res = await http.get(`/api/devices/${device}/deployment-plan`, { token })
      if (res.status !== 200) throw new Error(`plan for ${device}: ${res.status} ${JSON.stringify(res.body)}`)
      return Object.fromEntries((res.body.software as PlanEntry[]).map((s) => [s.name, s.version]))
    }
    const versionSet = async (tag: string) => (await http.put(`/api/software/${app.id}`, { docker_compose_yaml: compose(tag) }, { token })).body.current_version

    await t.test('deploy checks its input', async (t) => {
      const both = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id, device_id: 'd1' }, { token })
      t.equal(both.status, 400)
      const neither = await http.post(`/api/software/${app.id}/deploy`, {}, { token })
      t.equal(neither.status, 400)
      t.equal(neither.body.field, 'fleet_id')
      const noFleet = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: '00000000-0000-4000-8000-000000000000' }, { token })
      t.equal(noFleet.body.field, 'fleet_id')
      const noDevice = await http.post(`/api/software/${app.id}/deploy`, { device_id: 'nope' }, { token })
      t.equal(noDevice.body.field, 'device_id')
      const noVersion = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id, version: '9' }, { token })
      t.equal(noVersion.status, 400)
      t.equal(noVersion.body.field, 'version')
      const git = (await http.post('/api/software', { name: 'later', source: 'git', repo_url: 'https://git.example.com/x.git' }, { token })).body
      const empty = await http.post(`/api/software/${git.id}/deploy`, { fleet_id: fleet.id }, { token })
      t.equal(empty.status, 409)
      t.equal(empty.body.code, 'SOFTWARE_HAS_NO_VERSION')
      t.equal((await http.post('/api/software/00000000-0000-4000-8000-000000000000/deploy', { fleet_id: fleet.id }, { token })).status, 404)
      t.same(await plan('d1'), {}, 'nothing was deployed')
    })

    let fleetDeployment: string
    await t.test('a fleet deployment reaches devices that join the fleet later', async (t) => {
      const res = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id }, { token })
      t.equal(res.status, 201)
      t.match(res.body, { software_id: app.id, software_name: 'app', target: 'fleet', fleet_id: fleet.id, device_id: null, version: '1', pinned: false, effective_version: '1', status: 'pending' })
      fleetDeployment = res.body.id
      t.same(await plan('d1'), { app: '1' })

      const late = await http.post('/api/devices', { name: 'late', device_id: 'late', fleet_id: fleet.id }, { token })
      t.equal(late.status, 201)
      t.same(await plan('late'), { app: '1' }, 'a device created into the fleet afterwards gets it')
      const moved = (await http.post('/api/devices', { name: 'moved', device_id: 'moved' }, { token })).body
      t.same(await plan('moved'), {}, 'outside the fleet, nothing')
      await http.post(`/api/devices/${moved.id}/move`, { fleet_id: fleet.id }, { token })
      t.same(await plan('moved'), { app: '1' }, 'a device moved into the fleet gets it')
      const listed = await http.get(`/api/deployments?fleet_id=${fleet.id}`, { token })
      t.equal(listed.body.total, 1)
      t.same(listed.body.items[0].devices.map((d: { device_id: string }) => d.device_id), ['d1', 'late', 'moved'], 'its devices are the fleet members now')
      t.ok(listed.body.items[0].devices.every((d: { status: string }) => d.status === 'pending'))
      t.equal((await http.get(`/api/deployments/${fleetDeployment}`, { token })).body.id, fleetDeployment)
      await http.post('/api/devices/moved/move', { fleet_id: null }, { token })
      t.same(await plan('moved'), {}, 'leaving the fleet drops it')
    })

    await t.test('unpinned deployments follow the software; a device deployment overrides the fleet and pins', async (t) => {
      t.equal(await versionSet('2'), '2')
      t.same(await plan('d1'), { app: '2' }, 'unpinned follows current_version')

      const own = await http.post(`/api/software/${app.id}/deploy`, { device_id: 'd1', version: '1' }, { token })
      t.equal(own.status, 201)
      t.match(own.body, { target: 'device', device_id: d1.id, version: '1', pinned: true, effective_version: '1' }, 'naming a version pins it')
      t.same(await plan('d1'), { app: '1' }, "the device's deployment overrides its fleet's")
      t.same(await plan('late'), { app: '2' }, 'the rest of the fleet is unaffected')
      t.equal(await versionSet('3'), '3')
      t.same(await plan('d1'), { app: '1' }, 'pinned stays')
      t.same(await plan('late'), { app: '3' })

      const both = await http.get(`/api/deployments?software_id=${app.id}`, { token })
      t.equal(both.body.total, 2)
      const byTarget = Object.fromEntries(both.body.items.map((d: { target: string }) => [d.target, d]))
      t.same(byTarget.fleet.devices.map((d: { device_id: string }) => d.device_id), ['late'], 'd1 is no longer counted under the fleet deployment')
      t.same(byTarget.device.devices.map((d: { device_id: string }) => d.device_id), ['d1'])
      const forD1 = await http.get('/api/deployments?device_id=d1', { token })
      t.equal(forD1.body.total, 2, "a device's filter shows its own and its fleet's deployments")

      const pinFleet = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id, version: '3', pinned: true }, { token })
      t.equal(pinFleet.body.id, fleetDeployment, 'deploying again updates the same deployment')
      t.equal(await versionSet('4'), '4')
      t.same(await plan('late'), { app: '3' }, 'a pinned fleet stays')
      const unpin = await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id, pinned: false }, { token })
      t.equal(unpin.body.effective_version, '4')
      t.same(await plan('late'), { app: '4' }, 'unpinned again, it follows')
      t.equal((await http.get(`/api/deployments?fleet_id=${fleet.id}`, { token })).body.total, 1, 'still one fleet deployment')

      t.equal((await http.post(`/api/software/${tools.id}/deploy`, { device_id: d1.id }, { token })).status, 201)
      t.same(await plan('d1'), { app: '1', tools: '1' }, 'a device runs several software')
      const full = (await http.get('/api/devices/d1/deployment-plan', { token })).body.software[0]
      t.same(Object.keys(full), ['software_id', 'name', 'version', 'compose', 'env'])
      t.equal(full.compose, compose('1'))
      t.same(full.env, { app: {} })

      const removed = await http.delete(`/api/deployments/${own.body.id}`, { token })
      t.equal(removed.status, 204)
      t.same(await plan('d1'), { app: '4', tools: '1' }, "without its own deployment the device falls back to the fleet's")
      t.equal((await http.delete(`/api/deployments/${own.body.id}`, { token })).status, 404)
    })

    await t.test('per-device status, as devices report it', async (t) => {
      const late = (await http.get('/api/devices/late', { token })).body
      await parts.status.report(d1.id, app.id, { version: '4', status: 'running' })
      await parts.status.report(late.id, app.id, { version: '4', status: 'deploying' })
      let view = (await http.get(`/api/deployments/${fleetDeployment}`, { token })).body
      t.same(
        view.devices.map((d: { device_id: string; status: string }) => [d.device_id, d.status]),
        [
          ['d1', 'running'],
          ['late', 'deploying'],
        ],
      )
      t.equal(view.status, 'deploying')
      await parts.status.report(late.id, app.id, { version: '4', status: 'rolled_back', error: 'health check failed: app exited 1' })
      view = (await http.get(`/api/deployments/${fleetDeployment}`, { token })).body
      t.equal(view.status, 'rolled_back')
      t.match(view.devices[1], { device_id: 'late', status: 'rolled_back', error: 'health check failed: app exited 1', reported_version: '4' })
      await parts.status.report(late.id, app.id, { version: '4', status: 'failed', error: 'pull failed' })
      t.equal((await http.get(`/api/deployments?fleet_id=${fleet.id}`, { token })).body.items[0].status, 'failed')

      t.equal(await versionSet('5'), '5')
      view = (await http.get(`/api/deployments/${fleetDeployment}`, { token })).body
      t.same(
        view.devices.map((d: { status: string; reported_version: string; error: string | null }) => [d.status, d.reported_version, d.error]),
        [
          ['pending', '4', null],
          ['pending', '4', null],
        ],
        'a report on an older version leaves the new one pending',
      )
      await parts.status.report(d1.id, app.id, { version: '5', status: 'running' })
      await parts.status.report(late.id, app.id, { version: '5', status: 'running' })
      t.equal((await http.get(`/api/deployments/${fleetDeployment}`, { token })).body.status, 'running')
    })

    await t.test('deployments are audited and only admins deploy', async (t) => {
      const audit = await http.get(`/api/audit?target_type=deployment&target_id=${fleetDeployment}`, { token })
      t.same(
        audit.body.items.map((r: { action: string }) => r.action),
        ['deployment.update', 'deployment.update', 'deployment.create'],
      )
      t.match(audit.body.items[0].details, { software: 'app', fleet_id: fleet.id, pinned: false, previous_version: '3', previous_pinned: true })
      const viewer = await gw.tokenFor('viewer')
      const operator = await gw.tokenFor('operator')
      for (const auth of [viewer, operator]) {
        t.equal((await http.post(`/api/software/${app.id}/deploy`, { fleet_id: fleet.id }, { token: auth })).status, 403)
        t.equal((await http.delete(`/api/deployments/${fleetDeployment}`, { token: auth })).status, 403)
        t.equal((await http.get('/api/deployments', { token: auth })).status, 200)
        t.equal((await http.get('/api/devices/d1/deployment-plan', { token: auth })).status, 200)
      }
    })
  })
}
