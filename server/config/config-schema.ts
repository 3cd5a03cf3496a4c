/*
 * Every setting the gateway reads: the YAML file's schema (with its checks, defaults and messages) and the
 * typed Config that load-config.ts builds from it. Over 300 lines on purpose: the schema and the Config it
 * becomes are one list of settings, read side by side; split by area, adding a setting would touch both
 * halves of several files.
 */
import { isIP } from 'node:net'
import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)
const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'must be a DNS host name')
  .transform((s) => s.toLowerCase())

const portRange = z
  .string()
  .regex(/^\d+-\d+$/, 'must look like 20000-29999')
  .transform((s) => {
    const [start, end] = s.split('-').map(Number) as [number, number]
    return { start, end }
  })
  .refine((r) => r.start >= 1024 && r.end <= 65535 && r.start <= r.end, 'must lie within 1024-65535, low-high')

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1'])
const FALSE_WORDS = new Set(['false', 'no', 'off', '0'])

function shown(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value) ?? typeof value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/**
 * A boolean that means what it says: YAML booleans, or true/false, yes/no,
 * on/off, 1/0 (any case). Anything else is an error. zod's coerce.boolean
 * turned every non-empty string, "false" included, into true; use this for
 * every boolean setting instead.
 */
export function strictBoolean(defaultValue: boolean) {
  return z.unknown().optional().transform((value, ctx): boolean => {
    if (value === undefined) return defaultValue
    if (typeof value === 'boolean') return value
    if (value === 1 || value === 0) return value === 1
    if (typeof value === 'string') {
      const word = value.trim().toLowerCase()
      if (TRUE_WORDS.has(word)) return true
      if (FALSE_WORDS.has(word)) return false
    }
    ctx.addIssue({ code: 'custom', message: `must be true or false (or yes/no, on/off, 1/0), got ${shown(value)}` })
    return z.NEVER
  })
}

/** What express's `trust proxy` gets: off, a hop count, or the proxies' addresses and CIDR ranges. */
export type TrustProxy = false | number | readonly string[]

/** proxy-addr's names for well-known ranges. */
const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])
const MAX_PROXY_HOPS = 32

function isAddressOrCidr(entry: string): boolean {
  if (TRUST_PROXY_NAMES.has(entry)) return true
  const [address = '', prefix, ...rest] = entry.split('/')
  const family = isIP(address)
  if (!family || rest.length) return false
  if (prefix === undefined) return true
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)
}

const TRUST_PROXY_FORMS = 'false, a hop count (1 for one proxy in front), or proxy addresses/CIDRs such as "10.0.0.0/8, 127.0.0.1"'

/**
 * `trust_proxy` decides whose X-Forwarded-For the gateway believes, which is
 * the address every limiter keys on. `true` (trust every hop) is refused: any
 * client could then name its own address and walk past the login limiter.
 */
const trustProxy = z.unknown().optional().transform((value, ctx): TrustProxy => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message })
    return z.NEVER
  }
  if (value === undefined || value === false || value === 0) return false
  if (value === true) return fail(`true would trust every X-Forwarded-For hop, so any client could choose its own address; use ${TRUST_PROXY_FORMS}`)
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0 && value <= MAX_PROXY_HOPS) return value
    return fail(`a hop count must be a whole number from 1 to ${MAX_PROXY_HOPS}, got ${shown(value)}`)
  }
  let entries: unknown[]
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase()
    if (FALSE_WORDS.has(word)) return false
    if (TRUE_WORDS.has(word) && word !== '1') {
      return fail(`${word} would trust every X-Forwarded-For hop, so any client could choose its own address; use ${TRUST_PROXY_FORMS}`)
    }
    if (/^\d+$/.test(word)) {
      const hops = Number(word)
      return hops >= 1 && hops <= MAX_PROXY_HOPS ? hops : fail(`a hop count must be a whole number from 1 to ${MAX_PROXY_HOPS}, got ${shown(value)}`)
    }
    entries = value.split(',').map((e) => e.trim())
  } else if (Array.isArray(value)) {
    entries = value.map((e) => (typeof e === 'string' ? e.trim() : e))
  } else {
    return fail(`must be ${TRUST_PROXY_FORMS}`)
  }
  if (entries.length === 0) return fail(`must be ${TRUST_PROXY_FORMS}`)
  const bad = entries.find((e) => typeof e !== 'string' || !isAddressOrCidr(e))
  if (bad !== undefined) return fail(`${shown(bad)} is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal; use ${TRUST_PROXY_FORMS}`)
  return Object.freeze(entries as string[])
})
/**
 * `proxy_protocol_from`: the load balancers (addresses or CIDR ranges) whose SSH and HTTPS
 * connections start with a PROXY header naming the client. Empty (the default): no one's.
 */
