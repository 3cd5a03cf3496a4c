import fc from 'fast-check'
import t from 'tap'
import { parse } from 'yaml'
import { asciiDoubleQuoted, composeEnvironment, environmentOverride, EnvValueError, sameEnv } from '../../agent/deploy/compose-environment.js'
import { composeHash, plan, type TargetStack } from '../../agent/deploy/planner.js'
import { parseInput } from '../../server/api/validation.js'
import { envVarsBody } from '../../server/env/env-var-schema.js'
import { ValidationError } from '../../server/errors.js'
import { carriableValue, HARD_VALUES, hardValueArbitrary } from '../lib/env-values.js'

const LABELS = { 'io.edgetainer.managed': 'true' }

/** What a compose file's loader sees: the YAML parsed, then each string interpolated. */
function loaded(yaml: string, interpolate: (s: string) => string): Record<string, { environment: Record<string, string> }> {
  const services = (parse(yaml) as { services: Record<string, { environment: Record<string, string> }> }).services
  for (const s of Object.values(services)) for (const k of Object.keys(s.environment)) s.environment[k] = interpolate(s.environment[k]!)
  return services
}

/**
 * compose-go `template.DefaultPattern` (template/template.go): `\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)|{(?:(?P<braced>
 * [_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|(?P<invalid>)))`. Anything but an escape would be a substitution (marked here so it shows).
 */
const composeGoPattern = /\$(?:(\$)|([_a-z][_a-z0-9]*)|\{(?:([_a-z][_a-z0-9]*(?::?[-+?](?:.*))?)\}|()))/gi
/** docker-compose 1.29 `TemplateWithDefaults.pattern` (compose/config/interpolation.py), IGNORECASE as string.Template sets it. */
const pythonPattern = /\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*(?::?[-?][^}]*)?)\}|())/gi
const substitute = (pattern: RegExp) => (s: string) => s.replace(pattern, (_m, escaped?: string) => (escaped !== undefined ? '$' : '\u{E000}SUBSTITUTED\u{E000}'))

const onlyPrintableAscii = (yaml: string) => /^[\x20-\x7e\n]*$/.test(yaml)

t.test('hard values parse back exactly, under both interpolation rules, from a printable-ASCII file', async (t) => {
  const vars = Object.fromEntries(HARD_VALUES.map(([name, value]) => [name, value]))
  const yaml = environmentOverride(['web', 'side'], { web: vars }, LABELS)
  t.ok(onlyPrintableAscii(yaml), 'no raw control, NEL/LS/PS or non-ASCII character that PyYAML or go-yaml v3 would refuse or fold')
  t.same(loaded(yaml, (s) => s.replaceAll('$$', '$')).web!.environment, vars, 'the yaml library reads the values back after $$ → $')
  t.same(loaded(yaml, substitute(composeGoPattern)).web!.environment, vars, 'compose v2 (compose-go template) interpolation leaves them as they were')
  t.same(loaded(yaml, substitute(pythonPattern)).web!.environment, vars, 'docker-compose v1 (TemplateWithDefaults) interpolation too')
  t.same(parse(yaml).services.side, { labels: LABELS, environment: {} }, 'a service with no variables still gets its labels')
  t.match(yaml, /"\$\$\{HOME\}"/, '$ is doubled')
})

t.test('property: any string without NUL survives the override, the yaml library and both interpolations', async (t) => {
  let runs = 0
  const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 64 }), hardValueArbitrary).filter(carriableValue)
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/), value, { maxKeys: 8 }), (vars) => {
      runs++
      const yaml = environmentOverride(['web'], { web: vars }, LABELS)
      if (!onlyPrintableAscii(yaml)) return false
      const expected = { ...vars }
      return (
        sameEnv(loaded(yaml, (s) => s.replaceAll('$$', '$')).web!.environment, expected) &&
        sameEnv(loaded(yaml, substitute(composeGoPattern)).web!.environment, expected) &&
        sameEnv(loaded(yaml, substitute(pythonPattern)).web!.environment, expected)
      )
    }),
    { numRuns: 500 },
  )
  t.comment(`ran ${runs} cases`)
  t.ok(runs >= 500)
})

t.test('a scalar: quotes and backslashes escaped, astral characters as one \\U, a lone surrogate as U+FFFD', async (t) => {
  t.equal(asciiDoubleQuoted(`p'ss"\\`), `"p'ss\\"\\\\"`)
  t.equal(asciiDoubleQuoted('\u{1F600}\u2028\u0085\x7f\t'), '"\\U0001f600\\u2028\\x85\\x7f\\x09"')
  t.equal(parse(asciiDoubleQuoted('a\uD800b')), 'a\uFFFDb')
})

t.test('a NUL byte fails by name, without the value; bad names are left out', async (t) => {
  t.throws(() => composeEnvironment('web', { TOKEN: 'sec\0ret' }), new EnvValueError('environment variable TOKEN of service web holds a NUL byte, which no process environment can carry'))
  try {
    environmentOverride(['web'], { web: { TOKEN: 'sec\0ret' } }, LABELS)
  } catch (err) {
    t.notMatch((err as Error).message, /sec/, 'the value is not in the message')
  }
  t.same(composeEnvironment('web', { B: 'plain', 'BAD NAME': 'x', '1X': 'y', 'dotted.name-ok': 'z', A: "it's $HOME" }), { A: "it's $$HOME", B: 'plain', 'dotted.name-ok': 'z' })
})

t.test('environments compare by content', async (t) => {
  t.ok(sameEnv({ A: '1', B: '2' }, { B: '2', A: '1' }))
  t.notOk(sameEnv({ A: '1' }, { A: '1', B: '' }))
  t.notOk(sameEnv({ A: '1' }, { A: '2' }))
  t.ok(sameEnv(undefined, {}))
})

t.test('a release still in the env-file layout is rewritten once, for every service that has an environment', async (t) => {
  const target: TargetStack = { software_id: 's1', name: 'shop', version: '1', compose: 'services: {}', env: { web: { P: "p'ss" }, side: {}, db: { X: '1' } } }
  const current = { software_id: 's1', name: 'shop', version: '1', compose_hash: composeHash(target.compose), env: target.env, services: ['web', 'side', 'db'] }
  t.same(plan({ current: [current], target: [target], failed: {}, restarts: [] }), [], 'the current layout with the same environment: nothing to do')
  t.match(plan({ current: [{ ...current, legacy_env_files: true }], target: [target], failed: {}, restarts: [] }), [{ kind: 'update-env', services: ['db', 'web'] }])
})

t.test('the gateway refuses what no environment can carry: NUL and unpaired surrogates', async (t) => {
  for (const value of ['a\0b', 'a\uD800b', '\uDC00']) {
    t.throws(() => parseInput(envVarsBody, { vars: { V: value } }), ValidationError)
    t.throws(() => parseInput(envVarsBody, { vars: { V: { value, secret: true } } }), ValidationError)
  }
  t.same(parseInput(envVarsBody, { vars: { V: '\u{1F600}' } }).vars.V, { value: '\u{1F600}', secret: false, description: null }, 'a surrogate pair is fine')
})
