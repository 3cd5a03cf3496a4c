import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer } from '../../server/main.js'
import { AGENT_NOT_BUILT_MESSAGE } from '../../server/provision/agent-executable.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { pgliteSeed } from '../lib/database-templates.js'
import { startTestGateway } from '../lib/test-gateway.js'

const run = promisify(execFile)

/** What Flatcar ships and a Node single executable may need: glibc (with its loader, libm, libpthread, libdl), libstdc++, libgcc. */
const allowedLibraries = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/

t.test('make agent builds one executable that links only against glibc, libstdc++ and libgcc', async (t) => {
  const agent = await ensureAgentBuilt()
  const { stdout } = await run('ldd', [agent.file])
  const libraries = stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0]!)
    .filter(Boolean)
  t.ok(libraries.includes('libc.so.6'), `a dynamic executable: ${libraries.join(', ')}`)
  for (const lib of libraries) t.match(lib, allowedLibraries, `${lib} is part of glibc, libstdc++ or libgcc`)
  t.notMatch(stdout, /not found/, 'every library resolves')

  // env -i: tap adds NODE_OPTIONS to children's environments, and the device gives the agent nothing.
  const { stdout: version } = await run('/usr/bin/env', ['-i', agent.file, '--version'])
  t.equal(version.trim(), JSON.parse(readFileSync('package.json', 'utf8')).version, 'it runs on its own, with an empty environment')
  const { stdout: help } = await run('/usr/bin/env', ['-i', agent.file, '--help'])
  t.match(help, /^Usage: edgetainer-agent .*\n[\s\S]*\bagent \[options\]/, 'the agent command, and none of the gateway')
  t.notMatch(help, /\bserver\b|\bmigrate\b/)

  const bytes = readFileSync(agent.file)
  t.equal(createHash('sha512').update(bytes).digest('hex'), agent.sha512, 'the .sha512 next to it is its hash')
  t.ok(bytes.length > 30 * 1024 * 1024, `it carries the Node runtime (${(bytes.length / 1024 / 1024).toFixed(0)} MiB)`)
})

t.test('the gateway serves the executable and its hash', async (t) => {
  const agent = await ensureAgentBuilt()
  const gw = await startTestGateway(t, 'postgres', { start: { agentDir: agent.dir } })
  const res = await fetch(`${gw.http.baseUrl}/api/provision/agent/linux-x64`)
  t.equal(res.status, 200)
  const bytes = Buffer.from(await res.arrayBuffer())
  t.equal(createHash('sha512').update(bytes).digest('hex'), agent.sha512, 'byte for byte what make agent built')
  const head = await fetch(`${gw.http.baseUrl}/api/provision/agent/linux-x64`, { method: 'HEAD' })
  t.equal(Number(head.headers.get('content-length')), bytes.length, 'HEAD tells the size without the body')
})

t.test('without a build: one line at start, and a 503 that says to run make agent, never a file', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-test-'))
  const emptyAgentDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-no-agent-'))
  t.teardown(() => {
    rmSync(dataDir, { recursive: true, force: true })
    rmSync(emptyAgentDir, { recursive: true, force: true })
  })
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    },
  })
  const config = loadConfig({
    env: { EDGETAINER_DATA_DIR: dataDir, EDGETAINER_HTTP_PORT: '0', EDGETAINER_SSH_PORT: '0', EDGETAINER_BIND_ADDRESS: '127.0.0.1', EDGETAINER_ADMIN_PASSWORD: 'admin-password-for-tests' },
  })
  const server = await startServer(config, createLogger('info', sink), { pgliteDir: 'memory://', pgliteSeed: await pgliteSeed(), agentDir: emptyAgentDir })
  t.teardown(() => server.close())
  const said = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === AGENT_NOT_BUILT_MESSAGE)
  t.equal(said.length, 1, 'the server says so once at start')
  t.equal(said[0].level, 40, 'as a warning')

  const base = `http://127.0.0.1:${server.httpPort}`
  for (const p of ['/api/provision/agent/linux-x64', '/api/provision/agent/linux-x64.sha512']) {
    const res = await fetch(base + p)
    t.equal(res.status, 503, `${p}: 503`)
    t.match(res.headers.get('content-type'), /application\/json/, `${p}: an error, not a file`)
    t.same(await res.json(), { error: AGENT_NOT_BUILT_MESSAGE, code: 'AGENT_NOT_BUILT' })
  }

  // A config without the executable's hash would send the device after a file that is not there.
  const login = await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'admin-password-for-tests' }) })).json()
  const auth = { authorization: `Bearer ${login.token}`, 'content-type': 'application/json' }
  const fleet = await (await fetch(`${base}/api/fleets`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'pumps' }) })).json()
  const token = await (await fetch(`${base}/api/provision/tokens`, { method: 'POST', headers: auth, body: JSON.stringify({ fleet_id: fleet.id }) })).json()
  const res = await fetch(`${base}/api/provision/config/${token.token}`)
  t.equal(res.status, 503, 'no config either')
  t.same(await res.json(), { error: AGENT_NOT_BUILT_MESSAGE, code: 'AGENT_NOT_BUILT' })
  t.equal(lines.filter((l) => l.includes(AGENT_NOT_BUILT_MESSAGE)).length, 1, 'and the start-up line was not repeated per request')
})
