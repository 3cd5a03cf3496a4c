/*
 * How a device comes to be and what it runs as an agent: registration tokens and the public
 * registration call, the signed store of agent releases with per-fleet and per-device targets, and the
 * Ignition configs a field tech flashes (they embed the keys and the endpoints devices dial).
 */
import path from 'node:path'
import { createRegistrationTokens } from '../provision/registration-tokens.js'
import { createDeviceRegistration } from '../provision/device-registration.js'
import { createRegistrationLimiter } from '../provision/registration-limiter.js'
import { registerProvisionRoutes } from '../api/routes/provision-routes.js'
import { AGENT_NOT_BUILT_MESSAGE, createAgentExecutable, defaultAgentDir } from '../provision/agent-executable.js'
import { createConfigFetchLimiter } from '../provision/config-fetch-limiter.js'
import { createIgnitionConfigs, type GatewayEndpoints } from '../provision/ignition-configs.js'
import { registerIgnitionRoutes } from '../api/routes/ignition-routes.js'
import { loadOrCreateReleaseKey } from '../releases/release-key.js'
import { createReleaseStore } from '../releases/release-store.js'
import { createAgentTargets } from '../releases/agent-targets.js'
import { registerAgentReleaseRoutes } from '../api/routes/agent-release-routes.js'
import { packageVersion } from '../version.js'
import type { RouteRegistry } from '../api/route-registry.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { FleetStore } from '../fleets/fleet-store.js'
import type { DeviceStore } from '../devices/device-store.js'
import type { TunnelParts } from './tunnel-wiring.js'
import type { GatewayCore } from './gateway-core.js'

export function wireProvisioning(
  core: GatewayCore,
  api: RouteRegistry,
  deps: { auditLog: AuditLog; fleets: FleetStore; devices: DeviceStore; tunnel: TunnelParts; deviceEndpoints(): GatewayEndpoints },
) {
  const { config, options, logger, db } = core
  const { hostKey, terminalKey, userCa } = deps.tunnel
  const registrationTokens = createRegistrationTokens({ db })
  const deviceRegistration = createDeviceRegistration({
    db,
    tokens: registrationTokens,
    devices: deps.devices,
    sshEndpoint: () => deps.deviceEndpoints().ssh,
    hostPublicKey: hostKey.publicKey,
    auditLog: deps.auditLog,
    logger,
  })
  registerProvisionRoutes(api, { tokens: registrationTokens, registration: deviceRegistration, limiter: createRegistrationLimiter(options.registerLimit) })

  // Agent releases: every executable served, content-addressed and signed; per-fleet and per-device target versions.
  const agentDir = options.agentDir ?? defaultAgentDir()
  const agentExecutable = createAgentExecutable({ dir: agentDir })
  if (!agentExecutable.isBuilt()) logger.warn(AGENT_NOT_BUILT_MESSAGE)
  const releaseKey = loadOrCreateReleaseKey({ dataDir: config.dataDir, configuredFile: config.releaseKeyFile })
  const agentReleases = createReleaseStore({
    db,
    dir: path.join(config.dataDir, 'agent-releases'),
    builds: { x64: agentExecutable, arm64: createAgentExecutable({ dir: agentDir, arch: 'arm64' }) },
    key: releaseKey,
  })
  const agentTargets = createAgentTargets({ db, minSupportedVersion: config.minAgentVersion })
  registerAgentReleaseRoutes(api, {
    releases: agentReleases,
    targets: agentTargets,
    fleets: deps.fleets,
    devices: deps.devices,
    releaseKey: releaseKey.publicKey,
    gatewayVersion: packageVersion(),
    minAgentVersion: config.minAgentVersion,
  })

  // Ignition configs for registration tokens, and the agent executable they make devices download.
  const ignitionConfigs = createIgnitionConfigs({
    tokens: registrationTokens,
    agent: agentReleases,
    releaseKey: releaseKey.publicKey,
    endpoints: deps.deviceEndpoints,
    hostPublicKey: hostKey.publicKey,
    terminalPublicKey: terminalKey.publicKey,
    userCaPublicKey: userCa.publicKey,
    user: config.terminalUser,
  })
  registerIgnitionRoutes(api, { configs: ignitionConfigs, releases: agentReleases, limiter: createConfigFetchLimiter(options.configFetchLimit), logger })
  return { agentReleases, agentTargets }
}
