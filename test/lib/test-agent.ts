import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { loadAgentConfig, type AgentConfigInput } from '../../agent/config/agent-config.js'
import { startAgent, type RunningAgent } from '../../agent/main.js'
import type { HttpClient } from './http-client.js'
import { waitFor } from './openssh.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/** What an agent needs to know about a gateway. */
export interface GatewayAddress {
  http: HttpClient
  adminToken: string
  sshPort: number
  hostPublicKey: string
}

/** A registration token for the fleet, as an admin creates it. */
export async function registrationToken(gw: GatewayAddress, fleetId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await gw.http.post('/api/provision/tokens', { fleet_id: fleetId, ...extra }, { token: gw.adminToken })
  if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.token
}

/** Compose projects this agent's data dir has run, from every release's meta.json. */
function projectsOf(dataDir: string): string[] {
  const root = path.join(dataDir, 'stacks')
  if (!existsSync(root)) return []
  const projects = new Set<string>()
  for (const sw of readdirSync(root, { withFileTypes: true })) {
    if (!sw.isDirectory()) continue
    for (const release of ['current', 'previous', 'next']) {
      try {
        projects.add((JSON.parse(readFileSync(path.join(root, sw.name, release, 'meta.json'), 'utf8')) as { project: string }).project)
      } catch {
        // No such release.
      }
    }
  }
  return [...projects]
}

/** Removes the containers of every project the agent ran: a stopped agent leaves its stacks running, as on a device. */
export function removeAgentContainers(dataDir: string, extraProjects: string[] = []): void {
  for (const project of [...projectsOf(dataDir), ...extraProjects]) {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${project}`], { encoding: 'utf8' }).split('\n').filter(Boolean)
    if (ids.length) execFileSync('docker', ['rm', '-f', '-v', ...ids], { stdio: 'ignore' })
  }
}

export interface TestAgentOptions {
  gateway: GatewayAddress
  token: string
  dataDir?: string
  config?: AgentConfigInput
}

export interface TestAgent {
  agent: RunningAgent
  dataDir: string
  /** Stops this agent (its stacks keep running); start another on the same dataDir to "restart" it. */
  stop(): Promise<void>
}

/**
 * Starts an agent in this process, the way `edgetainer agent` does, against
 * a test gateway on 127.0.0.1. Short intervals keep tests quick. Teardown
 * stops it and removes every container it started.
 */
export async function startTestAgent(t: Teardown, options: TestAgentOptions): Promise<TestAgent> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'et-agent-'))
  if (!options.dataDir) {
    t.teardown(() => {
      removeAgentContainers(dataDir)
      rmSync(dataDir, { recursive: true, force: true })
    })
  }
  const config = loadAgentConfig({
    env: {},
    values: {
      server_url: options.gateway.http.baseUrl,
      ssh_host: '127.0.0.1',
      ssh_port: options.gateway.sshPort,
      host_key: options.gateway.hostPublicKey,
      token: options.token,
      data_dir: dataDir,
      reconnect_base_seconds: 0.2,
      reconnect_max_seconds: 2,
      heartbeat_seconds: 1,
      watch_seconds: 0.5,
      deploy_timeout_seconds: 30,
      deploy_stable_seconds: 2,
      log_level: (process.env.EDGETAINER_TEST_LOG_LEVEL as 'silent' | undefined) ?? 'silent',
      ...options.config,
    },
  })
  const agent = await startAgent(config, createAgentLogger(config.log_level), { version: 'test' })
  if (!agent) throw new Error('agent did not start')
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await agent.close()
  }
  t.teardown(stop)
  return { agent, dataDir, stop }
}

/** Waits until the gateway sees the device's tunnel (and, optionally, a forward count). */
export async function waitOnline(http: HttpClient, token: string, deviceId: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  return waitFor(
    `${deviceId} online`,
    async () => {
      const res = await http.get(`/api/devices/${deviceId}/status`, { token })
      return res.body.online ? res.body : undefined
    },
    timeoutMs,
  )
}
