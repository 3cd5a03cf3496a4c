/**
 * Wire types of the agent API (agent → gateway, inside the tunnel) and of the
 * agent's control API (gateway → agent). Both sides import this module; keep
 * it to request and response shapes, nothing else.
 */

/**
 * One route of the agent API: method and path, and, as types only, what the agent
 * sends and what the gateway answers. The agent's client and the gateway's routes are
 * both written against these entries (as a kysely Dialect ties driver and compiler),
 * so a shape changed on one side does not compile on the other.
 */
export interface AgentRoute<Request, Response> {
  readonly method: 'GET' | 'POST'
  readonly path: string
  /** Never set: it carries the route's types. */
  readonly types?: { request: Request; response: Response }
}

function agentRoute<Request, Response>(method: 'GET' | 'POST', path: string): AgentRoute<Request, Response> {
  return Object.freeze({ method, path })
}

/** The agent API, every route of it (agent → gateway, inside the tunnel). */
export const agentApi = {
  heartbeat: agentRoute<HeartbeatRequest, HeartbeatResponse>('POST', '/api/agent/heartbeat'),
  config: agentRoute<undefined, AgentConfigResponse>('GET', '/api/agent/config'),
  /** The device's target-state document: answers with an `ETag` (the quoted revision) and honours `If-None-Match` with 304. */
  software: agentRoute<undefined, AgentSoftwareResponse>('GET', '/api/agent/software'),
  status: agentRoute<StatusBatch, StatusAck>('POST', '/api/agent/status'),
  restarts: agentRoute<undefined, AgentRestartsResponse>('POST', '/api/agent/restarts'),
  /** The signed manifest of the agent this device should run, when it is not the one it reports. */
  agentUpdate: agentRoute<undefined, AgentUpdateResponse>('GET', '/api/agent/update'),
  /** A stored agent executable, by `?sha512=`: raw bytes, not JSON (the agent checks them against the manifest). */
  agentExecutable: agentRoute<undefined, Uint8Array>('GET', '/api/agent/executable'),
} as const

export type RequestOf<R> = R extends AgentRoute<infer Request, unknown> ? Request : never
export type ResponseOf<R> = R extends AgentRoute<unknown, infer Response> ? Response : never

/** The paths alone, for tests and raw clients that speak to the API byte by byte. */
export const AGENT_PATHS = Object.freeze(Object.fromEntries(Object.entries(agentApi).map(([name, route]) => [name, route.path]))) as {
  readonly [K in keyof typeof agentApi]: string
}

export const CONTROL_PATHS = {
  command: '/command',
  restart: '/restart',
  sync: '/sync',
  container: '/container',
} as const

/** The gateway proves a control request is its own with this header (the key comes with the agent's config). */
export const CONTROL_KEY_HEADER = 'x-edgetainer-control-key'

/** A port of a container: published on the host, declared (EXPOSE), or found listening. */
export interface ContainerPort {
  /** The port inside the container (with host networking, the host's own). */
  container_port: number
  protocol: 'tcp' | 'udp'
  /** Where it is published on the device, when it is. */
  host_port: number | null
  host_ip: string | null
  /** published: `ports:` in compose; exposed: EXPOSE only; listening: a socket the container listens on. */
  source: 'published' | 'exposed' | 'listening'
}

export interface ContainerState {
  /** Container name, e.g. `edgetainer-web-web-1`. */
  name: string
  /** Compose project and service, from the container's labels. */
  project: string | null
  service: string | null
  image: string
  /** docker's State.Status: created, running, restarting, exited, … */
  state: string
  /** State.Health.Status when the container has a healthcheck, else null. */
  health: string | null
  exit_code: number | null
  restart_count: number
  started_at: string | null
  /** Added after the first agents: older ones leave both out. */
  ports?: ContainerPort[]
  /** The software whose stack the container belongs to, when the agent knows. */
  software_id?: string | null
}

export interface DeviceMetrics {
  cpu_percent: number | null
  memory_used_bytes: number | null
  memory_total_bytes: number | null
  disk_used_bytes: number | null
  disk_total_bytes: number | null
  uptime_seconds: number | null
  load_1: number | null
  /** Totals since boot over every interface but loopback. */
  net_rx_bytes: number | null
  net_tx_bytes: number | null
}

export interface RunningSoftware {
  software_id: string
  name: string
  version: string
}

export interface HeartbeatRequest {
  agent_version: string
  /** The agent's CPU architecture, which picks the executable of an update. */
  agent_arch?: 'x64' | 'arm64'
  /** When the sample was taken, on the device's clock (ISO 8601). */
  at: string
  metrics: DeviceMetrics
  /** Empty when docker_error is set: nothing is known of them then. */
  containers: ContainerState[]
  /**
   * Why the agent could not read its containers this time (dockerd does not answer), in one line.
   * Absent when it could. Older agents never send it; they skipped the heartbeat instead.
   */
  docker_error?: string
  software: RunningSoftware[]
  /** `quarantined`: events the gateway refused (or that kept failing), set aside on the device. */
  outbox: { pending: number; dropped_log_lines: number; quarantined?: number }
}

