import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createEnvCodec } from '../../server/env/env-codec.js'
import { envVarsBody, MAX_VALUE_BYTES, SECRET_MASK, softwareEnvBody } from '../../server/env/env-var-schema.js'
import { parseInput } from '../../server/api/validation.js'
import { ValidationError } from '../../server/errors.js'
import { createSecretBox } from '../../server/secrets/secret-box.js'

const field = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return err instanceof ValidationError ? err.field : `not a ValidationError: ${String(err)}`
  }
  return 'no error'
}

t.test('names are POSIX environment names; the bad one is the field', async (t) => {
  const ok = parseInput(envVarsBody, { vars: { PATH_2: 'a', _x: 'b', lower_case: 'c' } })
  t.same(Object.keys(ok.vars), ['PATH_2', '_x', 'lower_case'])
  t.equal(field(() => parseInput(envVarsBody, { vars: { '2FAST': 'x' } })), 'vars.2FAST')
  t.equal(field(() => parseInput(envVarsBody, { vars: { 'WITH-DASH': 'x' } })), 'vars.WITH-DASH')
  t.equal(field(() => parseInput(envVarsBody, { vars: { 'A=B': 'x' } })), 'vars.A=B')
  t.equal(field(() => parseInput(envVarsBody, { vars: { '': 'x' } })), 'vars', 'an empty name')
  t.equal(field(() => parseInput(envVarsBody, { vars: { ['N'.repeat(300)]: 'x' } })), `vars.${'N'.repeat(300)}`)
})

t.test('values are bounded and typed', async (t) => {
  t.equal(field(() => parseInput(envVarsBody, { vars: { BIG: 'x'.repeat(MAX_VALUE_BYTES + 1) } })), 'vars.BIG')
  t.equal(field(() => parseInput(envVarsBody, { vars: { MULTI: 'é'.repeat(MAX_VALUE_BYTES / 2 + 1) } })), 'vars.MULTI', 'bytes, not characters')
  t.equal(field(() => parseInput(envVarsBody, { vars: { NUL: 'a\0b' } })), 'vars.NUL')
  t.equal(field(() => parseInput(envVarsBody, { vars: { N: 5 } })), 'vars.N')
  t.equal(field(() => parseInput(envVarsBody, { vars: { N: { value: 'x', secret: 'yes' } } })), 'vars.N')
  t.throws(() => parseInput(envVarsBody, { vars: { N: { value: 'x', secret: 'yes' } } }), { message: /^vars\.N: secret: .*expected boolean/ }, 'the message names the inner field')
  t.equal(field(() => parseInput(envVarsBody, { vars: { N: { value: 'x', colour: 'red' } } })), 'vars.N.colour')
  t.equal(field(() => parseInput(envVarsBody, { vars: Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`V${i}`, 'x'])) })), 'vars')
})

t.test('a plain string is shorthand for a non-secret value; software takes per-service sets', async (t) => {
  const body = parseInput(envVarsBody, { vars: { A: 'x', B: { value: 'y', secret: true, description: 'the key' } } })
  t.same(body.vars, { A: { value: 'x', secret: false, description: null }, B: { value: 'y', secret: true, description: 'the key' } })
  const sw = parseInput(softwareEnvBody, { services: { web: { vars: { P: '80' } } } })
  t.same(sw, { vars: {}, services: { web: { vars: { P: { value: '80', secret: false, description: null } } } } })
  t.equal(field(() => parseInput(softwareEnvBody, { services: { 'bad name': { vars: {} } } })), 'services.bad name')
})

t.test('the codec seals secrets, masks them, and keeps a stored one sent back masked', async (t) => {
  const codec = createEnvCodec(createSecretBox(randomBytes(32)))
  const input = parseInput(envVarsBody, { vars: { DB_PASS: { value: 'hunter2', secret: true }, HOST: 'db' } }).vars
  const stored = codec.seal(input, undefined, 'vars')
  t.notMatch(JSON.stringify(stored), /hunter2/, 'no plaintext in the stored form')
  t.equal(stored.HOST!.value, 'db', 'plain values stay readable')
  t.same(codec.mask(stored).DB_PASS, { value: SECRET_MASK, secret: true, description: null })
  t.equal(codec.reveal(stored).DB_PASS!.value, 'hunter2')

  const edit = parseInput(envVarsBody, { vars: { DB_PASS: { value: SECRET_MASK, secret: true, description: 'now documented' }, HOST: 'db2' } }).vars
  const kept = codec.seal(edit, stored, 'vars')
  t.equal(kept.DB_PASS!.value, stored.DB_PASS!.value, 'the masked secret keeps its sealed value')
  t.equal(kept.DB_PASS!.description, 'now documented')
  t.same(codec.changes(stored, kept), [
    { name: 'DB_PASS', change: 'changed', secret: true },
    { name: 'HOST', change: 'changed', secret: false, value: 'db2' },
  ])

  const unmask = parseInput(envVarsBody, { vars: { DB_PASS: SECRET_MASK } }).vars
  t.equal(field(() => codec.seal(unmask, stored, 'vars')), 'vars.DB_PASS', 'a kept secret cannot turn plain (that would reveal it)')
  const nothing = parseInput(envVarsBody, { vars: { NEW: { value: SECRET_MASK, secret: true } } }).vars
  t.equal(field(() => codec.seal(nothing, stored, 'vars')), 'vars.NEW', 'there is no stored value to keep')

  const replaced = codec.seal(parseInput(envVarsBody, { vars: { DB_PASS: { value: 'new-pass', secret: true } } }).vars, stored, 'vars')
  t.equal(codec.reveal(replaced).DB_PASS!.value, 'new-pass', 'a secret is replaced without being read')
  const changes = codec.changes(stored, replaced)
  t.same(changes, [
    { name: 'DB_PASS', change: 'changed', secret: true },
    { name: 'HOST', change: 'removed', secret: false },
  ])
  t.notMatch(JSON.stringify(changes), /new-pass|hunter2/, 'changes never carry secret values')
})
