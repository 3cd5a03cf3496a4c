import { z } from 'zod'
import type { AgentControl } from '../../agent-api/agent-control-client.js'
import type { DeviceStore } from '../../devices/device-store.js'
import type { DeviceLogStore } from '../../telemetry/device-log-store.js'
import type { DeviceMetricsStore } from '../../telemetry/device-metrics-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery } from '../validation.js'

const since = z.iso.datetime({ offset: true }).transform((s) => new Date(s))

const metricsQuery = z.object({ since: since.optional(), limit: z.coerce.number().int().min(1).max(5000).default(500) })
const logsQuery = paginationQuery.extend({
  since: since.optional(),
  container: z.string().min(1).max(255).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
})

const restartBody = z.object({ target: z.enum(['stacks', 'host']).default('stacks') }).strict()

const commandBody = z
  .object({
    /** argv, or one string split on spaces; the device runs it without a shell. */
    command: z.union([z.array(z.string().min(1).max(4096)).min(1).max(64), z.string().trim().min(1).max(4096)]).transform((c) => (Array.isArray(c) ? c : c.split(/\s+/))),
    timeout_seconds: z.number().int().min(1).max(600).default(30),
  })
  .strict()

export function registerDeviceRuntimeRoutes(api: RouteRegistry, deps: { devices: DeviceStore; metrics: DeviceMetricsStore; logs: DeviceLogStore; control: AgentControl }) {
  const { devices, metrics, logs, control } = deps

  api.route({
    method: 'get',
    path: '/api/devices/:id/metrics',
    summary: "The device's latest heartbeat metrics and their history (since a time, newest samples up to limit)",
    tag: 'devices',
    access: 'viewer',
    query: metricsQuery,
    async handler({ params, query }) {
      const device = await devices.get(params.id!)
      const [latest, items] = await Promise.all([metrics.latest(device.id), metrics.history(device.id, query)])
      return { latest, items }
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id/logs',
    summary: 'Logs the device shipped (container output, deploy results, state changes), oldest first, paged; filter by since and container',
    tag: 'devices',
    access: 'viewer',
    query: logsQuery,
    async handler({ params, query }) {
      const device = await devices.get(params.id!)
      const { items, total } = await logs.list(device.id, query)
      return page(items, total, query)
    },
  })

  api.route({
    method: 'post',
    path: '/api/devices/:id/restart',
    summary: "Restart the device's stacks (target stacks) or reboot it (target host, if its agent allows it)",
    tag: 'devices',
    access: 'operator',
    status: 202,
    body: restartBody,
    async handler({ params, body, audit }) {
      const device = await devices.get(params.id!)
      const result = await control.restart(device.id, body)
      await audit('device.restart', 'device', device.id, { target: body.target })
      return result
    },
  })

  api.route({
    method: 'post',
    path: '/api/devices/:id/command',
    summary: "Run a command on the device through its tunnel; only what the device's allow-list permits runs. Returns output and exit code",
    tag: 'devices',
    access: 'operator',
    body: commandBody,
    async handler({ params, body, audit }) {
      const device = await devices.get(params.id!)
      try {
        const result = await control.runCommand(device.id, { command: body.command, timeout_seconds: body.timeout_seconds })
        await audit('device.command', 'device', device.id, { command: body.command[0], argv: argvForAudit(body.command), exit_code: result.exit_code, timed_out: result.timed_out })
        return result
      } catch (err) {
        await audit('device.command.refused', 'device', device.id, { command: body.command[0], argv: argvForAudit(body.command), reason: (err as { code?: string }).code ?? 'error' })
        throw err
      }
    },
  })
}

/** Option and variable names whose values are credentials. */
const secretName = /pass(word|wd|phrase)?|secret|token|api[-_]?key|private[-_]?key|credential|auth/i

/**
 * The argv as the audit log shows it: every argument, so an admin sees exactly
 * what ran, except the values of secret-named options and variables
 * (`--password x`, `--token=x`, `DB_PASSWORD=x`), since every admin reads the log.
 */
export function argvForAudit(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    const previous = i > 0 ? argv[i - 1]! : ''
    if (/^--?[A-Za-z][\w-]*$/.test(previous) && secretName.test(previous)) return '[redacted]'
    const assignment = /^(-{0,2}[A-Za-z_][\w.-]*)=/.exec(arg)
    if (assignment && secretName.test(assignment[1]!)) return `${assignment[1]}=[redacted]`
    return arg
  })
}
