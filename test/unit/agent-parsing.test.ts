import t from 'tap'
import { declaredServices } from '../../agent/deploy/compose-executor.js'
import { projectName } from '../../agent/deploy/stack-store.js'
import { timestampNs } from '../../agent/status/log-collector.js'

t.test("docker's log timestamps compare by value, whatever their precision", async (t) => {
  t.equal(timestampNs('2026-01-01T00:00:01Z'), 1767225601000000000n)
  t.equal(timestampNs('2026-01-01T00:00:01.5Z'), 1767225601500000000n)
  t.equal(timestampNs('2026-01-01T00:00:01.000000007Z'), 1767225601000000007n)
  t.ok(timestampNs('2026-01-01T00:00:01.1Z')! > timestampNs('2026-01-01T00:00:01.09999Z')!, 'trailing zeros dropped by docker do not break order')
  t.equal(timestampNs('yesterday'), undefined)
})

t.test('compose files name their services; what is not a compose file says why', async (t) => {
  t.same(declaredServices('services:\n  web:\n    image: x\n  db:\n    image: y\n'), ['web', 'db'])
  t.throws(() => declaredServices('services: ['), /invalid compose file/)
  t.throws(() => declaredServices('version: "3"\n'), /declares no services/)
  t.throws(() => declaredServices('services:\n  "../x":\n    image: y\n'), /bad service name/)
})

t.test('project names are compose-safe and keep similar software apart', async (t) => {
  t.equal(projectName('My Shop!', '0a1b2c3d-0000-4000-8000-000000000000'), 'et-my-shop-0a1b2c')
  t.not(projectName('my shop', '0a1b2c3d-0000-4000-8000-000000000000'), projectName('my-shop', '9f8e7d6c-0000-4000-8000-000000000000'))
  t.match(projectName('', 'ffffffff-0000-4000-8000-000000000000'), /^et-software-ffffff$/)
})
