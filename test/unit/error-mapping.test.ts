import fc from 'fast-check'
import t from 'tap'
import { DatabaseUnavailableError, fromDataError, isConnectionFailure, isDatabaseUnavailable } from '../../server/db/database-errors.js'
import { ValidationError } from '../../server/errors.js'
import { toHttpError } from '../../server/http/error-handler.js'
import { checkStorable, MAX_INPUT_DEPTH } from '../../server/api/validation.js'
import { statusOf } from '../../server/error-codes.js'

/** A server-sent PostgreSQL error as pg raises it: a SQLSTATE, a severity, and text that must never reach a client. */
function pgError(code: string, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error(`internal text for ${code} at relation "users"`), { code, severity: 'ERROR', ...extra })
}

t.test('connection failures and outage SQLSTATEs are 503 DATABASE_UNAVAILABLE', async (t) => {
  for (const code of ['57P01', '57P02', '57P03', '08006', '08001', '53300']) {
    t.ok(isDatabaseUnavailable(pgError(code, { severity: 'FATAL' })), code)
    t.match(toHttpError(pgError(code, { severity: 'FATAL' })), { code: 'DATABASE_UNAVAILABLE' })
  }
  const failures = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
  ]
  for (const err of failures) t.ok(isConnectionFailure(err), `the pool wrapper classifies "${err.message}"`)
  const wrapped = toHttpError(new DatabaseUnavailableError('database unavailable: connect ECONNREFUSED 10.0.0.5:5432'))!
  t.equal(statusOf(wrapped.code), 503)
  t.notMatch(wrapped.message, /10\.0\.0\.5|ECONNREFUSED/, 'the answer never names the database host')
  t.notOk(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'a refused connection elsewhere is not the database')
  t.notOk(isConnectionFailure(pgError('23505')), 'a query error is not an outage')
})

t.test('data errors a request can provoke are 400/409 naming at most the field', async (t) => {
  const cases: [string, number][] = [
    ['22P02', 400],
    ['22001', 400],
    ['22003', 400],
    ['22021', 400],
    ['23502', 400],
    ['23514', 400],
    ['23503', 409],
    ['23505', 409],
  ]
  for (const [code, status] of cases) {
    const answer = fromDataError(pgError(code, { column: 'name' }))!
    t.equal(statusOf(answer.code), status, code)
    t.equal(answer.field, 'name', `${code} names the field`)
    t.notMatch(answer.message, /internal text|relation/, `${code} leaks nothing of the server's text`)
  }
  t.equal(fromDataError(pgError('23505', { detail: 'Key (subdomain)=(pump) already exists.' }))!.field, 'subdomain', 'the field comes from the key when there is no column')
  t.equal(fromDataError(pgError('XX000')), undefined, 'an internal error stays a 500')
  t.equal(fromDataError(Object.assign(new Error('x'), { code: '23505' })), undefined, 'only errors the server sent (they have a severity)')
})

t.test('request framing errors are 4xx with codes', async (t) => {
  t.match(toHttpError(Object.assign(new Error('x'), { type: 'entity.parse.failed' })), { code: 'INVALID_JSON' })
  t.match(toHttpError(Object.assign(new Error('x'), { type: 'entity.too.large' })), { code: 'BODY_TOO_LARGE' })
  t.match(toHttpError(Object.assign(new Error('x'), { type: 'request.aborted' })), { code: 'INVALID_BODY' })
  t.match(toHttpError(new URIError('URI malformed')), { code: 'INVALID_PATH' })
  t.equal(toHttpError(new TypeError('a bug')), undefined, 'a bug is not dressed up as a client error')
})

t.test('NUL anywhere in input is refused with the field named', async (t) => {
  let runs = 0
  const keyPath = fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 5 })
  fc.assert(
    fc.property(keyPath, fc.string(), fc.string(), (keys, before, after) => {
      runs++
      let input: unknown = `${before}\u0000${after}`
      for (const key of [...keys].reverse()) input = { [key]: input }
      try {
        checkStorable(input)
        return false
      } catch (err) {
        return err instanceof ValidationError && err.field === keys.join('.') && /NUL/.test(err.message)
      }
    }),
  )
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
      runs++
      let refused = false
      try {
        checkStorable(value)
      } catch {
        refused = true
      }
      return refused === (JSON.stringify(value) ?? '').includes('\\u0000')
    }),
  )
  t.comment(`ran ${runs} cases`)
  t.throws(() => checkStorable({ ['a\u0000']: 1 }), /field names/, 'keys too')
})

t.test('nesting beyond the limit is refused without exhausting the stack', async (t) => {
  let deep: unknown = 'x'
  for (let i = 0; i < 200_000; i++) deep = [deep]
  t.throws(() => checkStorable({ v: deep }), new RegExp(`deeper than ${MAX_INPUT_DEPTH}`))
  let ok: unknown = 'x'
  for (let i = 0; i < MAX_INPUT_DEPTH - 1; i++) ok = { a: ok }
  t.doesNotThrow(() => checkStorable(ok), 'what our schemas need passes')
})
