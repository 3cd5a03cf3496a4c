import t from 'tap'
import fc from 'fast-check'
import { argvForAudit } from '../../server/api/routes/device-runtime-routes.js'

t.test('agent commands are audited with their whole argv, secret values redacted', async (t) => {
  t.same(argvForAudit(['docker', 'logs', '--tail', '50', 'web']), ['docker', 'logs', '--tail', '50', 'web'], 'ordinary arguments kept in full')
  t.same(argvForAudit(['login', '--password', 'hunter2', '--user', 'bob']), ['login', '--password', '[redacted]', '--user', 'bob'])
  t.same(argvForAudit(['cli', '--api-token=abc', '-p', 'x']), ['cli', '--api-token=[redacted]', '-p', 'x'])
  t.same(argvForAudit(['env', 'DB_PASSWORD=s3cret', 'MODE=fast', 'run']), ['env', 'DB_PASSWORD=[redacted]', 'MODE=fast', 'run'])
  t.same(argvForAudit(['curl', '-H', 'x', '--secret', 'y']), ['curl', '-H', 'x', '--secret', '[redacted]'])

  // Property: same length, order kept; a value after a secret-named option never appears.
  let cases = 0
  fc.assert(
    fc.property(fc.array(fc.string(), { maxLength: 12 }), fc.string({ minLength: 1 }), (argv, secret) => {
      cases++
      const withSecret = [...argv, '--password', `Z${secret}`]
      const out = argvForAudit(withSecret)
      return out.length === withSecret.length && out[out.length - 1] === '[redacted]'
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${cases} cases`)
})
