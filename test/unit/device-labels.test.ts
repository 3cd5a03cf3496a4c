import t from 'tap'
import fc from 'fast-check'
import { deviceLabel, firstFreeLabel, labelPrefix, suffixedLabel } from '../../server/devices/device-labels.js'
import { deviceIdPattern, subdomainPattern } from '../../server/devices/device-store.js'
import { isLoopbackHost, loopbackProblem } from '../../server/provision/gateway-endpoints.js'

t.test('a name becomes a DNS label by one rule', async (t) => {
  const cases: [string, string][] = [
    ['lab-1', 'lab-1'],
    ['Lab North 1', 'lab-north-1'],
    ['pump_7.b', 'pump-7-b'],
    ['  --Rack  12--  ', 'rack-12'],
    ['Ölpumpe 3', 'lpumpe-3'],
    ['a'.repeat(70), 'a'.repeat(63)],
    [`${'b'.repeat(62)}-c`, 'b'.repeat(62)],
    ['___', ''],
    ['', ''],
  ]
  for (const [name, label] of cases) t.equal(deviceLabel(name), label, JSON.stringify(name))
})

t.test('collisions take the first free -2, -3 … suffix, within 63 characters', async (t) => {
  t.equal(firstFreeLabel('lab-1', new Set()), 'lab-1')
  t.equal(firstFreeLabel('lab-1', new Set(['lab-1'])), 'lab-1-2')
  t.equal(firstFreeLabel('lab-1', new Set(['lab-1', 'lab-1-2', 'lab-1-3'])), 'lab-1-4')
  t.equal(firstFreeLabel('lab-1', new Set(['lab-1-2'])), 'lab-1', 'a taken suffix does not shift the free base')
  const long = 'x'.repeat(63)
  t.equal(suffixedLabel(long, 2), `${'x'.repeat(61)}-2`)
  t.equal(suffixedLabel(long, 12), `${'x'.repeat(60)}-12`)
  t.equal(suffixedLabel(`${'y'.repeat(60)}-zz`, 2), `${'y'.repeat(60)}-2`, 'no double hyphen where the cut falls')
})

t.test('property: labels and their suffixed forms are DNS labels and SSH device ids, and start with labelPrefix', async (t) => {
  let runs = 0
  fc.assert(
    fc.property(fc.string({ maxLength: 120, unit: 'binary' }), fc.integer({ min: 1, max: 10_000_000 }), (name, k) => {
      runs++
      const label = deviceLabel(name)
      if (!label) return true
      const candidate = suffixedLabel(label, k)
      for (const l of [label, candidate]) {
        if (!subdomainPattern.test(l) || !deviceIdPattern.test(l) || l.length > 63) return false
      }
      return candidate.startsWith(labelPrefix(label))
    }),
    { numRuns: 1000 },
  )
  t.comment(`ran ${runs} cases`)
  t.equal(runs, 1000)
})

t.test('property: firstFreeLabel never answers a taken label', async (t) => {
  let runs = 0
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/), fc.integer({ min: 0, max: 40 }), (base, n) => {
      runs++
      const taken = new Set([base, ...Array.from({ length: n }, (_, i) => suffixedLabel(base, i + 2))])
      const free = firstFreeLabel(base, taken)
      return !taken.has(free) && free === suffixedLabel(base, n + 2)
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${runs} cases`)
  t.equal(runs, 300)
})

t.test('loopback hosts are the ones a device would take for itself', async (t) => {
  for (const host of ['localhost', 'LOCALHOST', 'gw.localhost', 'localhost.', '127.0.0.1', '127.8.9.10', '[::1]', '::1', '0.0.0.0', '::', '[::ffff:7f00:1]', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
    t.ok(isLoopbackHost(host), `${host} is loopback`)
  }
  for (const host of ['gw.example.com', '10.0.0.1', '192.168.1.5', '128.0.0.1', 'localhost.example.com', 'mylocalhost', '2001:db8::1', '[fe80::1]', '::ffff:10.0.0.1', '1.2.3.4']) {
    t.notOk(isLoopbackHost(host), `${host} is not`)
  }
  t.equal(loopbackProblem({ url: 'https://gw.example.com', ssh: { host: 'gw.example.com', port: 2222 } }), undefined)
  const both = loopbackProblem({ url: 'http://localhost:8080', ssh: { host: 'localhost', port: 2222 } })
  t.match(both, /the server URL http:\/\/localhost:8080 and the SSH endpoint localhost:2222/)
  t.match(both, /public_url \(EDGETAINER_PUBLIC_URL\)/, 'names the setting')
  t.match(both, /\?allow_loopback=1 \(CLI: --allow-loopback\)/, 'and the override')
  t.match(loopbackProblem({ url: 'https://gw.example.com', ssh: { host: '127.0.0.1', port: 22 } }), /dial the SSH endpoint 127\.0\.0\.1:22,/)
})
