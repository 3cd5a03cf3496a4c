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

/** Docker's own rule for container names (and compose's for service names): nothing else can name one. */
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/

/** Reads containers through dockerd's Engine API: the agent's own (by label or project) and single ones by name. */
export function createContainers(deps: { docker: DockerCli; /** The device id the agent's labels carry. */ owner: string }) {
  const { owner } = deps
  const { api } = deps.docker

  /** A container removed between listing and inspecting is left out, as `docker inspect` did. */
  async function inspect(ids: string[]): Promise<ContainerInfo[]> {
    const found = await Promise.all(ids.map((id) => api.get<Inspected>(`/containers/${encodeURIComponent(id)}/json`)))
    return found.flatMap((c) => (c ? [toInfo(c)] : []))
  }

  /** Every container (running or not) carrying `label` (`name` or `name=value`), with its labels. */
  async function listed(label: string): Promise<{ Id: string; Labels: Record<string, string> | null }[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [label] }))
    return (await api.get<{ Id: string; Labels: Record<string, string> | null }[]>(`/containers/json?all=1&filters=${filters}`)) ?? []
  }

  /** The agent's own: the label's value is read from the listing, so other agents' containers are never inspected. */
  async function managed(): Promise<ContainerInfo[]> {
    const own = (await listed(MANAGED_LABEL)).filter((c) => {
      const value = c.Labels?.[MANAGED_LABEL]
      return value === owner || value === LEGACY_OWNER
    })
    return inspect(own.map((c) => c.Id))
  }

  return {
    managed,
    ofProject: async (project: string) => inspect((await listed(`com.docker.compose.project=${project}`)).map((c) => c.Id)),
    /** A container by compose service name among the agent's own, else by container name. */
    async find(name: string): Promise<ContainerInfo | undefined> {
      const pick = pickByName(await managed(), name)
      if (pick) return pick
      // The name comes from the gateway: only a well-formed one goes into an API path.
      if (!CONTAINER_NAME.test(name)) return undefined
      return (await inspect([name]).catch(() => []))[0]
    },
  }
}

export type Containers = ReturnType<typeof createContainers>
