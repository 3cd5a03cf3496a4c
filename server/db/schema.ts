/*
 * The database as kysely sees it: one interface per table and the Database map of them. Over 300 lines
 * on purpose: the schema is read as one piece, in migration order, next to migrations/.
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'

/** A timestamptz column: the database fills it on insert unless given, and returns a Date. */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>
type Timestamp = ColumnType<Date, Date | string, Date | string>
type Json<T> = ColumnType<T, string, string>

export type Role = 'admin' | 'operator' | 'viewer'
export type DeviceStatus = 'online' | 'offline' | 'updating' | 'error'

export interface UsersTable {
  id: Generated<string>
  username: string
  email: string | null
  password_hash: string
  role: Role
  disabled: Generated<boolean>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface SessionsTable {
  id: string
  user_id: string
  created_at: CreatedAt
  expires_at: Timestamp
  revoked_at: Timestamp | null
  ip_address: string | null
  user_agent: string | null
  /** Set for a device-host session (hand-off): valid on this host only, never on the console. */
  bound_host: string | null
  /** The console session a device-host session was handed over from; it ends with it. */
  parent_session_id: string | null
}

export interface ApiTokensTable {
  id: Generated<string>
  user_id: string
  /** sha256 of the token; the token itself is shown once and never stored. */
  token: string
  prefix: string
  description: string | null
  expires_at: Timestamp | null
  last_used_at: Timestamp | null
  created_at: CreatedAt
}

export interface UserSshKeysTable {
  id: Generated<string>
  user_id: string
  name: string
  /** Normalised `type base64` line, without a comment. */
  public_key: string
  /** `SHA256:…` of the key blob, unique across the gateway. */
  fingerprint: string
  last_used_at: Timestamp | null
  created_at: CreatedAt
}

export interface FleetsTable {
  id: Generated<string>
  name: string
  description: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface DevicesTable {
  id: Generated<string>
  device_id: string
  name: string
  fleet_id: string | null
  status: ColumnType<DeviceStatus, DeviceStatus | undefined, DeviceStatus>
  last_seen: Timestamp | null
  ip_address: string | null
  os_version: string | null
  hardware_info: Json<Record<string, unknown> | null> | null
  ssh_port: number | null
  subdomain: string
  subdomain_enabled: Generated<boolean>
  public_key: string | null
  public_key_fingerprint: string | null
  /** `key=value` labels that selectors match (server/devices/label-selector.ts). */
  labels: ColumnType<Record<string, string>, string | undefined, string>
  /** The gateway node holding the device's tunnel (gateway_nodes.id), while online. */
  owner_node: ColumnType<string | null, string | null | undefined, string | null>
  /** Bumped on every connect; a disconnect only counts for the epoch its session got. */
  session_epoch: Generated<number>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

/** A running gateway node (issue 17): several may share one PostgreSQL. */
export interface GatewayNodesTable {
  id: string
  peer_url: string | null
  heartbeat_interval_ms: number
  started_at: ColumnType<Date, Date | string | undefined, Date | string>
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>
}

/** An HTTP-01 answer of an ACME order in flight: any node may get the CA's validation request. */
export interface AcmeHttpChallengesTable {
  token: string
  key_authorization: string
  created_at: ColumnType<Date, Date | string | undefined, never>
}

/** Limiter counters shared by every node (rate-limiter-flexible's RateLimiterPostgres layout; it writes them itself). */
export interface RateLimitsTable {
  key: string
  points: number
  expire: string | null
}

export interface SoftwareTable {
  id: Generated<string>
  name: string
  source: string
  repo_url: string | null
  current_version: string | null
  versions: Json<unknown[]> | null
  docker_compose_yaml: string | null
  description: string | null
  git_ref: string | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface SoftwareVersionsTable {
  id: Generated<string>
  software_id: string
  seq: number
  version: string
  docker_compose_yaml: string
  /** `{vars, services}` with secret values sealed (server/env/env-codec.ts). */
  env_vars: Json<Record<string, unknown>>
  created_by: string | null
  created_at: CreatedAt
  /** For a version imported from git: the commit it came from. */
  commit_sha: ColumnType<string | null, string | null | undefined, never>
  commit_author: ColumnType<string | null, string | null | undefined, never>
  commit_message: ColumnType<string | null, string | null | undefined, never>
}

/** `downloading`, `installing` and `verifying` are the phases agents report; `deploying` is what older agents send instead. */
export type DeploymentDeviceStatus = 'pending' | 'deploying' | 'downloading' | 'installing' | 'verifying' | 'running' | 'failed' | 'rolled_back'

export interface DeviceSoftwareStatusTable {
  device_id: string
  software_id: string
  version: string
  status: DeploymentDeviceStatus
  error: string | null
  updated_at: UpdatedAt
}

export interface ContainerRestartsTable {
  id: Generated<string>
  device_id: string
  container_name: string
  requested_by: string
  requested_at: CreatedAt
  consumed_at: Timestamp | null
}

export interface DeploymentsTable {
  id: Generated<string>
  software_id: string
  fleet_id: string | null
  device_id: string | null
  version: string
  pinned: Generated<boolean>
  status: string
  env_vars: Json<Record<string, unknown> | null> | null
  /** How the agent replaces the running release; null means its default, `download-then-kill`. */
  update_strategy: ColumnType<'download-then-kill' | 'kill-then-download' | null, 'download-then-kill' | 'kill-then-download' | null | undefined>
  /** Kill and restart even while a container holds its update lock. */
  override_lock: Generated<boolean>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface FleetEnvVarsTable {
  id: Generated<string>
  fleet_id: string
  container_name: string
  env_vars: Json<Record<string, unknown>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface DeviceEnvVarsTable {
  id: Generated<string>
  device_id: string
  container_name: string
  env_vars: Json<Record<string, unknown>>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface DeviceLogsTable {
  id: Generated<string>
  device_id: string
  log_type: string
  message: string
  created_at: CreatedAt
  /** The container a shipped log line came from (null for agent and deploy entries). */
  container: ColumnType<string | null, string | null | undefined, string | null>
  /** The agent's outbox sequence number: the device's own order. pg returns int8 as a string. */
  seq: ColumnType<string | number | null, number | null | undefined, number | null>
  /** Arrival order at the gateway (a database sequence): what live logs and the `before` cursor follow. int8, so a string from pg. */
  arrival: ColumnType<string | number, never, never>
}

export interface RegistrationTokensTable {
  id: Generated<string>
  fleet_id: string
  name: string | null
  /** sha256 of the token; the value is shown once. */
  token_hash: string
  prefix: string
  max_uses: number
  uses: Generated<number>
  expires_at: Timestamp
  revoked_at: Timestamp | null
  /** name_pattern, network, ssh_keys, hostname: what provisioning renders for devices of this token. */
  options: Json<Record<string, unknown>>
  created_by: string | null
  last_used_at: Timestamp | null
  created_at: CreatedAt
  /** Labels every device registered with this token starts with. */
  labels: ColumnType<Record<string, string>, string | undefined, string>
}

export interface DeviceRegistrationsTable {
  device_id: string
  token_id: string | null
  remote_address: string | null
  registered_at: CreatedAt
}

interface MetricColumns {
  recorded_at: Timestamp
  cpu_percent: number | null
  memory_used_bytes: number | null
  memory_total_bytes: number | null
  disk_used_bytes: number | null
  disk_total_bytes: number | null
  uptime_seconds: number | null
  load_1: number | null
  net_rx_bytes: number | null
  net_tx_bytes: number | null
  containers: Json<unknown[]>
}

export interface DeviceMetricsTable extends MetricColumns {
  id: Generated<string>
  device_id: string
}

export interface DeviceMetricsLatestTable extends MetricColumns {
  device_id: string
  /** The newest heartbeat's software list (RunningSoftware[]); null before an agent sent one. */
  running_software: ColumnType<unknown, string | null | undefined, string | null>
  /** Why the agent could not read its containers at that heartbeat (dockerd does not answer); null when it could. */
  docker_error: ColumnType<string | null, string | null | undefined, string | null>
}

export interface AgentOutboxCursorsTable {
  device_id: string
  outbox_id: string
  last_seq: ColumnType<string | number, number, number>
  updated_at: UpdatedAt
}

export interface ExposedServicesTable {
  id: Generated<string>
  device_id: string
  name: string
  container_name: string
  internal_port: number
  external_port: number | null
  protocol: ColumnType<'http' | 'tcp', 'http' | 'tcp' | undefined, 'http' | 'tcp'>
  url_path: string | null
  auth_required: Generated<boolean>
  enabled: Generated<boolean>
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface AuditLogTable {
  id: Generated<string>
  actor_user_id: string | null
  actor: string
  action: string
  target_type: string
  target_id: string | null
  details: Json<Record<string, unknown> | null> | null
  ip_address: string | null
  created_at: CreatedAt
}

export interface AcmeAccountsTable {
  directory_url: string
  email: string | null
  account_url: string
  /** The account's private key, sealed (server/secrets/secret-box.ts). */
  key_sealed: string
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface TlsCertificatesTable {
  /** The certificate's main host: the console host, a device host, or `*.<base>`. */
  name: string
  hosts: Json<string[]>
  directory_url: string | null
  cert_pem: string | null
  /** The certificate's private key, sealed. */
  key_sealed: string | null
  serial: string | null
  issuer: string | null
  not_before: Timestamp | null
  not_after: Timestamp | null
  renew_after: Timestamp | null
  ari_next_check: Timestamp | null
  failures: Generated<number>
  last_error: string | null
  next_attempt_at: Timestamp | null
  lease_owner: string | null
  lease_until: Timestamp | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export type RolloutStrategy = 'immediate' | 'manual' | 'canary' | 'rolling'
export type RolloutStatus = 'draft' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed' | 'rolled_back'
export type RolloutDeviceState = 'pending' | 'downloading' | 'installing' | 'verifying' | 'succeeded' | 'failed' | 'rolled_back' | 'skipped' | 'cancelled'

/** Wave sizes, thresholds and timings of a rollout (server/rollouts/rollout-settings.ts has the defaults). */
export interface RolloutSettings {
  canary_percent: number
  wave_size: number | null
  wave_percent: number
  doubling: boolean
  success_percent: number
  error_threshold_percent: number
  failure_action: 'pause' | 'rollback' | 'continue'
  soak_seconds: number
  deadline_seconds: number
}

export interface RolloutsTable {
  id: Generated<string>
  software_id: string
  version: string
  fleet_id: string | null
  selector: string | null
  device_ids: Json<string[] | null> | null
  strategy: RolloutStrategy
  settings: Json<RolloutSettings>
  status: ColumnType<RolloutStatus, RolloutStatus | undefined, RolloutStatus>
  reason: string | null
  current_wave: Generated<number>
  wave_count: Generated<number>
  /** Failed devices a resume accepted: the failure rule counts only failures beyond these. */
  failure_baseline: Generated<number>
  created_by: string | null
  created_at: CreatedAt
  started_at: Timestamp | null
  finished_at: Timestamp | null
  updated_at: UpdatedAt
}

export interface RolloutDevicesTable {
  rollout_id: string
  device_id: string
  wave: number
  state: ColumnType<RolloutDeviceState, RolloutDeviceState | undefined, RolloutDeviceState>
  reason: string | null
  previous_version: string | null
  attempt: Generated<number>
  /** When the device's pin was set: agent reports older than this are about something else. */
  released_at: Timestamp | null
  healthy_since: Timestamp | null
  state_since: UpdatedAt
}

export interface DeviceTargetsTable {
  device_id: string
  software_id: string
  /** null: the device runs no release of this software. */
  version: string | null
  attempt: Generated<number>
  rollout_id: string | null
  updated_at: UpdatedAt
}

/** An agent executable the gateway has served: content-addressed, with its signed manifest. */
export interface AgentReleasesTable {
  sha512: string
  version: string
  arch: string
  /** pg returns int8 as a string. */
  size: ColumnType<string | number, number, number>
  min_gateway_version: string
  manifest: string
  signature: string
  created_at: CreatedAt
}

/** The agent a device last reported in its heartbeat. */
export interface DeviceAgentsTable {
  device_id: string
  version: string
  arch: string | null
  reported_at: Timestamp
}

/** The agent version a fleet or one device should run (exactly one of fleet_id, device_id). */
export interface AgentVersionTargetsTable {
  id: Generated<string>
  fleet_id: string | null
  device_id: string | null
  version: string
  updated_at: UpdatedAt
}

/** How a git software is fetched, its sealed credentials and its sync state (server/git/). */
export interface GitSourcesTable {
  software_id: string
  compose_path: string | null
  defaults_path: string | null
  poll_interval_seconds: ColumnType<number, number | undefined, number>
  git_username: string | null
  token_sealed: string | null
  webhook_secret_sealed: string | null
  deploy_key_sealed: string | null
  deploy_key_public: string | null
  ssh_known_hosts: string | null
  last_sync_at: Timestamp | null
  last_sync_status: 'ok' | 'error' | null
  last_sync_error: string | null
  last_commit: string | null
  imported_compose_blob: string | null
  imported_defaults_blob: string | null
  next_poll_at: Timestamp | null
  created_at: CreatedAt
  updated_at: UpdatedAt
}

export interface Database {
  users: UsersTable
  sessions: SessionsTable
  api_tokens: ApiTokensTable
  user_ssh_keys: UserSshKeysTable
  fleets: FleetsTable
  devices: DevicesTable
  gateway_nodes: GatewayNodesTable
  acme_http_challenges: AcmeHttpChallengesTable
  rate_limits: RateLimitsTable
  software: SoftwareTable
  deployments: DeploymentsTable
  fleet_env_vars: FleetEnvVarsTable
  device_env_vars: DeviceEnvVarsTable
  device_logs: DeviceLogsTable
  exposed_services: ExposedServicesTable
  audit_log: AuditLogTable
  software_versions: SoftwareVersionsTable
  device_software_status: DeviceSoftwareStatusTable
  container_restarts: ContainerRestartsTable
  acme_accounts: AcmeAccountsTable
  tls_certificates: TlsCertificatesTable
  registration_tokens: RegistrationTokensTable
  device_registrations: DeviceRegistrationsTable
  device_metrics: DeviceMetricsTable
  device_metrics_latest: DeviceMetricsLatestTable
  agent_outbox_cursors: AgentOutboxCursorsTable
  rollouts: RolloutsTable
  rollout_devices: RolloutDevicesTable
  device_targets: DeviceTargetsTable
  agent_releases: AgentReleasesTable
  device_agents: DeviceAgentsTable
  agent_version_targets: AgentVersionTargetsTable
  git_sources: GitSourcesTable
}

export type UserRow = Selectable<UsersTable>
export type FleetRow = Selectable<FleetsTable>
export type DeviceRow = Selectable<DevicesTable>
export type NewDevice = Insertable<DevicesTable>
export type DeviceUpdate = Updateable<DevicesTable>
export type ExposedServiceRow = Selectable<ExposedServicesTable>
export type AuditRow = Selectable<AuditLogTable>
export type TlsCertificateRow = Selectable<TlsCertificatesTable>
