import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import { z } from 'zod'
import { loadConfig, ConfigError } from '../../server/config/load-config.js'
import { configSchema, strictBoolean } from '../../server/config/config-schema.js'

function yamlFile(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'et-cfg-')), 'edgetainer.yaml')
  writeFileSync(file, text)
  return file
}

t.test('defaults give a working config with no file and no environment', async (t) => {
  const c = loadConfig({ env: {} })
  t.equal(c.httpPort, 8080)
  t.equal(c.httpsPort, 8443)
  t.equal(c.sshPort, 2222)
  t.equal(c.baseDomain, 'localhost')
  t.equal(c.consoleHost, 'localhost', 'console host defaults to the base domain')
  t.equal(c.databaseUrl, undefined, 'embedded PGlite by default')
  t.equal(c.publicUrl, 'http://localhost:8080')
  t.same(c.sshPortRange, { start: 20000, end: 29999 })
  t.ok(Object.isFrozen(c), 'frozen')
})

t.test('YAML values, overridden by environment variables', async (t) => {
  const file = yamlFile('http_port: 9000\nbase_domain: Fleet.Example.com\nacme:\n  email: ops@example.com\n')
  const c = loadConfig({ file, env: { EDGETAINER_HTTP_PORT: '9100', EDGETAINER_ACME_DIRECTORY: 'https://acme.example/dir' } })
  t.equal(c.httpPort, 9100, 'env wins over YAML')
  t.equal(c.baseDomain, 'fleet.example.com', 'host names are lower-cased')
  t.equal(c.consoleHost, 'fleet.example.com')
  t.same(c.acme, { email: 'ops@example.com', directory: 'https://acme.example/dir' }, 'nested keys merge')
})

t.test('bad values name the key', async (t) => {
  t.throws(() => loadConfig({ env: { EDGETAINER_HTTP_PORT: 'eighty' } }), { name: 'ConfigError', message: /EDGETAINER_HTTP_PORT \(http_port\)/ })
  t.throws(() => loadConfig({ file: yamlFile('ssh_port: 70000\n'), env: {} }), { message: /ssh_port/ })
  t.throws(() => loadConfig({ file: yamlFile('htp_port: 1\n'), env: {} }), { message: /unknown config key: htp_port/ })
  t.throws(() => loadConfig({ file: yamlFile('ssh_port_range: 100-50\n'), env: {} }), { message: /ssh_port_range/ })
  t.throws(() => loadConfig({ env: { DATABASE_URL: 'not a url' } }), { message: /DATABASE_URL/ })
  t.throws(() => loadConfig({ file: yamlFile('http_port: [1\n'), env: {} }), { message: /not valid YAML/ })
  t.throws(() => loadConfig({ file: '/nonexistent/edgetainer.yaml', env: {} }), ConfigError)
  t.throws(() => loadConfig({ file: yamlFile('- a\n- b\n'), env: {} }), { message: /mapping/ })
})

t.test('strict booleans: a table of inputs', async (t) => {
  const schema = z.object({ flag: strictBoolean(false) })
  const accepted: [unknown, boolean][] = [
    [true, true], [false, false], [1, true], [0, false],
    ['true', true], ['TRUE', true], [' yes ', true], ['on', true], ['1', true], ['On', true],
    ['false', false], ['False', false], ['no', false], ['off', false], ['0', false], ['OFF', false],
    [undefined, false],
  ]
  for (const [input, expected] of accepted) t.equal(schema.parse({ flag: input }).flag, expected, `${JSON.stringify(input)} → ${expected}`)
  t.equal(z.object({ flag: strictBoolean(true) }).parse({}).flag, true, 'the default applies when unset')
  const refused: unknown[] = ['', 'ture', 'y', 'n', 'enabled', 'nope', '2', '-1', 2, 0.5, null, [], {}, ['true']]
  for (const input of refused) {
    const result = schema.safeParse({ flag: input })
    t.notOk(result.success, `${JSON.stringify(input)} is refused`)
    if (!result.success) t.match(result.error.issues[0]!.message, /must be true or false/)
  }
})

/** Every boolean-shaped config key must use strictBoolean: zod's coerce.boolean reads "false" as true. */
function coercedBooleanPaths(schema: unknown, at: string[] = []): string[] {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def
  if (!def) return []
  if (def.type === 'boolean' && def.coerce) return [at.join('.')]
  if (def.type === 'object') {
    return Object.entries(def.shape as Record<string, unknown>).flatMap(([key, inner]) => coercedBooleanPaths(inner, [...at, key]))
  }
  return ['innerType', 'in', 'out', 'schema'].flatMap((k) => (def[k] ? coercedBooleanPaths(def[k], at) : []))
}

t.test('no config key uses coerced booleans', async (t) => {
  t.same(coercedBooleanPaths(configSchema), [], 'every boolean setting parses strictly')
  t.same(coercedBooleanPaths(z.object({ a: z.object({ b: z.coerce.boolean().default(false) }) })), ['a.b'], 'the check itself finds one')
})

t.test('EDGETAINER_TRUST_PROXY=false turns proxy trust off', async (t) => {
  for (const off of ['false', 'FALSE', 'no', 'off', '0']) t.equal(loadConfig({ env: { EDGETAINER_TRUST_PROXY: off } }).trustProxy, false, off)
  t.equal(loadConfig({ env: {} }).trustProxy, false, 'off by default')
  t.equal(loadConfig({ file: yamlFile('trust_proxy: false\n'), env: {} }).trustProxy, false, 'YAML false')
})

