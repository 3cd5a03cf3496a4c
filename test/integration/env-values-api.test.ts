import fc from 'fast-check'
import t from 'tap'
import { dialects } from '../lib/databases.js'
import { deploymentParts } from '../lib/deployment-parts.js'
import { carriableValue, HARD_VALUES } from '../lib/env-values.js'
import { startTestGateway } from '../lib/test-gateway.js'

const compose = 'services:\n  web:\n    image: shop:1\n'

/**
 * The gateway half of "env values arrive byte-exact": what an admin PUTs is
 * what the device resolver hands the agent, plain or secret (encrypted at
 * rest), on both databases; what no environment can carry is a 400.
 */
for (const dialect of dialects) {
  t.test(`env values keep every byte from the API to the device plan on ${dialect}`, async (t) => {
    const gw = await startTestGateway(t, dialect)
    const parts = deploymentParts(gw)
    const token = gw.adminToken
    const { http } = gw
    const software = (await http.post('/api/software', { name: 'shop', docker_compose_yaml: compose }, { token })).body
    const fleet = (await http.post('/api/fleets', { name: 'stores' }, { token })).body
    const device = (await http.post('/api/devices', { name: 'Pump 1', device_id: 'pump-1', fleet_id: fleet.id }, { token })).body
    t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
    const delivered = async () => (await parts.resolver.resolveForDevice(device.id, { revealSecrets: true })).software[0]!.env.web!

    await t.test('hard values, plain and secret, reach the device plan unchanged', async (t) => {
      const vars = Object.fromEntries(HARD_VALUES.map(([name, value], i) => [name, i % 2 ? { value, secret: true } : value]))
      const res = await http.put(`/api/devices/${device.id}/env-vars/web`, { vars }, { token })
      t.equal(res.status, 200, JSON.stringify(res.body).slice(0, 200))
      t.same(await delivered(), Object.fromEntries(HARD_VALUES))
    })

    await t.test('property: any value is stored exactly or refused with a 400 naming it, never a 5xx', async (t) => {
      let runs = 0
      let refused = 0
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('a\0b', '\uD800', 'x\uDFFFy', ''), fc.boolean(), async (random, edge, secret) => {
          runs++
          for (const value of [random, edge + random]) {
            const res = await http.put(`/api/fleets/${fleet.id}/env-vars/web`, { vars: { V: secret ? { value, secret } : value } }, { token })
            if (carriableValue(value)) {
              if (res.status !== 200) return false
              if ((await delivered()).V !== value) return false
            } else {
              refused++
              if (res.status !== 400 || res.body.code !== 'VALIDATION_FAILED' || !/^vars\.V\b/.test(res.body.field)) return t.fail(JSON.stringify(res.body))
            }
          }
          return true
        }),
        { numRuns: 60 },
      )
      t.comment(`ran ${runs} cases, ${refused} values refused`)
      t.ok(refused > 0 && runs >= 60)
      t.equal((await http.get('/healthz')).status, 200, 'the gateway still answers')
    })
  })
}
