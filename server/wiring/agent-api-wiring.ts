/*
 * The agent API served inside each device's tunnel (heartbeat, target state, outbox, self-update) and
 * the SSH server that carries it: devices authenticate with their keys, people jump as u:<user>.
 */
import { createAgentApiServer } from '../agent-api/agent-api-server.js'
import { mountAgentRoutes } from '../agent-api/agent-api-routes.js'
import { mountAgentUpdateRoutes } from '../agent-api/agent-update-routes.js'
import { controlKeyFor } from '../agent-api/agent-control-client.js'
import { createTargetRevisions } from '../agent-api/target-revision.js'
import { createOutboxIngest } from '../telemetry/outbox-ingest.js'
import { createDeviceAuthenticator } from '../tunnel/device-authenticator.js'
import { createSshAuthLimiter } from '../tunnel/auth-limiter.js'
import { createTunnelServer } from '../tunnel/tunnel-server.js'
import { packageVersion } from '../version.js'
import type { ExposedServiceStore } from '../services/exposed-service-store.js'
import type { DeviceMetricsStore } from '../telemetry/device-metrics-store.js'
import type { ReleaseStore } from '../releases/release-store.js'
import type { AgentTargets } from '../releases/agent-targets.js'
import type { DeviceResolver } from '../deployments/device-resolver.js'
import type { RestartQueue } from '../env/restart-queue.js'
import type { TunnelParts } from './tunnel-wiring.js'
import type { GatewayCore } from './gateway-core.js'

export function wireAgentApi(
  core: GatewayCore,
  deps: {
    tunnel: TunnelParts
    controlSecret: Buffer
    resolver: DeviceResolver
    restarts: RestartQueue
    services: ExposedServiceStore
    metrics: DeviceMetricsStore
    releases: ReleaseStore
    targets: AgentTargets
  },
) {
  const { config, options, logger, db, events, closers } = core
  const agentApi = createAgentApiServer({
    logger,
    rateLimit: options.agentRateLimit,
    mount: (app, sessionOf) => {
      mountAgentUpdateRoutes(app, sessionOf, { releases: deps.releases, targets: deps.targets, gatewayVersion: packageVersion(), logger })
      mountAgentRoutes(app, sessionOf, {
        db,
        resolver: deps.resolver,
        services: deps.services,
        restarts: deps.restarts,
        metrics: deps.metrics,
        ingest: createOutboxIngest({ db, onStored: (device_uuid) => events.emit('device.logs', { device_uuid }) }),
        revisions: createTargetRevisions({ db }),
        controlKey: (deviceUuid) => controlKeyFor(deps.controlSecret, deviceUuid),
        heartbeatSeconds: options.agentHeartbeatSeconds ?? 30,
        recordAgent: deps.targets.record,
      })
    },
  })
  closers.push('agent API', () => agentApi.close())
  // The tunnel server routes channels devices open (the agent API) to in-tunnel services.
  const { hostKey, tunnels, status, jump } = deps.tunnel
  const tunnelServer = createTunnelServer({
    hostKey,
    authenticator: createDeviceAuthenticator({ db }),
    authLimiter: createSshAuthLimiter(options.sshAuthLimit),
    registry: tunnels,
    status,
    logger,
    options: {
      port: config.sshPort,
      host: config.bindAddress,
      loginGraceMs: config.sshLimits.loginGraceSeconds * 1000,
      maxUnauthenticated: config.sshLimits.maxUnauthenticated,
      maxUnauthenticatedPerAddress: config.sshLimits.maxUnauthenticatedPerAddress,
      maxChannelsPerDevice: config.sshLimits.maxChannelsPerDevice,
      proxyProtocolFrom: config.proxyProtocolFrom,
      ...options.tunnel,
    },
    inTunnelServices: [agentApi.service],
    jump,
  })
  return { tunnelServer }
}
