import t from 'tap'
import {
  OWASP_SCRYPT_COST,
  createPasswordHasher,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  verifyPassword,
  PasswordCheckBusyError,
} from '../../server/auth/passwords.js'

// Tests of the bound and of parsing use a cheap cost; the production default is checked on its own, once.
const CHEAP = { N: 2 ** 10, r: 8, p: 1 }

t.test('the production default meets OWASP scrypt minimum (N=2^17, r=8, p=1), stored in the hash', async (t) => {
  t.ok(OWASP_SCRYPT_COST.N >= 2 ** 17 && OWASP_SCRYPT_COST.r >= 8 && OWASP_SCRYPT_COST.p >= 1, 'the constant')
  const hasher = createPasswordHasher()
  t.same(hasher.cost, { N: 131072, r: 8, p: 1 }, 'a hasher with no options uses it')
  const stored = await hasher.hash('correct horse')
  t.match(stored, /^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/, 'the parameters travel in the hash')
  t.same(parsePasswordHash(stored)?.cost, { N: 131072, r: 8, p: 1 })
  t.ok(await hasher.verify('correct horse', stored), 'the right password verifies')
  t.notOk(await hasher.verify('correct horsE', stored), 'a wrong one does not')
  t.notOk(hasher.needsRehash(stored), 'a fresh hash needs no rehash')
  t.match(await hashPassword('x'), /^scrypt\$131072\$8\$1\$/, 'hashPassword (user store) defaults to it too')
  t.match(await hasher.decoyHash(), /^scrypt\$131072\$/, 'the decoy costs the same as a real hash')
})

t.test('weaker hashes need a rehash; old N=2^15 hashes still verify', async (t) => {
  const old = await hashPassword('pw', { N: 2 ** 15, r: 8, p: 1 })
  t.ok(await verifyPassword('pw', old), 'the old hash verifies')
  t.ok(needsRehash(old), 'N below 2^17')
  t.ok(needsRehash(await hashPassword('pw', { N: 2 ** 17, r: 4, p: 1 })), 'r below 8')
  t.ok(needsRehash('bcrypt$whatever'), 'an unreadable hash')
  t.notOk(needsRehash(await hashPassword('pw', { N: 2 ** 18, r: 8, p: 1 })), 'a stronger hash is left alone')
  t.notOk(needsRehash(await hashPassword('pw', CHEAP), CHEAP), 'the configured cost is the bar')
})

t.test('hostile stored hashes are refused, never computed', async (t) => {
  const salt = 'c2FsdHNhbHRzYWx0c2FsdA'
  for (const stored of [
    '',
    'scrypt',
    `scrypt$${2 ** 30}$8$1$${salt}$AAAA`, // 128 GiB of memory
    `scrypt$1000$8$1$${salt}$AAAA`, // N not a power of two
    `scrypt$1024$64$1$${salt}$AAAA`,
    `scrypt$1024$8$99$${salt}$AAAA`,
    `scrypt$1024$8$1$$AAAA`,
    `scrypt$1024$8$1$${salt}$`,
    `scrypt$1024$8$1$${salt}$AAAA$extra`,
    `scrypt$1e3$8$1$${salt}$AAAA`,
    `scrypt$-1024$8$1$${salt}$AAAA`,
  ]) {
    t.equal(parsePasswordHash(stored), undefined, `refused: ${stored.slice(0, 40)}`)
    t.equal(await verifyPassword('pw', stored), false)
  }
})

t.test('concurrent hashing is bounded: slots plus a bounded queue, the rest refused with LOGIN_BUSY', async (t) => {
  const hasher = createPasswordHasher({ cost: CHEAP, maxConcurrent: 2, maxQueued: 3 })
  const stored = await hashPassword('pw', CHEAP)
  const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => hasher.verify('pw', stored)))
  const done = outcomes.filter((o) => o.status === 'fulfilled')
  const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
  t.equal(done.length, 5, '2 running + 3 queued are admitted')
  t.ok(done.every((o) => o.status === 'fulfilled' && o.value === true), 'and verify')
  t.equal(refused.length, 7, 'the rest are refused at once')
  for (const r of refused) {
    t.ok(r.reason instanceof PasswordCheckBusyError)
    t.match(r.reason, { code: 'LOGIN_BUSY', retryAfterSeconds: 1, message: /busy checking other passwords/ })
  }
  t.ok(await hasher.verify('pw', stored), 'slots come back once the burst is over')
})
