/*
 * The console's view of every API answer, one interface per resource. Over
 * 300 lines on purpose: pages share these shapes, and one file keeps a change
 * of the API to one place (shapes the agent also sends come from shared/).
 */
import type { ContainerState, DeviceMetrics } from '../../../shared/agent-wire'

export type { ContainerPort, ContainerState } from '../../../shared/agent-wire'

/** Wire shapes the console reads, as the gateway's routes answer them (dates arrive as ISO strings). */

export type Role = 'admin' | 'operator' | 'viewer'
export type DeviceStatus = 'online' | 'offline' | 'updating' | 'error'

export interface Page<T> {
  items: T[]
  total: number
  limit: number
  offset: number
}

export interface User {
  id: string
  username: string
  email: string | null
  role: Role
  disabled?: boolean
  created_at?: string
  updated_at?: string
}

export interface Me extends User {
  authenticated_via?: 'session' | 'api_token'
}

export interface LoginResult {
  token: string
  expires_at: string
  user: User
}

export interface ApiToken {
  id: string
  user_id: string
  prefix: string
  description: string | null
  expires_at: string | null
  last_used_at: string | null
  created_at: string
}

export interface Fleet {
  id: string
  name: string
  description: string | null
  device_count: number
  online_count: number
  /** Devices with a failed or rolled-back deploy, or an error. */
  attention_count?: number
  created_at: string
  updated_at: string
}

export interface Device {
  id: string
  device_id: string
  name: string
  fleet_id: string | null
  status: DeviceStatus
  last_seen: string | null
  ip_address: string | null
  os_version: string | null
  hardware_info: Record<string, unknown> | null
  ssh_port: number | null
  subdomain: string
  subdomain_enabled: boolean
  /** `key=value` labels that rollout selectors match. */
  labels?: Record<string, string>
  public_key: string | null
  public_key_fingerprint: string | null
  created_at: string
  updated_at: string
  /** Why the device needs attention, in words (a failed or rolled-back deploy, an error); null when it does not. */
  attention?: string | null
}

export interface AuditEntry {
  id: string
  actor_user_id: string | null
  actor: string
  action: string
  target_type: string
  target_id: string | null
  details: Record<string, unknown> | null
  ip_address: string | null
  created_at: string
}

export interface ExposedService {
  id: string
  name: string
  container_name: string
  internal_port: number
  protocol: 'http' | 'tcp'
  url_path: string | null
  auth_required: boolean
  enabled: boolean
  url: string | null
  /** For tcp services: the gateway's loopback port that reaches it. */
  gateway_port?: number | null
  /** Whether the device forwards this service through its tunnel right now. */
  connected?: boolean
}

export interface TunnelForward {
  kind: 'ssh' | 'service' | string
  bind_address: string
  bind_port: number
  gateway_port: number | null
}

export interface DeviceLiveStatus {
  online: boolean
  status?: DeviceStatus
  last_seen?: string | null
  session: { since: string; remote_address: string; forwards: TunnelForward[] } | null
}

/** A row the device shipped (server/telemetry/outbox-ingest.ts): a container's output line, a deploy result, a container state change, an agent notice. */
export type DeviceLogType = 'stdout' | 'stderr' | 'deploy' | 'container' | 'agent' | 'dropped'

export interface DeviceLogEntry {
  id: string
  log_type: DeviceLogType | string
  /** The container (or compose service) it came from; null for deploy results and agent notices. */
  container: string | null
  message: string
  created_at: string
  /** The device's outbox sequence number. */
  seq: number | null
}

/** One heartbeat sample (server/telemetry/device-metrics-store.ts): the agent's own figures, as the shared wire module defines them. */
export interface DeviceMetricsSample extends DeviceMetrics {
  recorded_at: string
  containers: { name: string; service: string | null; state: string }[]
}

export interface DeviceMetricsHistory {
  latest: DeviceMetricsSample | null
  /** Oldest first. */
  items: DeviceMetricsSample[]
}

/** One variable at one level, as written: `{"vars": {"NAME": EnvVar}}`. */
export interface EnvVar {
  value: string
  secret?: boolean
  description?: string | null
}

export type EnvSource = 'software' | 'fleet' | 'device'

export interface ResolvedVar {
  value: string
  source: EnvSource
  secret: boolean
  overrides: EnvSource[]
}

export interface ResolvedEnv {
  containers: Record<string, Record<string, ResolvedVar>>
}

