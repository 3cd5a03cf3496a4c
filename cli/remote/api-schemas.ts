import { z } from 'zod'

// The parts of the gateway's answers the CLI reads. Loose objects: a newer
// gateway may add fields; a missing or mistyped field is an "unexpected answer".

const id = z.string().min(1).max(200)
const when = z.string().max(100)

export const loginAnswer = z.looseObject({ token: z.string().min(1), user: z.looseObject({ id, username: z.string(), role: z.string() }) })
export const meAnswer = z.looseObject({ id, username: z.string(), role: z.string(), authenticated_via: z.string().optional() })

export const apiToken = z.looseObject({ id, prefix: z.string(), description: z.string().nullable(), expires_at: when.nullable(), last_used_at: when.nullable().optional(), created_at: when })
export const createdApiToken = apiToken.extend({ token: z.string().min(1) })
export const apiTokenList = z.looseObject({ items: z.array(apiToken) })

export const provisionToken = z.looseObject({
  id,
  fleet_id: z.string().nullable(),
  name: z.string().nullable(),
  prefix: z.string().nullable().optional(),
  max_uses: z.number().nullable(),
  uses: z.number(),
  expires_at: when.nullable(),
  state: z.string(),
})
export const createdProvisionToken = provisionToken.extend({ token: z.string().min(1) })
export const provisionTokenList = z.looseObject({ items: z.array(provisionToken) })

export const containerState = z.looseObject({
  name: z.string(),
  service: z.string().nullable(),
  /** Set by agents that label their own stacks; null for containers the agent does not run. */
  software_id: z.string().nullable().optional(), project: z.string().nullable().optional(), image: z.string().optional(), state: z.string().optional(), health: z.string().nullable().optional() })

export const device = z.looseObject({
  id,
  device_id: z.string(),
  name: z.string(),
  fleet_id: z.string().nullable(),
  status: z.string(),
  last_seen: when.nullable(),
  ip_address: z.string().nullable().optional(),
  subdomain: z.string().nullable().optional(),
  /** `key=value` labels; gateways before labels send none. */
  labels: z.record(z.string(), z.string()).optional(),
  /** Why the device needs attention, in words (a failed or rolled-back deploy); null when it does not. */
  attention: z.string().nullable().optional(),
  /** `docker_error`: why the agent could not read its containers at its last heartbeat; gateways before it send none. */
  metrics: z.looseObject({ containers: z.array(containerState).optional(), docker_error: z.string().nullable().optional() }).nullable().optional(),
})
export type Device = z.infer<typeof device>

const pageOf = <T extends z.ZodType>(item: T) => z.looseObject({ items: z.array(item), total: z.number().int().min(0) })

export const devicePage = pageOf(device)
export const fleet = z.looseObject({ id, name: z.string() })
export const fleetPage = pageOf(fleet)
export const software = z.looseObject({ id, name: z.string(), current_version: z.string().nullable().optional() })
export const softwarePage = pageOf(software)

export const logEntry = z.looseObject({
  id: z.union([z.string(), z.number()]),
  log_type: z.string(),
  container: z.string().nullable(),
  message: z.string(),
  created_at: when,
  seq: z.number().nullable().optional(),
})
export type LogEntry = z.infer<typeof logEntry>
export const logPage = pageOf(logEntry)

export const envVar = z.looseObject({ value: z.string(), secret: z.boolean(), description: z.string().nullable().optional() })
export type EnvVar = z.infer<typeof envVar>
export const envSet = z.record(z.string(), envVar)
export const envSets = z.looseObject({ containers: z.record(z.string(), envSet) })
export const softwareEnv = z.looseObject({ version: z.string().nullable().optional(), vars: envSet, services: z.record(z.string(), envSet) })

export const deployment = z.looseObject({ id, software_id: z.string().optional(), software_name: z.string().optional(), version: z.string().nullable().optional(), pinned: z.boolean().optional() })

/** Device counts per rollout device state (pending, downloading, …, cancelled); a newer gateway may add states. */
const stateCounts = z.record(z.string(), z.number().int().min(0))

export const rolloutSummary = z.looseObject({
  id,
  software_id: z.string(),
  software_name: z.string(),
  version: z.string(),
  fleet_id: z.string().nullable(),
  selector: z.string().nullable().optional(),
  device_ids: z.array(z.string()).nullable().optional(),
  strategy: z.string(),
  settings: z.record(z.string(), z.unknown()),
  status: z.string(),
  reason: z.string().nullable(),
  current_wave: z.number().int(),
  wave_count: z.number().int(),
  created_by: z.string().nullable().optional(),
  created_at: when,
  started_at: when.nullable(),
  finished_at: when.nullable(),
  total: z.number().int().min(0),
  counts: stateCounts,
})
export type RolloutSummary = z.infer<typeof rolloutSummary>
export const rolloutPage = pageOf(rolloutSummary)

export const rolloutDetail = rolloutSummary.extend({
  waves: z.array(z.looseObject({ index: z.number().int(), size: z.number().int().min(0), status: z.string(), counts: stateCounts })),
  devices: z.array(
    z.looseObject({
      id,
      device_id: z.string(),
      name: z.string(),
      wave: z.number().int(),
      state: z.string(),
      reason: z.string().nullable(),
      online: z.boolean(),
      previous_version: z.string().nullable().optional(),
      attempt: z.number().int().optional(),
      state_since: when.nullable().optional(),
    }),
  ),
})
export type RolloutDetail = z.infer<typeof rolloutDetail>

export const gatewayInfo = z.looseObject({
  version: z.string(),
  url: z.string(),
  ssh: z.looseObject({ host: z.string().min(1).max(253), port: z.number().int().min(1).max(65_535), host_key: z.string().max(16_384), device_user: z.string().optional() }),
})
export type GatewayInfo = z.infer<typeof gatewayInfo>

export const sshCertificate = z.looseObject({ certificate: z.string().min(1).max(32_768), valid_before: when })

export const noContent = z.unknown()
