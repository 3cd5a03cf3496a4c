import fc from 'fast-check'
import t from 'tap'
import { ownStateChange } from '../../agent/docker/container-events.js'
import { MANAGED_LABEL } from '../../agent/docker/containers.js'

const owner = '3f1c0e52-6a1b-4d8e-9c57-0b8a3f6d2e11'
const event = (Action: string, label: unknown = owner, Type = 'container') =>
  JSON.stringify({ status: Action, id: 'abc', Type, Action, Actor: { ID: 'abc', Attributes: { [MANAGED_LABEL]: label, name: 'et-app-web-1' } }, scope: 'local', time: 1, timeNano: 1 })

t.test('state changes of own containers wake the watch, with their action', async (t) => {
  for (const action of ['create', 'start', 'restart', 'die', 'destroy', 'pause', 'unpause', 'rename', 'oom', 'kill', 'stop', 'health_status: healthy', 'health_status: unhealthy']) {
    t.same(ownStateChange(event(action), owner), { action, id: 'abc' }, action)
  }
  t.same(ownStateChange(event('start', 'true'), owner), { action: 'start', id: 'abc' }, "an earlier agent's `true` label is the agent's too")
})

t.test('nothing else does', async (t) => {
  t.equal(ownStateChange(event('start', 'another-device'), owner), undefined, "another agent's container")
  t.equal(ownStateChange(event('start', `${owner} x`), owner), undefined, 'a look-alike label value')
  t.equal(ownStateChange(event('start', null), owner), undefined, 'an empty managed label')
  t.equal(ownStateChange(JSON.stringify({ Type: 'container', Action: 'start', Actor: { Attributes: { name: 'x' } } }), owner), undefined, 'no managed label')
  for (const action of ['exec_create: sh', 'exec_start: sh', 'exec_die', 'attach', 'resize', 'top', 'copy']) {
    t.equal(ownStateChange(event(action), owner), undefined, `${action}: a terminal session or a look changes no state`)
  }
  t.equal(ownStateChange(event('start', owner, 'network'), owner), undefined, 'not a container event')
  for (const line of ['', 'not json', 'null', '[]', '"start"', '{"Type":"container","Action":7}', '{"Type":"container","Action":"start","Actor":null}', '{"Type":"container","Action":"start","Actor":{"Attributes":"x"}}']) {
    t.equal(ownStateChange(line, owner), undefined, JSON.stringify(line))
  }
})

t.test('fuzz: any line gives a known action of an own container or nothing, and never throws', async (t) => {
  const jsonish = fc.oneof(
    fc.string({ maxLength: 200, unit: 'binary' }),
    fc.json({ maxDepth: 4 }),
    fc.record({ Type: fc.oneof(fc.constant('container'), fc.string()), Action: fc.oneof(fc.constantFrom('start', 'die', 'exec_start: sh'), fc.string(), fc.integer()), Actor: fc.anything() }).map((e) => JSON.stringify(e)),
    fc.tuple(fc.string(), fc.oneof(fc.constant(owner), fc.constant('true'), fc.string(), fc.anything())).map(([action, label]) => event(action, label)),
  )
  fc.assert(
    fc.property(jsonish, (line) => {
      const change = ownStateChange(line, owner)
      if (change === undefined) return true
      const parsed = JSON.parse(line)
      return (
        parsed.Type === 'container' &&
        parsed.Action === change.action &&
        [owner, 'true'].includes(parsed.Actor.Attributes[MANAGED_LABEL]) &&
        !change.action.startsWith('exec_') &&
        typeof change.id === 'string'
      )
    }),
    { numRuns: 2000 },
  )
})