export interface Software {
  id: string
  name: string
  description?: string | null
  source: 'manual' | 'git' | string
  repo_url: string | null
  git_ref?: string | null
  current_version: string | null
  /** Detail only: the current version's compose and its service names. */
  docker_compose_yaml?: string | null
  services?: string[]
  /** Detail only, for git software: how it is fetched and its sync status (no secret is ever sent). */
  git?: GitSource | null
  created_at: string
  updated_at: string
}

export interface GitSource {
  repo_url: string
  ref: string
  compose_path: string | null
  compose_search_order: string[]
  defaults_path: string | null
  default_defaults_path: string
  poll_interval_seconds: number
  auth: 'deploy_key' | 'token' | 'none'
  git_username: string | null
  has_token: boolean
  deploy_key_public: string | null
  ssh_known_hosts: string | null
  webhook_url: string
  has_webhook_secret: boolean
  last_sync_at: string | null
  last_sync_status: 'ok' | 'error' | null
  last_sync_error: string | null
  last_commit: string | null
  last_commit_url: string | null
  next_poll_at: string | null
  syncing: boolean
}

export interface SyncResult {
  status: 'imported' | 'unchanged'
  commit: { sha: string; author: string; message: string }
  version: string | null
}

export interface SoftwareVersion {
  version: string
  seq?: number
  current?: boolean
  created_by?: string | null
  created_at?: string
  commit_sha?: string | null
  commit_author?: string | null
  commit_message?: string | null
  commit_url?: string | null
}

export interface DeploymentDeviceStatus {
  /** The device's UUID. */
  id: string
  device_id: string
  name?: string
  status: 'pending' | 'deploying' | 'downloading' | 'installing' | 'verifying' | 'running' | 'failed' | 'rolled_back' | string
  error?: string | null
  reported_version?: string | null
  /** Whether the device is connected now: an offline device's status is what it said last. */
  online?: boolean
  device_status?: DeviceStatus
}

/** One page of `GET /api/devices/:id/logs?before=`: newest first, `next_before` pages further back. */
export interface LogPage extends Page<DeviceLogEntry> {
  next_before: string | null
}

/** `GET /api/devices/:id/release`: the device page's "Release and containers" panel. */
export interface DeviceRelease {
  online: boolean
  reported_at: string | null
  /** Why the agent could not read its containers at its last heartbeat (dockerd does not answer); null when it could. */
  docker_error: string | null
  software: {
    software_id: string
    name: string
    running_version: string | null
    last_result: { version: string; status: string; error: string | null; updated_at: string; summary: string } | null
    needs_attention: boolean
    containers: ContainerState[]
  }[]
  other_containers: ContainerState[]
}

export interface Deployment {
  id: string
  software_id: string
  software_name?: string
  target?: 'fleet' | 'device'
  fleet_id: string | null
  device_id: string | null
  version: string
  effective_version?: string
  pinned: boolean
  status?: string
  devices?: DeploymentDeviceStatus[]
  created_at?: string
}

/** The stream at /api/events. */
export type LiveEvent =
  | { type: 'device.status'; id: string; device_id: string; status: DeviceStatus; last_seen: string | null }
  | { type: 'device.changed'; id: string; device_id: string }

export type RegistrationTokenState = 'active' | 'expired' | 'used_up' | 'revoked'

export type TokenNetwork = { dhcp: true } | { address: string; gateway?: string; dns?: string[] }

/** What a registration token carries besides its fleet (see server/provision/token-options.ts). */
export interface RegistrationTokenOptions {
  name_pattern?: string
  network?: TokenNetwork
  ssh_keys?: string[]
  hostname?: string
}

/** A registration token as listed: never its value. */
export interface RegistrationToken {
  id: string
  fleet_id: string
  name: string | null
  prefix: string
  max_uses: number
  uses: number
  expires_at: string
  revoked_at: string | null
  state: RegistrationTokenState
  options: RegistrationTokenOptions
  created_by: string | null
  created_at: string
  last_used_at: string | null
}

/** Where a config rendered now sends devices (GET /api/provision/endpoints). */
export interface ProvisioningEndpoints {
  server_url: string
  ssh: { host: string; port: number }
  /** True when either is a loopback address: the API refuses the config unless allow_loopback=1. */
  loopback: boolean
  /** Why, naming the setting to change; null when fine. */
  problem: string | null
  /** The agent the config pins; null until `make agent` has built it. */
  agent: { url: string; sha512: string; size: number } | null
}

export interface NewRegistrationToken extends RegistrationTokenOptions {
  fleet_id: string
  name?: string
  /** Seconds, or a duration such as "24h". */
  expires_in?: number | string
  max_uses?: number
}
