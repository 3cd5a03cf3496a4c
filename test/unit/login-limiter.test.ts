import t from 'tap'
import { createLoginLimiter, limitedSource } from '../../server/auth/login-limiter.js'

t.test('limits count IPv4 addresses and IPv6 /64s', async (t) => {
  const table: [string, string][] = [
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
    ['2001:DB8:0001:0002:ffff::', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::ffff:1.2.3.4:5', '::ffff:1.2.3.4:5'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
    ['unknown', 'unknown'],
  ]
  for (const [address, source] of table) t.equal(limitedSource(address), source, address)
})

t.test('rotating through one IPv6 /64 does not dodge the per-address limit', async (t) => {
  const limiter = createLoginLimiter({ perAddress: { points: 3 }, perUserAtAddress: { points: 100 }, perUser: { points: 100 } })
  for (let i = 1; i <= 3; i++) await limiter.reserve(`user${i}`, `2001:db8:5:6::${i}`)
  await t.rejects(limiter.reserve('user9', '2001:db8:5:6:ffff::9'), { code: 'TOO_MANY_REQUESTS' })
  await t.resolves(limiter.reserve('user9', '2001:db8:5:7::1'), 'the next /64 is another source')
})

t.test('a refused attempt costs nothing; release gives the points back; success keeps other failures', async (t) => {
  const limiter = createLoginLimiter({ perAddress: { points: 2 }, perUserAtAddress: { points: 100 }, perUser: { points: 100 } })
  const first = await limiter.reserve('a', '192.0.2.1')
  await (await limiter.reserve('b', '192.0.2.1')).release()
  const second = await limiter.reserve('c', '192.0.2.1')
  await t.rejects(limiter.reserve('d', '192.0.2.1'), { name: 'TooManyRequestsError', code: 'TOO_MANY_REQUESTS' }, 'two reserved: the address is spent')
  await t.rejects(limiter.reserve('d', '192.0.2.1'), { name: 'TooManyRequestsError', code: 'TOO_MANY_REQUESTS' }, 'refusals did not add to it (still exactly spent)')
  await second.succeeded()
  const third = await limiter.reserve('e', '192.0.2.1')
  t.ok(third, "c's success returned only c's point")
  await t.rejects(limiter.reserve('f', '192.0.2.1'), { name: 'TooManyRequestsError', code: 'TOO_MANY_REQUESTS' }, "a's failure still counts after c's success")
  t.ok(first)
})
