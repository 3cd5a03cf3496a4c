import t from 'tap'
import { hashPassword } from '../../server/auth/passwords.js'
import { ADMIN_PASSWORD, startTestGateway, TEST_SCRYPT_COST, type TestGateway } from '../lib/test-gateway.js'

/** A limit the first test does not reach, for the keys it is not about. */
const HIGH = { points: 1000, windowSeconds: 600 }

function login(gw: TestGateway, username: string, password: string, from?: string) {
  return gw.http.post('/api/auth/login', { username, password }, from ? { headers: { 'x-forwarded-for': from } } : {})
}

async function auditRows(gw: TestGateway, action: string): Promise<any[]> {
  const res = await gw.http.get(`/api/audit?action=${action}&limit=200`, { token: gw.adminToken })
  if (res.status !== 200) throw new Error(`audit read failed: ${res.status}`)
  return res.body.items
}

t.test('EDGETAINER_TRUST_PROXY=false: rotating X-Forwarded-For does not dodge the per-address limit', async (t) => {
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_TRUST_PROXY: 'false' },
    start: { loginLimit: { perAddress: { points: 3, windowSeconds: 600 }, perUserAtAddress: HIGH, perUser: HIGH } },
  })
  for (let i = 0; i < 3; i++) {
    const res = await login(gw, `ghost${i}`, 'wrong', `203.0.113.${i + 1}`)
    t.equal(res.status, 401, `failure ${i + 1} is a plain 401`)
  }
  const blocked = await login(gw, 'admin', ADMIN_PASSWORD, '203.0.113.99')
  t.equal(blocked.status, 429, 'a fresh X-Forwarded-For and even the right password are refused')
  t.equal(blocked.body.code, 'TOO_MANY_REQUESTS')
  t.match(blocked.body.error, /too many failed logins/)
  t.ok(Number(blocked.headers.get('retry-after')) > 0, 'Retry-After says when to come back')
})

/**
 * Limits: 4 failures per address, 2 per user name at an address, 4 per user name; 1 check at a time plus 1 queued.
 * trust_proxy 1 lets each scenario use addresses of its own through X-Forwarded-For, and names of its own.
 */
function limitedGateway(t: Parameters<typeof startTestGateway>[0], cost?: typeof TEST_SCRYPT_COST) {
  return startTestGateway(t, 'postgres', {
    env: { EDGETAINER_TRUST_PROXY: '1' },
    start: {
      loginLimit: { perAddress: { points: 4, windowSeconds: 600 }, perUserAtAddress: { points: 2, windowSeconds: 600 }, perUser: { points: 4, windowSeconds: 600 } },
      // No cost: the OWASP default. The limits are counted before any hash, so most scenarios use the cheap test cost.
      passwordHashing: { maxConcurrent: 1, maxQueued: 1, ...(cost ? { cost } : {}) },
    },
  })
}

