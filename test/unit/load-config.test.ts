import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig, ConfigError } from '../../server/config/load-config.js'

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

t.test('retention: defaults, YAML, environment overrides, and bad values named', async (t) => {
  t.same(loadConfig({ env: {} }).retention, { deviceLogsDays: 14, metricsDays: 7, sessionsDays: 30, intervalMs: 3_600_000 }, 'documented defaults')
  const file = yamlFile('retention:\n  device_logs_days: 30\n  sessions_days: 0\n')
  const c = loadConfig({ file, env: { EDGETAINER_RETENTION_METRICS_DAYS: '1.5', EDGETAINER_RETENTION_INTERVAL_MINUTES: '5' } })
  t.same(c.retention, { deviceLogsDays: 30, metricsDays: 1.5, sessionsDays: 0, intervalMs: 300_000 }, 'YAML and env merge; 0 keeps for ever')
  t.ok(Object.isFrozen(c.retention))
  t.throws(() => loadConfig({ env: { EDGETAINER_RETENTION_DEVICE_LOGS_DAYS: '-1' } }), { message: /EDGETAINER_RETENTION_DEVICE_LOGS_DAYS \(retention\.device_logs_days\)/ })
  t.throws(() => loadConfig({ file: yamlFile('retention:\n  logs_days: 3\n'), env: {} }), { message: /unknown config key: logs_days/ })
})
