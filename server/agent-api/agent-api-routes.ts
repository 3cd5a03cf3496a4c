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
import { heartbeatBody, statusBody, triageEvents } from './agent-api-schemas.js'
import { etagOf, type TargetRevisions } from './target-revision.js'

const NOT_MODIFIED = Symbol('not modified')

export interface AgentRouteDeps {
  db: Kysely<Database>
  resolver: DeviceResolver
  services: ExposedServiceStore
  restarts: RestartQueue
  metrics: DeviceMetricsStore
  ingest: OutboxIngest
  revisions: TargetRevisions
  /** The key the gateway sends with control requests to this device. */
  controlKey(deviceUuid: string): string
  heartbeatSeconds: number
  /** Remembers which agent each device runs (its heartbeat says). */
  recordAgent?(deviceUuid: string, version: string, arch: 'x64' | 'arm64' | undefined): Promise<void>
}

/**
 * The agent API: every handler acts as the device whose tunnel carried the
 * request, never as one named in the request.
 */
export function mountAgentRoutes(app: Express, sessionOf: (req: Request) => DeviceSession, deps: AgentRouteDeps) {
  const { db } = deps

  /**
   * Serves one route of the shared table; the handler's answer must be that route's response type,
   * or NOT_MODIFIED after it set an ETag that the request's If-None-Match holds.
   */
  function serve<RequestBody, ResponseBody>(route: AgentRoute<RequestBody, ResponseBody>, handler: (req: Request) => Promise<ResponseBody | typeof NOT_MODIFIED>) {
    const register = route.method === 'GET' ? app.get.bind(app) : app.post.bind(app)
    register(route.path, async (req: Request, res) => {
      const answer = await handler(req)
      if (answer === NOT_MODIFIED) return void res.status(304).end()
      res.json(answer)
    })
  }

  /** Sets the ETag; true when the request already holds it (express's req.fresh: lists, weak tags and `*`, as RFC 9110 reads them). */
  function holds(req: Request, etag: string): boolean {
    req.res!.set('ETag', etag)
    return req.fresh
  }

  async function deviceOf(req: Request) {
    const session = sessionOf(req)
    const device = await db.selectFrom('devices').selectAll().where('id', '=', session.device.id).executeTakeFirst()
    if (!device) throw new NotFoundError('DEVICE_NOT_FOUND', 'device')
    return device
  }

  async function configOf(device: { id: string; device_id: string; name: string; subdomain: string }): Promise<AgentConfigResponse> {
    const services = await deps.services.list(device.id)
    return {
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
  }

  /** The whole target, secrets decrypted: only when the agent fetches it or its inputs changed. */
  async function snapshot(device: { id: string; device_id: string; name: string; subdomain: string }, stamp: string | undefined) {
    const [plan, config] = await Promise.all([deps.resolver.resolveForDevice(device.id, { revealSecrets: true }), configOf(device)])
    const revision = deps.revisions.revisionOf({ config, plan })
    if (stamp) deps.revisions.remember(device.id, stamp, revision)
    return { config, software: plan.software, revision }
  }

  /** The revision from the cache while the target's inputs are unchanged; else from a fresh snapshot. Stamp first: a change racing the resolve then only costs one more resolve. */
  async function revisionOf(device: { id: string; device_id: string; name: string; subdomain: string }) {
    const stamp = await deps.revisions.stamp(device.id)
    const cached = stamp ? deps.revisions.cached(device.id, stamp) : undefined
    return { revision: cached ?? (await snapshot(device, stamp)).revision }
  }

  serve(agentApi.heartbeat, async (req) => {
    const body = parseInput(heartbeatBody, req.body)
    // The gateway's clock, not the device's: history queries by time must agree across devices.
    const now = new Date()
    // Finding the device and marking it seen is one statement: a fleet's heartbeats are most of the agent API's load.
    const device = await db.updateTable('devices').set({ last_seen: now }).where('id', '=', sessionOf(req).device.id).returningAll().executeTakeFirst()
    if (!device) throw new NotFoundError('DEVICE_NOT_FOUND', 'device')
    await deps.metrics.record(device.id, { recorded_at: now, metrics: body.metrics, containers: body.containers, software: body.software, docker_error: body.docker_error })
    await deps.recordAgent?.(device.id, body.agent_version, body.agent_arch)
    const [{ revision }, pending] = await Promise.all([revisionOf(device), deps.restarts.pending(device.id)])
    return { interval_seconds: deps.heartbeatSeconds, revision, restarts_pending: pending.length }
  })

  serve(agentApi.config, async (req) => configOf(await deviceOf(req)))

  serve(agentApi.software, async (req) => {
    const device = await deviceOf(req)
    const stamp = await deps.revisions.stamp(device.id)
    const cached = stamp ? deps.revisions.cached(device.id, stamp) : undefined
    // Unchanged and the agent holds it: 304 without resolving or decrypting anything.
    if (cached && holds(req, etagOf(cached))) return NOT_MODIFIED
    const { software, revision } = await snapshot(device, stamp)
    return holds(req, etagOf(revision)) ? NOT_MODIFIED : { revision, software }
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
