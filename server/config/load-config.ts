import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { ZodError } from 'zod'
import { configSchema, type Config } from './config-schema.js'
import { peerUrlProblem } from '../cluster/peer-url.js'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Environment variables that override YAML keys. DESIGN.md fixes these names;
 * the extra ones follow the same pattern.
 */
const envOverrides: Record<string, string[]> = {
  DATABASE_URL: ['database_url'],
  EDGETAINER_DATA_DIR: ['data_dir'],
  EDGETAINER_BIND_ADDRESS: ['bind_address'],
  EDGETAINER_HTTP_PORT: ['http_port'],
  EDGETAINER_HTTPS_PORT: ['https_port'],
  EDGETAINER_SSH_PORT: ['ssh_port'],
  EDGETAINER_SSH_PORT_RANGE: ['ssh_port_range'],
  EDGETAINER_TCP_PORT_RANGE: ['tcp_port_range'],
  EDGETAINER_SSH_LOGIN_GRACE_SECONDS: ['ssh_login_grace_seconds'],
  EDGETAINER_SSH_MAX_UNAUTHENTICATED: ['ssh_max_unauthenticated'],
  EDGETAINER_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS: ['ssh_max_unauthenticated_per_address'],
  EDGETAINER_SSH_MAX_CHANNELS_PER_DEVICE: ['ssh_max_channels_per_device'],
  EDGETAINER_SSH_CERTIFICATE_TTL_SECONDS: ['ssh_certificate_ttl_seconds'],
  EDGETAINER_TERMINAL_USER: ['terminal_user'],
  EDGETAINER_TERMINAL_IDLE_MINUTES: ['terminal_idle_minutes'],
  EDGETAINER_LOG_KEEPALIVE_SECONDS: ['log_keepalive_seconds'],
  EDGETAINER_BASE_DOMAIN: ['base_domain'],
  EDGETAINER_CONSOLE_HOST: ['console_host'],
  EDGETAINER_ADMIN_PASSWORD: ['admin_password'],
  EDGETAINER_PUBLIC_URL: ['public_url'],
  EDGETAINER_SECRET_KEY: ['secret_key'],
  EDGETAINER_RELEASE_KEY_FILE: ['release_key_file'],
  EDGETAINER_MIN_AGENT_VERSION: ['min_agent_version'],
  EDGETAINER_SESSION_TTL_HOURS: ['session_ttl_hours'],
  EDGETAINER_TRUST_PROXY: ['trust_proxy'],
  EDGETAINER_PROXY_PROTOCOL_FROM: ['proxy_protocol_from'],
  EDGETAINER_LOG_LEVEL: ['log_level'],
  EDGETAINER_ACME_DIRECTORY: ['acme', 'directory'],
  EDGETAINER_ACME_EMAIL: ['acme', 'email'],
  EDGETAINER_ACME_CA: ['acme', 'ca'],
  EDGETAINER_ACME_CHALLENGE: ['acme', 'challenge'],
  EDGETAINER_ACME_DNS_HOOK: ['acme', 'dns_hook'],
  EDGETAINER_TLS_CERT: ['tls', 'cert'],
  EDGETAINER_TLS_KEY: ['tls', 'key'],
  EDGETAINER_HSTS_MAX_AGE: ['hsts_max_age'],
  EDGETAINER_NODE_ID: ['node_id'],
  EDGETAINER_PEER_URL: ['peer_url'],
  EDGETAINER_NODE_HEARTBEAT_SECONDS: ['node_heartbeat_seconds'],
  EDGETAINER_DRAIN_GRACE_SECONDS: ['drain_grace_seconds'],
  EDGETAINER_DRAIN_SPREAD_SECONDS: ['drain_spread_seconds'],
  EDGETAINER_PEER_LISTEN: ['peer_listen'],
  EDGETAINER_PEER_TLS: ['peer_tls'],
  EDGETAINER_PEER_OWNER_CACHE_SECONDS: ['peer_owner_cache_seconds'],
  EDGETAINER_WORKERS: ['workers'],
  EDGETAINER_RETENTION_DEVICE_LOGS_DAYS: ['retention', 'device_logs_days'],
  EDGETAINER_RETENTION_METRICS_DAYS: ['retention', 'metrics_days'],
  EDGETAINER_RETENTION_SESSIONS_DAYS: ['retention', 'sessions_days'],
  EDGETAINER_RETENTION_INTERVAL_MINUTES: ['retention', 'interval_minutes'],
  EDGETAINER_ROLLOUT_TICK_SECONDS: ['rollout_tick_seconds'],
  EDGETAINER_GIT_FETCH_TIMEOUT_SECONDS: ['git', 'fetch_timeout_seconds'],
  EDGETAINER_GIT_MAX_FETCH_MB: ['git', 'max_fetch_mb'],
  EDGETAINER_GIT_MAX_FILE_KB: ['git', 'max_file_kb'],
  EDGETAINER_GIT_POLL_CHECK_SECONDS: ['git', 'poll_check_seconds'],
  EDGETAINER_GIT_MIN_POLL_SECONDS: ['git', 'min_poll_seconds'],
  EDGETAINER_GIT_MAX_CONCURRENT_SYNCS: ['git', 'max_concurrent_syncs'],
  EDGETAINER_GIT_ALLOW_INSECURE_TRANSPORTS: ['git', 'allow_insecure_transports'],
}

export const configEnvironmentNames = Object.keys(envOverrides)

