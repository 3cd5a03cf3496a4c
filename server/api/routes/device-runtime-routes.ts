import { z } from 'zod'
import type { AgentControl } from '../../agent-api/agent-control-client.js'
import type { DeviceStore } from '../../devices/device-store.js'
import type { DeviceMetricsStore } from '../../telemetry/device-metrics-store.js'
import { ValidationError } from '../../errors.js'
import type { RouteRegistry } from '../route-registry.js'

const since = z.iso.datetime({ offset: true }).transform((s) => new Date(s))

const metricsQuery = z.object({ since: since.optional(), limit: z.coerce.number().int().min(1).max(5000).default(500) })

const restartBody = z.object({ target: z.enum(['stacks', 'host']).default('stacks') }).strict()

const commandBody = z
  .object({
    /** argv, or one string split on spaces; the device runs it without a shell. */
    command: z.union([z.array(z.string().min(1).max(4096)).min(1).max(64), z.string().trim().min(1).max(4096)]).transform((c) => (Array.isArray(c) ? c : c.split(/\s+/))),
    timeout_seconds: z.number().int().min(1).max(600).default(30),
  })
  .strict()

const servicePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/
const containerBody = z.object({ software_id: z.uuid().optional() }).strict()

export function registerDeviceRuntimeRoutes(api: RouteRegistry, deps: { devices: DeviceStore; metrics: DeviceMetricsStore; control: AgentControl }) {
  const { devices, metrics, control } = deps

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

  for (const action of ['restart', 'stop', 'start'] as const) {
    api.route({
      method: 'post',
      path: `/api/devices/:id/containers/:service/${action}`,
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} the containers of one compose service on the device (by service name, e.g. web); the agent carries it out. Body: optional software_id when two stacks have the service`,
      tag: 'devices',
      access: 'operator',
      body: containerBody,
      async handler({ params, body, audit }) {
        const device = await devices.get(params.id!)
        const service = params.service!
        if (!servicePattern.test(service)) throw new ValidationError('service', 'must be a compose service name (letters, digits, dot, dash, underscore)')
        try {
          const result = await control.container(device.id, { service, action, ...(body.software_id ? { software_id: body.software_id } : {}) })
          await audit(`device.container.${action}`, 'device', device.id, { service, software_id: body.software_id ?? null, containers: result.containers.map((c) => c.name) })
          return result
        } catch (err) {
          await audit(`device.container.${action}.failed`, 'device', device.id, { service, reason: (err as { code?: string }).code ?? 'error' })
          throw err
        }
      },
    })
  }

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
