import t from 'tap'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { repoRoot } from '../lib/repo-root.js'

const run = promisify(execFile)
const root = repoRoot
const sha512 = (file: string) => createHash('sha512').update(readFileSync(file)).digest('hex')

/**
 * `make agent` twice from the same source gives the same bytes. The first
 * build is the one every agent test shares (dist/agent); the second goes to a
 * directory of its own, so the test costs one build (linux-x64 only: arm64
 * runs the very same blob through the same postject, see agent-arm64.test.ts).
 */
t.test('two agent builds from the same source are byte-identical', async (t) => {
  const first = await ensureAgentBuilt()
  const out = mkdtempSync(path.join(tmpdir(), 'et-agent-rebuild-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const started = Date.now()
  await run('scripts/build-agent.sh', [], { cwd: root, env: { ...process.env, AGENT_ARCHES: 'x64', AGENT_OUT_DIR: out } })
  t.comment(`second build took ${Date.now() - started} ms`)

  const second = path.join(out, 'edgetainer-agent-linux-x64')
  t.equal(sha512(second), sha512(first.file), 'the same sha512')
  t.equal(readFileSync(`${second}.sha512`, 'utf8').trim(), first.sha512, 'and the same published hash')
  const manifest = JSON.parse(readFileSync(`${second}.json`, 'utf8'))
  t.match(manifest, { arch: 'x64', sha512: first.sha512, size: readFileSync(second).length, version: /^\d+\.\d+\.\d+/, min_gateway_version: /^\d+\.\d+\.\d+/ })
  t.same(JSON.parse(readFileSync(`${first.file}.json`, 'utf8')), manifest, 'and the same build description')
})