function readYaml(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${file} must hold a mapping of keys`)
  return doc as Record<string, unknown>
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const merged: Record<string, unknown> = structuredClone(raw)
  for (const [name, keyPath] of Object.entries(envOverrides)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    let target = merged
    for (const key of keyPath.slice(0, -1)) {
      const next = target[key]
      target[key] = typeof next === 'object' && next !== null ? { ...(next as object) } : {}
      target = target[key] as Record<string, unknown>
    }
    target[keyPath[keyPath.length - 1]!] = value
  }
  return merged
}

function describeZodError(error: ZodError, env: NodeJS.ProcessEnv): string {
  const issue = error.issues[0]!
  const key = issue.path.join('.')
  const fromEnv = Object.entries(envOverrides).find(([name, p]) => p.join('.') === key && env[name])
  const where = fromEnv ? `${fromEnv[0]} (${key})` : key || 'config'
  if (issue.code === 'unrecognized_keys') return `unknown config key${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`
  return `invalid config value for ${where}: ${issue.message}`
}

/** Reads the YAML file (optional), applies environment overrides, validates once and freezes. */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = options.env ?? process.env
  const raw = applyEnv(options.file ? readYaml(options.file) : {}, env)
  const result = configSchema.safeParse(raw)
  if (!result.success) throw new ConfigError(describeZodError(result.error, env))
  const c = result.data
  const consoleHost = c.console_host ?? c.base_domain
  const publicUrl = (c.public_url ?? `http://${consoleHost}:${c.http_port}`).replace(/\/+$/, '')
  const config: Config = {
    databaseUrl: c.database_url,
    dataDir: path.resolve(c.data_dir),
    bindAddress: c.bind_address,
    httpPort: c.http_port,
    httpsPort: c.https_port,
    sshPort: c.ssh_port,
    sshPortRange: Object.freeze({ ...c.ssh_port_range }),
    tcpPortRange: Object.freeze({ ...c.tcp_port_range }),
    sshLimits: Object.freeze({
      loginGraceSeconds: c.ssh_login_grace_seconds,
      maxUnauthenticated: c.ssh_max_unauthenticated,
      maxUnauthenticatedPerAddress: c.ssh_max_unauthenticated_per_address,
      maxChannelsPerDevice: c.ssh_max_channels_per_device,
    }),
    sshCertificateTtlSeconds: c.ssh_certificate_ttl_seconds,
    terminalUser: c.terminal_user,
    terminalIdleSeconds: Math.round(c.terminal_idle_minutes * 60),
    logKeepAliveMs: Math.round(c.log_keepalive_seconds * 1000),
    baseDomain: c.base_domain,
    consoleHost,
    adminPassword: c.admin_password,
    publicUrl,
    secretKey: c.secret_key,
    releaseKeyFile: c.release_key_file === undefined ? undefined : path.resolve(c.release_key_file),
    minAgentVersion: c.min_agent_version,
    sessionTtlSeconds: Math.round(c.session_ttl_hours * 3600),
    trustProxy: c.trust_proxy,
    proxyProtocolFrom: c.proxy_protocol_from,
    logLevel: c.log_level,
    acme: Object.freeze({ ...c.acme }),
    tls: Object.freeze({ ...c.tls }),
    hstsMaxAge: c.hsts_max_age,
    rolloutTickMs: Math.round(c.rollout_tick_seconds * 1000),
    cluster: Object.freeze({
      nodeId: c.node_id,
      peerUrl: c.peer_url,
      heartbeatMs: Math.round(c.node_heartbeat_seconds * 1000),
      drainGraceMs: Math.round(c.drain_grace_seconds * 1000),
      drainSpreadMs: Math.round(c.drain_spread_seconds * 1000),
      peerListen: peerListen(c.peer_listen, c.peer_url),
      peerTls: peerTls(c.peer_tls, c.peer_url, c.peer_listen !== undefined),
      ownerCacheMs: Math.round(c.peer_owner_cache_seconds * 1000),
    }),
    workers: c.workers,
    retention: Object.freeze({
      deviceLogsDays: c.retention.device_logs_days,
      metricsDays: c.retention.metrics_days,
      sessionsDays: c.retention.sessions_days,
      intervalMs: Math.round(c.retention.interval_minutes * 60_000),
    }),
    git: Object.freeze({
      fetchTimeoutMs: Math.round(c.git.fetch_timeout_seconds * 1000),
      maxFetchBytes: Math.round(c.git.max_fetch_mb * 1024 * 1024),
      maxFileBytes: c.git.max_file_kb * 1024,
      pollCheckMs: Math.round(c.git.poll_check_seconds * 1000),
      minPollSeconds: c.git.min_poll_seconds,
      maxConcurrentSyncs: c.git.max_concurrent_syncs,
      allowInsecureTransports: c.git.allow_insecure_transports,
    }),
  }
  return Object.freeze(config)
}

/** `10.0.0.5:7946` → host and port. A wildcard host cannot be advertised to other nodes, so it needs an explicit peer_url. */
function peerListen(value: string | undefined, peerUrl: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined) return undefined
  const at = value.lastIndexOf(':')
  const host = value.slice(0, at).replace(/^\[(.*)\]$/, '$1')
  if (!peerUrl && ['0.0.0.0', '::', ''].includes(host)) throw new ConfigError(`peer_listen ${value} listens on every address: set peer_url to the address other nodes should dial`)
  return Object.freeze({ host, port: Number(value.slice(at + 1)) })
}

/** peer_tls, refused at start when this node's peer_url could never reach its own listener (a psk:// URL on a plain listener, say). */
function peerTls(on: boolean, peerUrl: string | undefined, listening: boolean): boolean {
  const problem = peerUrl === undefined ? undefined : peerUrlProblem(peerUrl, { peerTls: on, listening })
  if (problem) throw new ConfigError(problem)
  return on
}
