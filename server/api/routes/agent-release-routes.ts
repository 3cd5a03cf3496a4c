import { z } from 'zod'
import type { DeviceStore } from '../../devices/device-store.js'
import { ConflictError, ValidationError } from '../../errors.js'
import type { FleetStore } from '../../fleets/fleet-store.js'
import type { AgentTargets } from '../../releases/agent-targets.js'
import type { ReleaseStore } from '../../releases/release-store.js'
import { compareVersions } from '../../../shared/agent-release.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'

const targetBody = z
  .object({
    /** An agent version the gateway has a release of; null clears the target. */
    version: z
      .string()
      .max(64)
      .regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'must be MAJOR.MINOR.PATCH')
      .nullable(),
  })
  .strict()

/**
 * Agent releases and which agent fleets and devices should run. A target set
 * here is what the device's agent updates itself to (see docs/agent-releases.md);
 * a rollout engine can set the same targets.
 */
export function registerAgentReleaseRoutes(
  api: RouteRegistry,
  deps: { releases: ReleaseStore; targets: AgentTargets; fleets: FleetStore; devices: DeviceStore; releaseKey: string; gatewayVersion: string; minAgentVersion: string },
) {
  const { releases, targets } = deps

  /** Refuses a version the gateway has no release of, or one that needs a newer gateway. */
  async function checkTarget(version: string | null): Promise<void> {
    if (version === null) return
    const known = (await releases.list()).filter((r) => r.version === version)
    if (!known.length) throw new ValidationError('version', `the gateway has no agent release ${version} (build it with \`AGENT_VERSION=${version} make agent\` or pick one from /api/agent-releases)`)
    const needs = known.find((r) => compareVersions(r.min_gateway_version, deps.gatewayVersion) > 0)
    if (needs) throw new ConflictError(`agent ${version} needs gateway ${needs.min_gateway_version} or newer; this gateway is ${deps.gatewayVersion}`, 'AGENT_NEEDS_NEWER_GATEWAY', 'version')
  }

  api.route({
    method: 'get',
    path: '/api/agent-releases',
    summary: 'Agent releases the gateway has served (content-addressed and signed), with the release public key devices pin',
    tag: 'agent-releases',
    access: 'viewer',
    async handler() {
      return { release_key: deps.releaseKey, gateway_version: deps.gatewayVersion, min_agent_version: deps.minAgentVersion, items: await releases.list() }
    },
  })

  api.route({
    method: 'get',
    path: '/api/fleets/:id/agent',
    summary: "The fleet's agent target, and how many of its devices run which agent version",
    tag: 'agent-releases',
    access: 'viewer',
    async handler({ params }) {
      const fleet = await deps.fleets.get(uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet'))
      return { target: await targets.fleetTarget(fleet.id), min_supported_version: deps.minAgentVersion, versions: await targets.fleetVersions(fleet.id) }
    },
  })

  api.route({
    method: 'put',
    path: '/api/fleets/:id/agent-target',
    summary: "Sets (or with null clears) the agent version the fleet's devices update to",
    tag: 'agent-releases',
    access: 'admin',
    body: targetBody,
    async handler({ params, body, audit }) {
      const fleet = await deps.fleets.get(uuidParam(params.id, 'FLEET_NOT_FOUND', 'fleet'))
      await checkTarget(body.version)
      await targets.setTarget({ fleet_id: fleet.id }, body.version)
      await audit('fleet.agent_target', 'fleet', fleet.id, { version: body.version })
      return { target: body.version }
    },
  })

  api.route({
    method: 'get',
    path: '/api/devices/:id/agent',
    summary: "The agent a device runs, its target (its own or its fleet's), and whether it is older than the gateway supports",
    tag: 'agent-releases',
    access: 'viewer',
    async handler({ params }) {
      const device = await deps.devices.get(params.id!)
      return targets.deviceView(device.id)
    },
  })

  api.route({
    method: 'put',
    path: '/api/devices/:id/agent-target',
    summary: 'Sets (or with null clears) the agent version this device updates to, over its fleet\'s',
    tag: 'agent-releases',
    access: 'admin',
    body: targetBody,
    async handler({ params, body, audit }) {
      const device = await deps.devices.get(params.id!)
      await checkTarget(body.version)
      await targets.setTarget({ device_id: device.id }, body.version)
      await audit('device.agent_target', 'device', device.id, { version: body.version })
      return targets.deviceView(device.id)
    },
  })
}
