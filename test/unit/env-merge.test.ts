import t from 'tap'
import { flattenEnv, mergeEnv, mergeServiceEnv, type MergeLevels } from '../../server/env/merge-env.js'

const v = (value: string, secret = false) => ({ value, secret })

const levels: MergeLevels = {
  softwareAll: { A: v('sw-all'), B: v('sw-all'), C: v('sw-all'), D: v('sw-all'), TOKEN: v('s3cret', true) },
  softwareServices: { web: { B: v('sw-web'), C: v('sw-web'), D: v('sw-web') }, db: { B: v('sw-db') } },
  fleet: { web: { C: v('fleet-web'), D: v('fleet-web'), F: v('fleet-only') }, db: { D: v('fleet-db') } },
  device: { web: { D: v('device-web'), TOKEN: v('plain-now') } },
}

t.test('each level wins over the ones before it, in the DESIGN.md order', async (t) => {
  const web = mergeServiceEnv('web', levels)
  t.same(web.A, { value: 'sw-all', secret: false, source: 'software', overrides: [] }, '1. software, all services')
  t.same(web.B, { value: 'sw-web', secret: false, source: 'software', overrides: ['software'] }, '2. software, this service')
  t.same(web.C, { value: 'fleet-web', secret: false, source: 'fleet', overrides: ['software'] }, '3. fleet')
  t.same(web.D, { value: 'device-web', secret: false, source: 'device', overrides: ['software', 'fleet'] }, '4. device')
  t.same(web.F, { value: 'fleet-only', secret: false, source: 'fleet', overrides: [] }, 'a level may add a variable')
})

t.test('a variable for one container leaves the other containers alone', async (t) => {
  const merged = mergeEnv(['web', 'db', 'cache'], levels)
  t.same(flattenEnv(merged.db!), { A: 'sw-all', B: 'sw-db', C: 'sw-all', D: 'fleet-db', TOKEN: 's3cret' })
  t.same(flattenEnv(merged.cache!), { A: 'sw-all', B: 'sw-all', C: 'sw-all', D: 'sw-all', TOKEN: 's3cret' }, 'only the all-services defaults reach cache')
  t.equal(merged.web!.D!.value, 'device-web')
  t.equal(merged.db!.D!.source, 'fleet', 'the device variable for web did not touch db')
})

t.test('the winning level decides whether a value is secret', async (t) => {
  const merged = mergeEnv(['web', 'db'], levels)
  t.same(merged.db!.TOKEN, { value: 's3cret', secret: true, source: 'software', overrides: [] })
  t.same(merged.web!.TOKEN, { value: 'plain-now', secret: false, source: 'device', overrides: ['software'] })
})

t.test('no levels, no variables; the input is not changed', async (t) => {
  t.same(mergeEnv(['web'], {}), { web: {} })
  const before = JSON.stringify(levels)
  mergeEnv(['web', 'db'], levels)
  t.equal(JSON.stringify(levels), before)
})