export interface HeartbeatResponse {
  interval_seconds: number
  /** Changes whenever the device's config or software changes: the agent refetches when it differs. */
  revision: string
  restarts_pending: number
}

/** A release manifest as the gateway signs it (shared/agent-release.ts verifies it). */
export interface SignedAgentManifest {
  /** The manifest's JSON text, exactly as signed. */
  manifest: string
  /** ed25519 over the UTF-8 bytes of `manifest`, base64. */
  signature: string
}

export interface AgentUpdateResponse {
  gateway_version: string
  /** null: the device runs its target already, or has none. */
  update: SignedAgentManifest | null
}

export interface ForwardedService {
  name: string
  /** The compose service or container the traffic goes to; also the forward's bind name. */
  container_name: string
  internal_port: number
  protocol: 'http' | 'tcp'
}

export interface AgentConfigResponse {
  id: string
  device_id: string
  name: string
  subdomain: string
  heartbeat_seconds: number
  /** Exposed services to forward, one remote forward each. */
  services: ForwardedService[]
  /** Sent back by the gateway on every control request; other callers are refused. */
  control_key: string
}

export interface AgentSoftware {
  software_id: string
  name: string
  version: string
  compose: string
  /** Per compose service, the merged environment, secrets decrypted. */
  env: Record<string, Record<string, string>>
  /** How a new release replaces the running one (docs/agent-updates-behaviour.md); absent means `download-then-kill`. */
  update_strategy?: UpdateStrategy
  /** Kill and restart even while a container holds its update lock (balena's `force`); absent means false. */
  override_lock?: boolean
  /** Set (> 0) when an operator retried a failed rollout: the same release is tried again although it failed here before. */
  attempt?: number
}

/** `download-then-kill`: pull every image, then recreate. `kill-then-download`: stop first, then pull and start (devices short on disk). */
export const UPDATE_STRATEGIES = ['download-then-kill', 'kill-then-download'] as const
export type UpdateStrategy = (typeof UPDATE_STRATEGIES)[number]

export interface AgentSoftwareResponse {
  revision: string
  software: AgentSoftware[]
}

/**
 * The phases of applying a release, in order: `downloading` (images pulled), `installing`
 * (containers recreated), `verifying` (health and stability check), then one of `running`,
 * `failed` or `rolled_back`. `deploying` is what agents before the phases sent; gateways still accept it.
 */
export const DEPLOY_STATES = ['deploying', 'downloading', 'installing', 'verifying', 'running', 'failed', 'rolled_back'] as const
export type DeployState = (typeof DEPLOY_STATES)[number]

interface EventBase {
  /** Outbox sequence number: strictly increasing per outbox. */
  seq: number
  /** When it happened, on the device's clock (ISO 8601). */
  at: string
}

export type OutboxEvent = EventBase &
  (
    | { kind: 'log'; container: string; stream: 'stdout' | 'stderr'; line: string }
    | {
        kind: 'deploy'
        software_id: string
        name: string
        version: string
        status: DeployState
        /** In plain words: why it failed or rolled back, or what an unfinished phase waits for (an update lock). */
        error: string | null
      }
    | { kind: 'container'; container: string; service: string | null; state: string; health: string | null; previous: string | null }
    | { kind: 'agent'; message: string }
  )

/** The events an outbox event carries before the outbox numbers it. */
export type OutboxEventInput = OutboxEvent extends infer E ? (E extends OutboxEvent ? Omit<E, 'seq'> : never) : never

export interface StatusBatch {
  /** Identifies the outbox (a fresh data dir starts a new one), so its sequence numbers are not confused with another's. */
  outbox_id: string
  events: OutboxEvent[]
  /**
   * Events dropped to keep the outbox within its size since the last accepted
   * batch: log lines first, then superseded container states and agent
   * notices. Deploy results are never dropped. (The name predates the rest.)
   */
  dropped_log_lines: number
}

/** One event of a batch that the gateway will never store; the agent sets it aside instead of resending it. */
export interface RejectedEvent {
  /** null when the item carried no usable sequence number. */
  seq: number | null
  code: string
  error: string
}

export interface StatusAck {
  /** Every event up to this sequence number is stored or rejected; the agent may forget them. */
  acked_seq: number
  /** Events refused one by one (the rest of the batch is stored). */
  rejected?: RejectedEvent[]
}

export interface AgentRestartsResponse {
  restarts: { id: string; container: string }[]
}

export interface CommandRequest {
  /** argv: run without a shell. */
  command: string[]
  timeout_seconds: number
}

export interface CommandResult {
  exit_code: number | null
  signal: string | null
  stdout: string
  stderr: string
  timed_out: boolean
  /** Output beyond the limit was cut. */
  truncated: boolean
  duration_ms: number
}

export interface ControlRestartRequest {
  target: 'stacks' | 'host'
}

export type ContainerAction = 'restart' | 'stop' | 'start'

export interface ControlContainerRequest {
  /** The compose service name (`web`), not the container's name. */
  service: string
  action: ContainerAction
  /** Which software's stack, when two run a service of that name. */
  software_id?: string
}

export interface ControlContainerResult {
  service: string
  action: ContainerAction
  /** The service's containers after the action. */
  containers: ContainerState[]
}

export interface ControlError {
  error: string
  code: string
}