t.test('login limits on a gateway behind one proxy (trust_proxy: 1)', async (t) => {
  const gw = await limitedGateway(t, TEST_SCRYPT_COST)
  const passwords: Record<string, string> = {}
  for (const name of ['alice', 'carol']) {
    passwords[name] = `${name}-password-123`
    t.equal((await gw.http.post('/api/users', { username: name, password: passwords[name], role: 'viewer' }, { token: gw.adminToken })).status, 201)
  }

  await t.test("a success clears that user's count at that address, never the address's count", async (t) => {
    const A = '100.64.1.1'
    t.equal((await login(gw, 'alice', 'wrong', A)).status, 401)
    t.equal((await login(gw, 'ghost', 'wrong', A)).status, 401)
    t.equal((await login(gw, 'ghost', 'wrong', A)).status, 401, "ghost's count at this address is spent")
    t.equal((await login(gw, 'ghost', 'wrong', A)).status, 429, 'ghost is refused here')
    t.equal((await login(gw, 'carol', passwords.carol!, A)).status, 200, 'another account logs in from the same address')
    t.equal((await login(gw, 'ghost', 'wrong', A)).status, 429, "another account's success does not reset ghost's count")
    t.equal((await login(gw, 'alice', passwords.alice!, A)).status, 200, 'alice logs in')
    t.equal((await login(gw, 'alice', 'wrong', A)).status, 401, "alice's own success cleared alice's count; the address has one failure left")
    t.equal((await login(gw, 'someone', 'wrong', A)).status, 429, 'the address count survived both successes: 4 failures spend it')
  })

  await t.test('30 parallel wrong passwords: at most N are checked, the rest refused before any check', async (t) => {
    const N = 2 // per user name at one address
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login(gw, 'dave', `wrong-${i}`, '100.64.2.1')))
    const checked = answers.filter((r) => r.status === 401).length
    const refused = answers.filter((r) => r.status === 429 && r.body.code === 'TOO_MANY_REQUESTS').length
    t.comment(`401: ${checked}, 429: ${refused}`)
    t.equal(checked, N, `exactly ${N} passwords were checked`)
    t.equal(refused, 30 - N, 'every other attempt was refused unchecked')
    const failures = (await auditRows(gw, 'auth.login_failed')).filter((r) => r.details?.username === 'dave')
    t.equal(failures.length, N, 'the audit log saw exactly the checked attempts')
  })

  await t.test('a distributed guesser spends the per-user limit, yet the user still gets in from a recent address', async (t) => {
    const home = '198.51.100.7'
    t.equal((await login(gw, 'carol', passwords.carol!, home)).status, 200, 'carol logs in from home: a known address')
    for (let i = 1; i <= 4; i++) t.equal((await login(gw, 'carol', 'guess', `203.0.113.${i}`)).status, 401, `guess ${i} from a fresh address`)
    t.equal((await login(gw, 'carol', 'guess', '203.0.113.50')).status, 429, 'the fifth, from yet another address, is refused')
    t.equal((await login(gw, 'carol', passwords.carol!, '203.0.113.51')).status, 429, 'the right password from an unknown address is refused too')
    t.equal((await login(gw, 'carol', passwords.carol!, home)).status, 200, 'carol from a recently used address is not locked out')
  })

  await t.test('unknown user names are limited exactly like real ones (no existence oracle)', async (t) => {
    for (let i = 1; i <= 4; i++) t.equal((await login(gw, 'nobody', 'guess', `192.0.2.${i}`)).status, 401)
    t.equal((await login(gw, 'nobody', 'guess', '192.0.2.50')).status, 429)
  })

  await t.test('one user name at one address: tighter, and other users there are unaffected', async (t) => {
    const office = '100.64.3.1'
    t.equal((await login(gw, 'bob', 'wrong', office)).status, 401)
    t.equal((await login(gw, 'bob', 'wrong', office)).status, 401)
    t.equal((await login(gw, 'bob', 'wrong', office)).status, 429, 'bob is refused at the office after 2')
    t.equal((await login(gw, 'alice', passwords.alice!, office)).status, 200, 'alice, behind the same address, logs in')
    t.equal((await login(gw, 'bob', 'wrong', '100.64.3.2')).status, 401, 'bob from elsewhere is still checked')
  })

  await t.test('auth.login and auth.login_failed, with the user name and address, never the password', async (t) => {
    t.equal((await login(gw, 'admin', 'hunter2-not-the-password', '192.0.2.44')).status, 401)
    t.equal((await login(gw, 'ghost\u0007\u202e', 'hunter3-not-the-password', '192.0.2.45')).status, 401, 'control characters in a name are a plain 401')
    const nul = await login(gw, 'ghost\u0000', 'hunter3-not-the-password', '192.0.2.47')
    t.equal(nul.status, 400, 'a NUL no database can store is refused at the edge, naming the field')
    const half = await login(gw, 'ghost\ud800', 'hunter3-not-the-password', '192.0.2.48')
    t.equal(half.status, 400, 'so is an unpaired surrogate, which has no UTF-8 form (every API input refuses it)')
    t.match(half.body, { code: 'VALIDATION_FAILED', field: 'username' })
    t.equal((await login(gw, 'admin', ADMIN_PASSWORD, '192.0.2.46')).status, 200)
    const failed = await auditRows(gw, 'auth.login_failed')
    const admin = failed.find((r) => r.details.username === 'admin')
    t.match(admin, { actor: 'admin', actor_user_id: null, target_type: 'user', ip_address: '192.0.2.44', details: { reason: 'wrong_password' } })
    t.ok(admin?.target_id, 'the targeted account is named')
    const ghost = failed.find((r) => r.ip_address === '192.0.2.45')
    t.match(ghost, { target_id: null, details: { username: 'ghost\ufffd\u202e', reason: 'unknown_user' } }, 'the name is stored printable')
    const ok = (await auditRows(gw, 'auth.login')).find((r) => r.ip_address === '192.0.2.46')
    t.match(ok, { actor: 'admin', target_type: 'user' })
    t.ok(ok?.actor_user_id, 'the success names its user')
    const all = JSON.stringify((await gw.http.get('/api/audit?limit=200', { token: gw.adminToken })).body)
    t.notMatch(all, /hunter[23]|admin-password-for-tests|alice-password|carol-password/, 'no password anywhere in the audit log')
  })
})

