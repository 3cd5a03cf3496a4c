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
}

export type DeploymentDeviceStatus = 'pending' | 'deploying' | 'running' | 'failed' | 'rolled_back'

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

export interface Database {
  users: UsersTable
  sessions: SessionsTable
  api_tokens: ApiTokensTable
  fleets: FleetsTable
  devices: DevicesTable
  gateway_nodes: GatewayNodesTable
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
}

export type UserRow = Selectable<UsersTable>
export type FleetRow = Selectable<FleetsTable>
export type DeviceRow = Selectable<DevicesTable>
export type NewDevice = Insertable<DevicesTable>
export type DeviceUpdate = Updateable<DevicesTable>
export type ExposedServiceRow = Selectable<ExposedServicesTable>
export type AuditRow = Selectable<AuditLogTable>
export type TlsCertificateRow = Selectable<TlsCertificatesTable>
