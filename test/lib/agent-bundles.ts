import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { agentExecutableName } from '../../server/provision/agent-executable.js'
import { repoRoot } from './repo-root.js'

const run = promisify(execFile)
const root = repoRoot

/**
 * The agent as a plain Node script: the same bundle `make agent` puts in the
 * single executable (scripts/bundle-agent.mjs), under a version of the test's
 * choosing, with a `#!/usr/bin/env node` line so it runs as an executable file.
 * Swapping, restarting and verifying it exercise the same code as the SEA,
 * at a fraction of the build cost (about a second, against a 96 MiB SEA).
 */
export async function buildAgentScript(out: string, version: string, entry = 'cli/agent-executable.ts'): Promise<{ file: string; sha512: string; size: number; version: string }> {
  await run('node', ['scripts/bundle-agent.mjs', entry, `${out}.cjs`], { cwd: root, env: { ...process.env, AGENT_VERSION: version } })
  writeFileSync(out, Buffer.concat([Buffer.from('#!/usr/bin/env node\n'), readFileSync(`${out}.cjs`)]))
  chmodSync(out, 0o755)
  const bytes = readFileSync(out)
  return { file: out, sha512: createHash('sha512').update(bytes).digest('hex'), size: bytes.length, version }
}

/** Puts a build where the gateway's agent dir expects `make agent`'s output (executable, .sha512, .json). */
export function publishBuild(agentDir: string, build: { file: string; sha512: string; size: number; version: string }, minGatewayVersion = '0.1.0'): void {
  const name = path.join(agentDir, agentExecutableName('x64'))
  copyFileSync(build.file, name)
  writeFileSync(`${name}.sha512`, `${build.sha512}\n`)
  const { version, sha512, size } = build
  writeFileSync(`${name}.json`, JSON.stringify({ version, arch: 'x64', sha512, size, min_gateway_version: minGatewayVersion }))
}
