import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { createAgentLogger, type Logger } from '../../agent/agent-logger.js'
import { createComposeExecutor } from '../../agent/deploy/compose-executor.js'
import { createStackStore } from '../../agent/deploy/stack-store.js'
import { createContainers } from '../../agent/docker/containers.js'
import { createDockerCli } from '../../agent/docker/docker-cli.js'
import type { OutboxEventInput } from '../../shared/agent-wire.js'
import { removeAgentContainers } from './test-agent.js'

interface Teardown {
  teardown(fn: () => void): void
}

/**
 * The agent's deploy path alone, on the machine's real dockerd and docker-compose, without a gateway or a
 * tunnel: a stack store in a temporary data dir, an executor, and the events it reports. Its containers
 * and data dir go at teardown. `docker` is the agent's `docker` setting (a wrapper, say), `dockerHost` its
 * `docker_host` (a socket in front of dockerd, say).
 */
export function startTestExecutor(t: Teardown, options: { docker?: string; dockerHost?: string; logger?: Logger } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'et-executor-'))
  const logger = options.logger ?? createAgentLogger('silent', new Writable({ write: (_c, _e, done) => done() }))
  const docker = createDockerCli({ configured: options.docker, host: options.dockerHost, logger })
  const owner = randomUUID()
  const stacks = createStackStore({ dataDir, owner })
  const events: OutboxEventInput[] = []
  const abort = new AbortController()
  const executor = createComposeExecutor({ docker, containers: createContainers({ docker, owner }), stacks, report: (e) => events.push(...e), logger, timeouts: { deployMs: 60_000, stableMs: 300 }, signal: abort.signal })
  t.teardown(() => {
    abort.abort()
    removeAgentContainers(dataDir)
    rmSync(dataDir, { recursive: true, force: true })
  })
  return { dataDir, docker, owner, stacks, events, executor }
}
