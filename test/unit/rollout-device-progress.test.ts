import t from 'tap'
import { nextProgress, type DeviceFacts, type DeviceRowFacts } from '../../server/rollouts/device-progress.js'
import type { RolloutSettings } from '../../server/db/schema.js'

const SOFTWARE = '0a1b2c3d-0000-4000-8000-000000000000'
const sent = new Date('2026-12-02T10:00:00Z')
const later = (s: number) => new Date(sent.getTime() + s * 1000)
const settings = { soak_seconds: 5, deadline_seconds: 60 } as RolloutSettings
const target = { software_id: SOFTWARE, version: 'v2', settings }
const row = (over: Partial<DeviceRowFacts> = {}): DeviceRowFacts => ({ state: 'pending', reason: null, previous_version: 'v1', released_at: sent, healthy_since: null, ...over })
const report = (status: string, error: string | null, at = later(1)) => ({ version: 'v2', status, error, updated_at: at })
const online = (over: Partial<DeviceFacts> = {}): DeviceFacts => ({ online: true, last_seen: later(1), ...over })

t.test("an unfinished phase shows the agent's reason for waiting, and moves on without it", async (t) => {
  const held = nextProgress(row(), online({ report: report('installing', 'waiting for update lock held by `web`') }), target, later(2))
  t.same(held, { state: 'installing', reason: 'waiting for update lock held by `web`', healthy_since: null })
  t.equal(nextProgress(row(held), online({ report: report('installing', 'waiting for update lock held by `web`') }), target, later(3)), undefined, 'no change while it waits')
  t.same(nextProgress(row(held), online({ report: report('installing', null, later(4)) }), target, later(5)), { state: 'installing', reason: null, healthy_since: null }, 'the lock released: the reason goes')
  t.same(nextProgress(row(), online({ report: report('deploying', null) }), target, later(2)), { state: 'downloading', reason: null, healthy_since: null }, 'an older agent\'s "deploying" reads downloading')
})

t.test('reports about an earlier release, or sent before this one, do not count', async (t) => {
  t.equal(nextProgress(row(), online({ report: { ...report('failed', 'x'), version: 'v1' } }), target, later(2)), undefined)
  t.equal(nextProgress(row(), online({ report: report('failed', 'x', later(-1)) }), target, later(2)), undefined)
})

t.test('a release the agent rolled back fails the device, saying where it went', async (t) => {
  const p = nextProgress(row(), online({ report: report('rolled_back', 'container `web` exited with code 1') }), target, later(2))
  t.same(p, { state: 'failed', reason: 'container `web` exited with code 1; the device went back to v1', healthy_since: null })
})

t.test('soak: healthy for soak_seconds succeeds; a crash during it fails', async (t) => {
  const web = { name: 'et-app-0a1b2c-web-1', project: 'et-app-0a1b2c', service: 'web', state: 'running', health: null, exit_code: null }
  const beat = (state: string, exit_code: number | null) => ({ recorded_at: later(2), containers: [{ ...web, state, exit_code }] })
  const soaking = nextProgress(row(), online({ report: report('running', null), heartbeat: beat('running', null) }), target, later(2))
  t.same(soaking, { state: 'verifying', reason: null, healthy_since: later(2) })
  t.same(nextProgress(row(soaking), online({ report: report('running', null), heartbeat: beat('running', null) }), target, later(7)), { state: 'succeeded', reason: null, healthy_since: later(2) })
  t.same(nextProgress(row(soaking), online({ report: report('running', null), heartbeat: beat('exited', 1) }), target, later(3)), { state: 'failed', reason: 'container web exited with code 1', healthy_since: null })
})

t.test("soak time counts only while the release's containers are seen: dockerd away or no container of it starts the soak over, failing nothing", async (t) => {
  const web = { name: 'et-app-0a1b2c-web-1', project: 'et-app-0a1b2c', service: 'web', state: 'running', health: null, exit_code: null }
  const soaking = row({ state: 'verifying', healthy_since: later(2) })
  const away = { recorded_at: later(4), containers: [], docker_error: 'cannot reach dockerd at unix:///var/run/docker.sock: ENOENT' }
  t.same(nextProgress(soaking, online({ report: report('running', null), heartbeat: away }), target, later(9)), {
    state: 'verifying',
    reason: 'its containers cannot be seen: cannot reach dockerd at unix:///var/run/docker.sock: ENOENT',
    healthy_since: null,
  }, 'dockerd away: past soak_seconds, yet not succeeded')
  const other = { ...web, name: 'et-other-99ffee-web-1', project: 'et-other-99ffee' }
  t.same(nextProgress(soaking, online({ report: report('running', null), heartbeat: { recorded_at: later(4), containers: [other] } }), target, later(9)), {
    state: 'verifying',
    reason: 'none of its containers is on the device',
    healthy_since: null,
  }, "only another software's containers")
  const back = nextProgress(row({ state: 'verifying', reason: 'none of its containers is on the device' }), online({ report: report('running', null), heartbeat: { recorded_at: later(10), containers: [web] } }), target, later(10))
  t.same(back, { state: 'verifying', reason: null, healthy_since: later(10) }, 'seen again: the soak starts from then')
})

t.test('a device offline past its deadline is skipped; not before', async (t) => {
  const away = { online: false, last_seen: later(-10) }
  t.equal(nextProgress(row(), away, target, later(59)), undefined)
  t.match(nextProgress(row(), away, target, later(60)), { state: 'skipped', reason: /offline for more than 60 s/ })
})
