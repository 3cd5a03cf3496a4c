import type { ContainerState } from '../../shared/agent-wire.js'
import type { DockerCli } from './docker-cli.js'
import { containerPorts, listeningPorts } from './container-ports.js'

/**
 * Every container the agent's stacks create carries this label (set in the compose override), with the
 * device id as its value: agents that share a dockerd (a lab host, a test machine) each see their own.
 * Earlier agents wrote `true`: such containers still count as the agent's, until their next deploy relabels them.
 */
export const MANAGED_LABEL = 'io.edgetainer.managed'
export const LEGACY_OWNER = 'true'

interface Inspected {
  Id: string
  Name: string
  Config: { Image: string; Labels: Record<string, string> | null; ExposedPorts?: Record<string, unknown> | null }
  State: { Status: string; ExitCode: number; StartedAt: string; Pid?: number; Health?: { Status: string } }
  RestartCount: number
  HostConfig: { NetworkMode: string }
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null> | null; Networks: Record<string, { IPAddress: string }> | null }
}

/** What a look at a container found. Ports are not among it: they are read when a heartbeat needs them (portsNow). */
export interface ContainerInfo extends Omit<ContainerState, 'ports'> {
  id: string
  /** How to reach a port of it from the host, when it can be known. */
  endpoint(port: number): { host: string; port: number } | undefined
  /**
   * Its published, declared and listening ports, the listening ones read now from /proc: a server starts
   * listening after its container starts, and no docker event says so. No docker call.
   */
  portsNow(): ContainerState['ports']
}

function toInfo(c: Inspected): ContainerInfo {
  const labels = c.Config.Labels ?? {}
  const portsNow = () =>
    containerPorts(
      c.NetworkSettings.Ports,
      c.Config.ExposedPorts,
      c.State.Status === 'running' ? listeningPorts(c.State.Pid ?? 0, c.HostConfig.NetworkMode === 'host') : [],
    )
  return {
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    project: labels['com.docker.compose.project'] ?? null,
    service: labels['com.docker.compose.service'] ?? null,
    image: c.Config.Image,
    state: c.State.Status,
    health: c.State.Health?.Status ?? null,
    exit_code: c.State.Status === 'running' ? null : c.State.ExitCode,
    restart_count: c.RestartCount,
    started_at: c.State.StartedAt && !c.State.StartedAt.startsWith('0001-') ? c.State.StartedAt : null,
    portsNow,
    endpoint(port) {
      if (c.HostConfig.NetworkMode === 'host') return { host: '127.0.0.1', port }
      const published = c.NetworkSettings.Ports?.[`${port}/tcp`]?.[0]
      if (published?.HostPort) return { host: !published.HostIp || published.HostIp === '0.0.0.0' || published.HostIp === '::' ? '127.0.0.1' : published.HostIp, port: Number(published.HostPort) }
      const address = Object.values(c.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress
      return address ? { host: address, port } : undefined
    },
  }
}

/** Among `containers`, the one a service forward or a terminal means by `name`: its compose service, else its container name; a running one first. */
export function pickByName(containers: readonly ContainerInfo[], name: string): ContainerInfo | undefined {
  const named = containers.filter((c) => c.service === name || c.name === name)
  return named.find((c) => c.state === 'running') ?? named[0]
}

/** Reads containers through the docker CLI: the agent's own (by label or project) and single ones by name. */
export function createContainers(deps: { docker: DockerCli; /** The device id the agent's labels carry. */ owner: string }) {
  const { docker, owner } = deps

  async function inspect(ids: string[]): Promise<ContainerInfo[]> {
    if (!ids.length) return []
    const r = await docker.docker(['inspect', ...ids], { timeoutMs: 30_000 })
    // A container removed between listing and inspecting fails the call but the rest still print.
    const parsed = r.stdout.trim() ? (JSON.parse(r.stdout) as Inspected[]) : []
    return parsed.map(toInfo)
  }

  async function list(filter: string): Promise<ContainerInfo[]> {
    const r = await docker.docker(['ps', '-a', '--no-trunc', '--filter', filter, '--format', '{{.ID}}'], { timeoutMs: 30_000 })
    if (r.failed) throw new Error(`docker ps failed: ${r.stderr.trim().split('\n').at(-1)}`)
    return inspect(r.stdout.split('\n').filter(Boolean))
  }

  /** The agent's own: the label's value is read from the listing, so other agents' containers are never inspected. */
  async function managed(): Promise<ContainerInfo[]> {
    // The value JSON-quoted: a label may hold spaces and line breaks, and must not split a line.
    const r = await docker.docker(['ps', '-a', '--no-trunc', '--filter', `label=${MANAGED_LABEL}`, '--format', `{{.ID}} {{json (.Label "${MANAGED_LABEL}")}}`], { timeoutMs: 30_000 })
    if (r.failed) throw new Error(`docker ps failed: ${r.stderr.trim().split('\n').at(-1)}`)
    const own = r.stdout.split('\n').flatMap((line) => {
      const space = line.indexOf(' ')
      if (space < 1) return []
      let value: unknown
      try {
        value = JSON.parse(line.slice(space + 1))
      } catch {
        return [] // not a line of this format: not ours
      }
      return value === owner || value === LEGACY_OWNER ? [line.slice(0, space)] : []
    })
    return inspect(own)
  }

  return {
    managed,
    ofProject: (project: string) => list(`label=com.docker.compose.project=${project}`),
    /** A container by compose service name among the agent's own, else by container name. */
    async find(name: string): Promise<ContainerInfo | undefined> {
      const pick = pickByName(await managed(), name)
      if (pick) return pick
      return (await inspect([name]).catch(() => []))[0]
    },
  }
}

export type Containers = ReturnType<typeof createContainers>
