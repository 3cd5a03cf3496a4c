import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'

export class AgentConfigError extends Error {
  override name = 'AgentConfigError'
}

const port = z.coerce.number().int().min(1).max(65535)
const seconds = (min: number, max: number) => z.coerce.number().min(min).max(max)

/**
 * agent.yaml. Ignition writes the first seven keys; the rest have defaults
 * and exist for tests and unusual devices.
 */
export const agentConfigSchema = z
  .object({
    server_url: z.url({ protocol: /^https?$/ }).optional(),
    ssh_host: z.string().min(1).max(253).optional(),
    ssh_port: port.optional(),
    /** OpenSSH public-key line of the gateway; when set, only this key is trusted. */
    host_key: z
      .string()
      .regex(/^(ssh-ed25519|ecdsa-sha2-nistp\d+|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/, 'must be an OpenSSH public-key line')
      .optional(),
    token: z.string().min(1).max(200).optional(),
    data_dir: z.string().min(1).default('/var/lib/edgetainer-agent'),
    /** The compose command (`docker compose`, `docker-compose`) or the docker binary; auto-detected when unset. */
    docker: z.string().min(1).optional(),
    /**
     * dockerd's socket, as DOCKER_HOST spells it. The agent reads container state through its Engine API there,
     * and its docker and compose commands get it as DOCKER_HOST. Unset: DOCKER_HOST when that is a unix socket, else the default.
     */
    docker_host: z.string().regex(/^unix:\/\/\/[^\0]+$/, 'must be unix:///<path of the docker socket>').optional(),
    /** Commands the gateway may run: exact argv strings, a trailing `*` allowing any further arguments. */
    command_allowlist: z.array(z.string().min(1).max(1024)).default([]),
    reconnect_max_seconds: seconds(1, 3600).default(60),
    reconnect_base_seconds: seconds(0.05, 60).default(1),
    /** Where the device's own SSH daemon listens; the gateway's terminal reaches it through the tunnel. */
    sshd_address: z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port').default('127.0.0.1:22'),
    /** Until the gateway says otherwise in its first heartbeat reply. */
    heartbeat_seconds: seconds(1, 3600).default(30),
    /** How often container states and logs are looked at while `docker events` is down (with it, as changes happen, and every max(60, this) seconds). */
    watch_seconds: seconds(0.2, 600).default(5),
    deploy_timeout_seconds: seconds(1, 3600).default(120),
    /** How long every container must keep running before a deploy counts as good. */
    deploy_stable_seconds: seconds(0, 600).default(5),
    /** How often an update held back by a container's update lock is tried again. */
    update_lock_retry_seconds: seconds(0.1, 3600).default(15),
    outbox_max_bytes: z.coerce.number().int().min(64 * 1024).default(16 * 1024 * 1024),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** The gateway's agent release key (`ed25519:<base64url>`), pinned by Ignition; without it no update is accepted. */
    release_key: z.string().regex(/^ed25519:[A-Za-z0-9_-]{43}$/, 'must be an ed25519:<base64url> release key').optional(),
    /** The agent's own executable, which a self-update replaces (keeping `<path>.previous`). */
    executable_path: z.string().regex(/^\//, 'must be an absolute path').default('/opt/bin/edgetainer-agent'),
    /** How often the agent asks the gateway whether it should run another version. */
    update_check_seconds: seconds(0.2, 86_400).default(300),
    /** After an update, how long the new agent has to bring the tunnel up and get a heartbeat accepted before it rolls back. */
    update_self_check_seconds: seconds(1, 3600).default(120),
  })
  .strict()

export type AgentConfigInput = z.input<typeof agentConfigSchema>
export type AgentConfig = Readonly<z.output<typeof agentConfigSchema>>

const ENV_PREFIX = 'EDGETAINER_AGENT_'
const keys = Object.keys(agentConfigSchema.shape)

/** EDGETAINER_AGENT_<KEY> overrides <key>; a list is a JSON array or comma-separated. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const merged = { ...raw }
  for (const key of keys) {
    const value = env[ENV_PREFIX + key.toUpperCase()]
    if (value === undefined || value === '') continue
    if (key === 'command_allowlist') {
      merged[key] = value.trim().startsWith('[') ? safeJson(value, key) : value.split(',').map((s) => s.trim()).filter(Boolean)
    } else merged[key] = value
  }
  return merged
}

function safeJson(value: string, key: string): unknown {
  try {
    return JSON.parse(value)
  } catch {
    throw new AgentConfigError(`${ENV_PREFIX}${key.toUpperCase()} is not a valid JSON array`)
  }
}

function readYaml(file: string): Record<string, unknown> {
  let doc: unknown
  try {
    doc = parseYaml(readFileSync(file, 'utf8'))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new AgentConfigError(code ? `cannot read ${file}: ${code}` : `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new AgentConfigError(`${file} must hold a mapping of keys`)
  return doc as Record<string, unknown>
}

/** Reads agent.yaml (optional), applies EDGETAINER_AGENT_* overrides, validates once and freezes. */
export function loadAgentConfig(options: { file?: string; env?: NodeJS.ProcessEnv; values?: AgentConfigInput } = {}): AgentConfig {
  const env = options.env ?? process.env
  const raw = applyEnv({ ...(options.file ? readYaml(options.file) : {}), ...options.values }, env)
  const result = agentConfigSchema.safeParse(raw)
  if (!result.success) {
    const issue = result.error.issues[0]!
    if (issue.code === 'unrecognized_keys') throw new AgentConfigError(`unknown agent config key: ${issue.keys.join(', ')}`)
    throw new AgentConfigError(`invalid agent config value for ${issue.path.join('.') || 'config'}: ${issue.message}`)
  }
  return Object.freeze({ ...result.data, data_dir: path.resolve(result.data.data_dir), command_allowlist: Object.freeze([...result.data.command_allowlist]) as string[] })
}