/** At OWASP cost (each start costs two such hashes): a check lasts long enough for a burst to find the slot taken. */
t.test('password checks at OWASP cost', async (t) => {
  const gw = await limitedGateway(t)

  await t.test('password checks are bounded: a burst beyond slot and queue gets 429 LOGIN_BUSY and costs no limiter points', async (t) => {
    const B = '100.64.4.1'
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => login(gw, `ghost${i}`, 'wrong', B)))
    const count = (status: number, code?: string) => answers.filter((r) => r.status === status && (!code || r.body.code === code)).length
    t.comment(answers.map((r) => `${r.status} ${r.body.code}`).join(', '))
    t.equal(count(401), 2, 'one running check and one queued check')
    // Which limit refuses the other six depends on arrival order: a busy refusal hands its point back at once.
    t.equal(count(429, 'LOGIN_BUSY') + count(429, 'TOO_MANY_REQUESTS'), 6, 'the other six are refused unchecked')
    t.ok(count(429, 'LOGIN_BUSY') >= 1, 'at least one because the gateway is busy')
    const busy = answers.find((r) => r.body.code === 'LOGIN_BUSY')
    t.match(busy?.body.error, /busy checking other passwords/)
    t.equal(busy?.headers.get('retry-after'), '1')
    t.equal((await login(gw, 'ghost', 'wrong', B)).status, 401, 'a busy refusal gave its point back (3rd failure)')
    t.equal((await login(gw, 'ghost', 'wrong', B)).status, 401, '4th failure')
    t.equal((await login(gw, 'ghost', 'wrong', B)).status, 429, 'then the address is spent')
  })

  await t.test('a weaker stored hash is replaced at OWASP cost on the next good login', async (t) => {
    const { db } = gw.server.database
    const weak = await hashPassword(ADMIN_PASSWORD, { N: 2 ** 14, r: 8, p: 1 })
    await db.updateTable('users').set({ password_hash: weak }).where('username', '=', 'admin').execute()
    const stored = async () => (await db.selectFrom('users').select('password_hash').where('username', '=', 'admin').executeTakeFirstOrThrow()).password_hash
    t.equal((await login(gw, 'admin', 'wrong-password')).status, 401)
    t.equal(await stored(), weak, 'a failed login does not rehash')
    t.equal((await login(gw, 'admin', ADMIN_PASSWORD)).status, 200, 'the weak hash still verifies')
    const strong = await stored()
    t.not(strong, weak, 'it was replaced')
    t.match(strong, /^scrypt\$131072\$8\$1\$/, 'at N=2^17, r=8, p=1')
    t.equal((await login(gw, 'admin', ADMIN_PASSWORD)).status, 200, 'the new hash verifies')
    t.equal(await stored(), strong, 'and is not rehashed again')
  })
})
