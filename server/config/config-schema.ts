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
    terminal_user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a Unix user name').default('core'),
    terminal_idle_minutes: z.coerce.number().positive().max(24 * 60).default(30),
    base_domain: hostname.default('localhost'),
    console_host: hostname.optional(),
    admin_password: z.string().min(8, 'must be at least 8 characters').optional(),
    public_url: z.string().url().optional(),
    secret_key: z
      .string()
      .regex(/^[A-Za-z0-9+/]{43}=$/, 'must be 32 bytes in base64')
      .optional(),
    session_ttl_hours: z.coerce.number().positive().max(24 * 30).default(12),
    trust_proxy: z.coerce.boolean().default(false),
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
    hsts_max_age: z.coerce.number().int().min(0).max(63_072_000).default(0),
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
  /** The device user the web terminal logs in as (Flatcar's is `core`). */
  readonly terminalUser: string
  readonly terminalIdleSeconds: number
  readonly baseDomain: string
  readonly consoleHost: string
  readonly adminPassword: string | undefined
  readonly publicUrl: string
  readonly secretKey: string | undefined
  readonly sessionTtlSeconds: number
  readonly trustProxy: boolean
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
  readonly retention: {
    readonly deviceLogsDays: number
    readonly metricsDays: number
    readonly sessionsDays: number
    readonly intervalMs: number
  }
}