const proxyProtocolFrom = z.unknown().optional().transform((value, ctx): readonly string[] => {
  if (value === undefined || value === null || value === '') return Object.freeze([])
  const entries = typeof value === 'string' ? value.split(',').map((e) => e.trim()) : Array.isArray(value) ? value.map((e) => (typeof e === 'string' ? e.trim() : e)) : undefined
  const bad = entries === undefined ? value : entries.find((e) => typeof e !== 'string' || TRUST_PROXY_NAMES.has(e) || !isAddressOrCidr(e))
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `${shown(bad)} is not an IP address or a CIDR range; list the load balancers' addresses, such as "172.28.0.10" or "10.0.0.0/8, fd00::/8"` })
    return z.NEVER
  }
  return Object.freeze(entries as string[])
})
const retentionDays = z.coerce.number().min(0).max(36_500)

/** The YAML file's shape. Every key has a default, so an empty file is a working config. */
export const configSchema = z
  .object({
    database_url: z.string().url().optional(),
    data_dir: z.string().min(1).default('./data'),
    bind_address: z.string().min(1).default('0.0.0.0'),
    http_port: port.default(8080),
    https_port: port.default(8443),
    ssh_port: port.default(2222),
    ssh_port_range: portRange.default({ start: 20000, end: 29999 }),
    tcp_port_range: portRange.default({ start: 30000, end: 30999 }),
    /** Pre-authentication limits of the SSH listener (see server/tunnel/preauth-gate.ts). */
    ssh_login_grace_seconds: z.coerce.number().positive().max(600).default(30),
    ssh_max_unauthenticated: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    ssh_max_unauthenticated_per_address: z.coerce.number().int().min(1).max(1_000_000).default(50),
    ssh_max_channels_per_device: z.coerce.number().int().min(1).max(10_000).default(32),
    /** Lifetime of the OpenSSH user certificates POST /api/ssh/certificates issues; capped at a day. */
    ssh_certificate_ttl_seconds: z.coerce.number().int().min(60).max(86_400).default(3600),
    terminal_user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name').default('core'),
    terminal_idle_minutes: z.coerce.number().positive().max(24 * 60).default(30),
    /** Comment line sent on idle live-log streams, so proxies keep them open. */
    log_keepalive_seconds: z.coerce.number().positive().max(3600).default(15),
    base_domain: hostname.default('localhost'),
    console_host: hostname.optional(),
    admin_password: z.string().min(8, 'must be at least 8 characters').optional(),
    public_url: z.string().url().optional(),
    secret_key: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64')
      .optional(),
    /** PEM ed25519 private key that signs agent releases; generated into the data dir when unset. */
    release_key_file: z.string().min(1).optional(),
    /** Devices running an older agent are flagged in the console and API. */
    min_agent_version: z
      .string()
      .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be MAJOR.MINOR.PATCH')
      .default('0.1.0'),
    session_ttl_hours: z.coerce.number().positive().max(24 * 30).default(12),
    trust_proxy: trustProxy,
    proxy_protocol_from: proxyProtocolFrom,
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    acme: z
      .object({
        directory: z.string().url().optional(),
        email: z.string().email().optional(),
        ca: z.string().optional(),
        /** How the CA checks control of a host name; tls-alpn-01 needs only port 443. */
        challenge: z.enum(['http-01', 'tls-alpn-01']).optional(),
        /** Executable run as `<hook> set|clear <record> <value>` for DNS-01; enables the `*.<base>` certificate. */
        dns_hook: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    tls: z
      .object({ cert: z.string().optional(), key: z.string().optional() })
      .strict()
      .default({}),
    /** Strict-Transport-Security max-age in seconds on HTTPS answers; 0 sends no header. */
    /** This gateway node's id in the cluster registry (issue 17); a random uuid per start when unset. */
    node_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, dots, dashes or underscores').optional(),
    /** How other nodes reach this node's peer listener; unset: derived from peer_listen. */
    peer_url: z.string().url().optional(),
    /** How often the node refreshes its registry row; three missed beats mark it stale. */
    node_heartbeat_seconds: z.coerce.number().min(0.05).max(3600).default(10),
    /** On SIGTERM, how long the node waits for its devices to move to other nodes before it closes anyway. */
    drain_grace_seconds: z.coerce.number().min(0).max(3600).default(30),
    /** On SIGTERM, the window over which device sessions are closed (at random moments), so they do not reconnect all at once. */
    drain_spread_seconds: z.coerce.number().min(0).max(3600).default(10),
    /** `host:port` of this node's peer listener (docs/cluster-forwarding.md); unset: no forwarding, a single node. */
    peer_listen: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. 10.0.0.5:7946')
      .refine((v) => Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535')
      .optional(),
    /**
     * The peer listener speaks TLS 1.3 keyed from secret_key (peer_url `psk://`); off: plain HTTP
     * (`http://`, or `https://` through a terminator), for a rolling upgrade from a version without it.
     */
    peer_tls: strictBoolean(true),
    /** How long a device's owning node, read from the database, is reused before it is read again. */
    peer_owner_cache_seconds: z.coerce.number().min(0).max(60).default(1),
    /** `edgetainer server` worker processes (docs/deploy.md); unset: one per core on PostgreSQL, 1 on PGlite. */
    workers: z.coerce.number().int().min(1).max(256).optional(),
    hsts_max_age: z.coerce.number().int().min(0).max(63_072_000).default(0),
    /** How often the rollout engine looks at running rollouts. */
    rollout_tick_seconds: z.coerce.number().min(0.05).max(3600).default(5),
    /** How long what grows is kept; 0 keeps it for ever. */
    retention: z
      .object({
        device_logs_days: retentionDays.default(14),
        metrics_days: retentionDays.default(7),
        sessions_days: retentionDays.default(30),
        interval_minutes: z.coerce.number().min(0.001).max(24 * 60).default(60),
      })
      .strict()
      .prefault({}),
    /** Software from git repositories (docs/git-sources.md). */
    git: z
      .object({
        fetch_timeout_seconds: z.coerce.number().positive().max(3600).default(60),
        max_fetch_mb: z.coerce.number().positive().max(10_240).default(50),
        max_file_kb: z.coerce.number().int().min(1).max(256).default(256),
        poll_check_seconds: z.coerce.number().min(0.05).max(3600).default(15),
        min_poll_seconds: z.coerce.number().int().min(1).max(86_400).default(60),
        max_concurrent_syncs: z.coerce.number().int().min(1).max(64).default(2),
        /** http:// and file:// remotes: for tests against local servers only, never on a gateway that faces users. */
        allow_insecure_transports: strictBoolean(false),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type ConfigInput = z.input<typeof configSchema>

/** The validated, derived and frozen configuration handed to every part. */
export interface Config {
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  readonly bindAddress: string
  readonly httpPort: number
  readonly httpsPort: number
  readonly sshPort: number
  readonly sshPortRange: { readonly start: number; readonly end: number }
  /** Loopback ports the gateway binds for `tcp` exposed services. */
  readonly tcpPortRange: { readonly start: number; readonly end: number }
  /** Unauthenticated SSH sockets: login deadline and caps; channels per device session. */
  readonly sshLimits: {
    readonly loginGraceSeconds: number
    readonly maxUnauthenticated: number
    readonly maxUnauthenticatedPerAddress: number
    readonly maxChannelsPerDevice: number
  }
  /** How long a gateway-issued OpenSSH user certificate is valid (docs/admin-access.md). */
  readonly sshCertificateTtlSeconds: number
  /** The device user the web terminal logs in as (Flatcar's is `core`). */
  readonly terminalUser: string
  readonly terminalIdleSeconds: number
  /** How often an idle live-log stream (`GET /api/devices/:id/logs?follow=1`) sends `: keep-alive`. */
  readonly logKeepAliveMs: number
  readonly baseDomain: string
  readonly consoleHost: string
  readonly adminPassword: string | undefined
  readonly publicUrl: string
  readonly secretKey: string | undefined
  /** The agent release signing key (PEM); undefined: `release_ed25519_key.pem` in the data dir. */
  readonly releaseKeyFile: string | undefined
  /** The oldest agent this gateway supports; older ones get a warning. */
  readonly minAgentVersion: string
  readonly sessionTtlSeconds: number
  /** Whose X-Forwarded-For to believe (express `trust proxy`); off by default. */
  readonly trustProxy: TrustProxy
  /** Peers whose SSH and HTTPS connections begin with a PROXY header (HAProxy `send-proxy-v2`); empty: none. */
  readonly proxyProtocolFrom: readonly string[]
  readonly logLevel: string
  readonly acme: {
    readonly directory?: string
    readonly email?: string
    readonly ca?: string
    readonly challenge?: 'http-01' | 'tls-alpn-01'
    readonly dns_hook?: string
  }
  readonly tls: { readonly cert?: string; readonly key?: string }
  readonly hstsMaxAge: number
  readonly rolloutTickMs: number
  /** The cluster node registry: this node's id (unset: a random uuid per start), peer address and heartbeat. */
  readonly cluster: {
    readonly nodeId: string | undefined
    readonly peerUrl: string | undefined
    readonly heartbeatMs: number
    /** SIGTERM: the longest wait for devices to move, and the window their sessions are closed over. */
    readonly drainGraceMs: number
    readonly drainSpreadMs: number
    /** The peer listener (`host:port`); unset: this node neither forwards nor accepts forwarded traffic. */
    readonly peerListen: { readonly host: string; readonly port: number } | undefined
    /** The peer listener speaks TLS-PSK (true, the default) or plain HTTP (`peer_tls: off`). */
    readonly peerTls: boolean
    readonly ownerCacheMs: number
  }
  /** Worker processes `edgetainer server` runs (undefined: one per core on PostgreSQL, 1 on PGlite). */
  readonly workers: number | undefined
  readonly retention: {
    readonly deviceLogsDays: number
    readonly metricsDays: number
    readonly sessionsDays: number
    readonly intervalMs: number
  }
  readonly git: {
    readonly fetchTimeoutMs: number
    readonly maxFetchBytes: number
    readonly maxFileBytes: number
    readonly pollCheckMs: number
    readonly minPollSeconds: number
    readonly maxConcurrentSyncs: number
    readonly allowInsecureTransports: boolean
  }
}