t.test('trust_proxy forms: hop count or address/CIDR list', async (t) => {
  const env = (v: string) => loadConfig({ env: { EDGETAINER_TRUST_PROXY: v } }).trustProxy
  const yaml = (v: string) => loadConfig({ file: yamlFile(`trust_proxy: ${v}\n`), env: {} }).trustProxy
  t.equal(env('1'), 1, 'env 1 is one hop')
  t.equal(env('2'), 2)
  t.equal(yaml('1'), 1, 'YAML number')
  t.equal(yaml('0'), false, 'zero hops is off')
  t.same(env('10.0.0.0/8, 127.0.0.1'), ['10.0.0.0/8', '127.0.0.1'], 'comma-separated CIDRs and addresses')
  t.same(env('loopback,fd00::/8'), ['loopback', 'fd00::/8'], 'named ranges and IPv6')
  t.same(yaml('[10.1.2.3, 192.168.0.0/16, uniquelocal]'), ['10.1.2.3', '192.168.0.0/16', 'uniquelocal'], 'a YAML list')
  t.same(yaml('"172.16.0.0/12"'), ['172.16.0.0/12'], 'a single CIDR')
  t.ok(Object.isFrozen(env('127.0.0.1')), 'the list is frozen')

  const refuses = (load: () => unknown, message: RegExp, why: string) => t.throws(load, { name: 'ConfigError', message }, why)
  refuses(() => env('true'), /EDGETAINER_TRUST_PROXY \(trust_proxy\): true would trust every X-Forwarded-For hop.*hop count/, 'true is refused with advice')
  refuses(() => env('yes'), /EDGETAINER_TRUST_PROXY.*would trust every/, 'yes too')
  refuses(() => yaml('true'), /trust_proxy: true would trust every/, 'YAML true')
  refuses(() => env('33'), /hop count must be a whole number from 1 to 32/, 'absurd hop counts')
  refuses(() => yaml('1.5'), /hop count must be a whole number/, 'fractions')
  refuses(() => yaml('-1'), /hop count/, 'negative')
  refuses(() => env('10.0.0.0/33'), /"10.0.0.0\/33" is not an IP address, a CIDR range/, 'prefix too long')
  refuses(() => env('10.0.0.0/255.0.0.0'), /not an IP address/, 'netmask form')
  refuses(() => env('proxy.example.com'), /"proxy.example.com" is not an IP address/, 'host names')
  refuses(() => env('127.0.0.1,,10.0.0.1'), /"" is not an IP address/, 'empty entries')
  refuses(() => env('127.0.0.1\u0000'), /is not an IP address/, 'NUL')
  refuses(() => yaml('[1, 2]'), /1 is not an IP address/, 'numbers in a list')
  refuses(() => yaml('[]'), /must be false, a hop count/, 'an empty list')
  refuses(() => yaml('{a: 1}'), /must be false, a hop count/, 'a mapping')
})

t.test('the trust_proxy forms reach express as it understands them', async (t) => {
  const trustFn = (value: string) => {
    const trust = loadConfig({ env: { EDGETAINER_TRUST_PROXY: value } }).trustProxy
    const app = express()
    app.set('trust proxy', typeof trust === 'object' ? [...trust] : trust)
    return app.get('trust proxy fn') as (address: string, hop: number) => boolean
  }
  const off = trustFn('false')
  t.notOk(off('127.0.0.1', 0), 'false trusts no hop, not even loopback')
  const oneHop = trustFn('1')
  t.ok(oneHop('203.0.113.9', 0), 'one hop: the direct peer is the proxy')
  t.notOk(oneHop('203.0.113.9', 1), 'one hop: the next address is the client')
  const list = trustFn('10.0.0.0/8, loopback')
  t.ok(list('10.1.2.3', 0), 'inside the CIDR')
  t.ok(list('127.0.0.1', 3), 'a named range')
  t.notOk(list('203.0.113.9', 0), 'outside the list')
})

t.test('retention: defaults, YAML, environment overrides, and bad values named', async (t) => {
  t.same(loadConfig({ env: {} }).retention, { deviceLogsDays: 14, metricsDays: 7, sessionsDays: 30, intervalMs: 3_600_000 }, 'documented defaults')
  const file = yamlFile('retention:\n  device_logs_days: 30\n  sessions_days: 0\n')
  const c = loadConfig({ file, env: { EDGETAINER_RETENTION_METRICS_DAYS: '1.5', EDGETAINER_RETENTION_INTERVAL_MINUTES: '5' } })
  t.same(c.retention, { deviceLogsDays: 30, metricsDays: 1.5, sessionsDays: 0, intervalMs: 300_000 }, 'YAML and env merge; 0 keeps for ever')
  t.ok(Object.isFrozen(c.retention))
  t.throws(() => loadConfig({ env: { EDGETAINER_RETENTION_DEVICE_LOGS_DAYS: '-1' } }), { message: /EDGETAINER_RETENTION_DEVICE_LOGS_DAYS \(retention\.device_logs_days\)/ })
  t.throws(() => loadConfig({ file: yamlFile('retention:\n  logs_days: 3\n'), env: {} }), { message: /unknown config key: logs_days/ })
})
