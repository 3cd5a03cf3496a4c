import t from 'tap'
import { composeHash, plan, targetDigest, type CurrentStack, type TargetStack } from '../../agent/deploy/planner.js'

const compose = (tag: string) => `services:\n  web:\n    image: app:${tag}\n  side:\n    image: side:1\n`
const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`

function target(n: number, version: string, env: TargetStack['env'] = { web: { A: '1' }, side: {} }, tag = version): TargetStack {
  return { software_id: id(n), name: `sw${n}`, version, compose: compose(tag), env }
}

function running(t: TargetStack): CurrentStack {
  return { software_id: t.software_id, name: t.name, version: t.version, compose_hash: composeHash(t.compose), env: t.env, services: Object.keys(t.env) }
}

t.test('nothing to do when what runs is what is wanted', async (t) => {
  const a = target(1, '1')
  t.same(plan({ current: [running(a)], target: [a], failed: {}, restarts: [] }), [])
})

t.test('new software is deployed, software no longer wanted is removed, removals first', async (t) => {
  const a = target(1, '1')
  const b = target(2, '1')
  const steps = plan({ current: [running(a)], target: [b], failed: {}, restarts: [] })
  t.same(
    steps.map((s) => s.kind),
    ['remove', 'deploy'],
  )
  t.match(steps[0], { kind: 'remove', software_id: id(1), name: 'sw1' })
  t.match(steps[1], { kind: 'deploy', target: b, replaces: null, digest: targetDigest(b) })
})

t.test('a new version or compose file is a deploy that replaces the running version', async (t) => {
  const v1 = target(1, '1')
  t.match(plan({ current: [running(v1)], target: [target(1, '2')], failed: {}, restarts: [] }), [{ kind: 'deploy', replaces: '1' }])
  // Same version label, different compose (a re-upload): still a deploy.
  t.match(plan({ current: [running(v1)], target: [target(1, '1', v1.env, 'other')], failed: {}, restarts: [] }), [{ kind: 'deploy' }])
})

t.test('a release whose deploy was cut short is deployed again, even when it is the one wanted', async (t) => {
  const v1 = target(1, '1')
  t.match(plan({ current: [{ ...running(v1), unfinished: true }], target: [v1], failed: {}, restarts: [] }), [{ kind: 'deploy', target: v1, replaces: '1' }])
  t.match(plan({ current: [{ ...running(v1), unfinished: true }], target: [target(1, '1', { web: { A: '2' }, side: {} })], failed: {}, restarts: [] }), [{ kind: 'deploy' }], 'a deploy, not an environment update')
  t.same(plan({ current: [{ ...running(v1), unfinished: true }], target: [v1], failed: { [v1.software_id]: targetDigest(v1) }, restarts: [] }), [], 'unless it is the release that failed here')
})

t.test('an environment-only change updates just the services whose environment changed', async (t) => {
  const v1 = target(1, '1', { web: { A: '1', B: '2' }, side: { C: '3' } })
  const changed = target(1, '1', { web: { B: '2', A: '1' }, side: { C: '4' } })
  t.same(plan({ current: [running(v1)], target: [changed], failed: {}, restarts: [] }), [{ kind: 'update-env', target: changed, digest: targetDigest(changed), services: ['side'] }])
  const removedVar = target(1, '1', { web: { A: '1' }, side: { C: '3' } })
  t.match(plan({ current: [running(v1)], target: [removedVar], failed: {}, restarts: [] }), [{ kind: 'update-env', services: ['web'] }], 'a removed variable counts')
})

t.test('a target that failed here is not retried until it changes', async (t) => {
  const v1 = target(1, '1')
  const v2 = target(1, '2')
  t.same(plan({ current: [running(v1)], target: [v2], failed: { [id(1)]: targetDigest(v2) }, restarts: [] }), [])
  const v3 = target(1, '3')
  t.match(plan({ current: [running(v1)], target: [v3], failed: { [id(1)]: targetDigest(v2) }, restarts: [] }), [{ kind: 'deploy', target: v3 }])
  const v2env = target(1, '2', { web: { A: 'fixed' }, side: {} })
  t.match(plan({ current: [running(v1)], target: [v2env], failed: { [id(1)]: targetDigest(v2) }, restarts: [] }), [{ kind: 'deploy' }], 'a fixed environment is a new target')
})

t.test('queued restarts go to the stack that runs the container; unknown ones are reported', async (t) => {
  const a = target(1, '1')
  const b = target(2, '1', { db: {} })
  const steps = plan({
    current: [running(a), running(b)],
    target: [a, b],
    failed: {},
    restarts: [
      { id: 'r1', container: 'web' },
      { id: 'r2', container: 'side' },
      { id: 'r3', container: 'web' },
      { id: 'r4', container: 'db' },
      { id: 'r5', container: 'ghost' },
    ],
  })
  t.same(steps, [
    { kind: 'restart', software_id: id(1), name: 'sw1', services: ['side', 'web'] },
    { kind: 'restart', software_id: id(2), name: 'sw2', services: ['db'] },
    { kind: 'unknown-restart', container: 'ghost' },
  ])
})

t.test('the digest covers version, compose and environment, not their order', async (t) => {
  const a = target(1, '1', { web: { A: '1', B: '2' }, side: {} })
  const reordered = target(1, '1', { side: {}, web: { B: '2', A: '1' } })
  t.equal(targetDigest(a), targetDigest(reordered))
  t.not(targetDigest(a), targetDigest(target(1, '1', { web: { A: '1', B: '3' }, side: {} })))
  t.not(targetDigest(a), targetDigest(target(1, '2', a.env, '1')))
})
