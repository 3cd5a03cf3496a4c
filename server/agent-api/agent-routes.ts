import { createHash } from 'node:crypto'
import type { Express, Request } from 'express'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { DeviceResolver } from '../deployments/device-resolver.js'
import type { RestartQueue } from '../env/restart-queue.js'
import { NotFoundError } from '../errors.js'
import { parseInput } from '../api/validation.js'
import type { ExposedServiceStore } from '../services/exposed-service-store.js'
import type { DeviceMetricsStore } from '../telemetry/device-metrics-store.js'
import type { OutboxIngest } from '../telemetry/outbox-ingest.js'
import type { DeviceSession } from '../tunnel/device-session.js'
import { agentApi, type AgentConfigResponse, type AgentRoute } from '../../shared/agent-wire.js'
import { heartbeatBody, statusBody, triageEvents } from './agent-schemas.js'

export interface AgentRouteDeps {
  db: Kysely<Database>
  resolver: DeviceResolver
  services: ExposedServiceStore
  restarts: RestartQueue
  metrics: DeviceMetricsStore
  ingest: OutboxIngest
  /** The key the gateway sends with control requests to this device. */
  controlKey(deviceUuid: string): string
  heartbeatSeconds: number
}

/**
 * The agent API: every handler acts as the device whose tunnel carried the
 * request, never as one named in the request.
 */
export function mountAgentRoutes(app: Express, sessionOf: (req: Request) => DeviceSession, deps: AgentRouteDeps) {
  const { db } = deps

  /** Serves one route of the shared table; the handler's answer must be that route's response type. */
  function serve<RequestBody, ResponseBody>(route: AgentRoute<RequestBody, ResponseBody>, handler: (req: Request) => Promise<ResponseBody>) {
    const register = route.method === 'GET' ? app.get.bind(app) : app.post.bind(app)
    register(route.path, async (req: Request, res) => {
      res.json(await handler(req))
    })
  }

  async function deviceOf(req: Request) {
    const session = sessionOf(req)
    const device = await db.selectFrom('devices').selectAll().where('id', '=', session.device.id).executeTakeFirst()
    if (!device) throw new NotFoundError('DEVICE_NOT_FOUND', 'device')
    return device
  }

  async function snapshot(device: { id: string; device_id: string; name: string; subdomain: string }) {
    const [plan, services] = await Promise.all([deps.resolver.resolveForDevice(device.id, { revealSecrets: true }), deps.services.list(device.id)])
    const config: AgentConfigResponse = {
      id: device.id,
      device_id: device.device_id,
      name: device.name,
      subdomain: device.subdomain,
      heartbeat_seconds: deps.heartbeatSeconds,
      services: services
        .filter((s) => s.enabled)
        .map((s) => ({ name: s.name, container_name: s.container_name, internal_port: s.internal_port, protocol: s.protocol })),
      control_key: deps.controlKey(device.id),
    }
    // One digest over everything the agent acts on: any change makes it refetch.
    const revision = createHash('sha256').update(JSON.stringify({ config, plan })).digest('hex').slice(0, 32)
    return { config, software: plan.software, revision }
  }

  serve(agentApi.heartbeat, async (req) => {
    const device = await deviceOf(req)
    const body = parseInput(heartbeatBody, req.body)
    // The gateway's clock, not the device's: history queries by time must agree across devices.
    await deps.metrics.record(device.id, { recorded_at: new Date(), metrics: body.metrics, containers: body.containers, software: body.software })
    await db.updateTable('devices').set({ last_seen: new Date() }).where('id', '=', device.id).execute()
    const [{ revision }, pending] = await Promise.all([snapshot(device), deps.restarts.pending(device.id)])
    return { interval_seconds: deps.heartbeatSeconds, revision, restarts_pending: pending.length }
  })

  serve(agentApi.config, async (req) => (await snapshot(await deviceOf(req))).config)

  serve(agentApi.software, async (req) => {
    const { software, revision } = await snapshot(await deviceOf(req))
    return { revision, software }
  })

  serve(agentApi.status, async (req) => {
    const device = await deviceOf(req)
    const envelope = parseInput(statusBody, req.body, '', { itemsCheckedApart: 'events' })
    // Refused per event, not per batch: one poisoned line must not hold back the deploy results behind it.
    const { valid, rejected } = triageEvents(envelope.events)
    const { acked_seq } = await deps.ingest.ingest(device.id, { ...envelope, events: valid }, rejected)
    return rejected.length ? { acked_seq, rejected } : { acked_seq }
  })

  serve(agentApi.restarts, async (req) => {
    const taken = await deps.restarts.take((await deviceOf(req)).id)
    return { restarts: taken.map((r) => ({ id: r.id, container: r.container })) }
  })
}
