/*
 * What devices run: software and its versions (typed in or imported from git), deployments, the
 * software → fleet → device environment with sealed secrets, and rollouts. The git poller and the
 * rollout engine run on timers; `startTimers` starts them once the gateway listens.
 */
import { createSecretBox } from '../secrets/secret-box.js'
import { createEnvCodec } from '../env/env-codec.js'
import { createEnvStore } from '../env/env-store.js'
import { createRestartQueue } from '../env/restart-queue.js'
import { createSoftwareStore } from '../software/software-store.js'
import { createDeploymentStore } from '../deployments/deployment-store.js'
import { createDeploymentStatus } from '../deployments/deployment-status.js'
import { createDeviceResolver } from '../deployments/device-resolver.js'
import { registerSoftwareRoutes } from '../api/routes/software-routes.js'
import { registerDeploymentRoutes } from '../api/routes/deployment-routes.js'
import { registerEnvVarRoutes } from '../api/routes/env-var-routes.js'
import { createGitSourceStore } from '../git/git-source-store.js'
import { createGitFetcher } from '../git/git-fetcher.js'
import { createGitImporter } from '../git/git-importer.js'
import { createGitPoller } from '../git/git-poller.js'
import { createGitSourceWrites } from '../git/git-source-view.js'
import { registerGitSourceRoutes } from '../api/routes/git-source-routes.js'
import { createRolloutStore } from '../rollouts/rollout-store.js'
import { createRolloutEngine } from '../rollouts/rollout-engine.js'
import { registerRolloutRoutes } from '../api/routes/rollout-routes.js'
import type { RouteRegistry } from '../api/route-registry.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { FleetStore } from '../fleets/fleet-store.js'
import type { DeviceStore } from '../devices/device-store.js'
import type { AgentControl } from '../agent-api/agent-control-client.js'
import type { GatewayCore } from './gateway-core.js'

export function wireSoftware(
  core: GatewayCore,
  api: RouteRegistry,
  deps: { auditLog: AuditLog; fleets: FleetStore; devices: DeviceStore; agentControl: AgentControl; gatewayUrl(): string },
) {
  const { config, options, logger, db, masterKey, closers } = core
  const { fleets, devices, agentControl } = deps
  // Env secrets are sealed with a key of their own, derived from the master key.
  const envCodec = createEnvCodec(createSecretBox(masterKey.derive('env-secrets')))
  const envStore = createEnvStore({ db, codec: envCodec })
  const softwareStore = createSoftwareStore({ db, codec: envCodec })
  const deploymentStore = createDeploymentStore({ db, software: softwareStore })
  const deviceResolver = createDeviceResolver({ db, codec: envCodec, envStore, software: softwareStore, deployments: deploymentStore })
  // Software from git: sources with sealed credentials, the importer (Debian's git), its poller and webhook.
  const gitSources = createGitSourceStore({ db, box: createSecretBox(masterKey.derive('git-secrets')), minPollSeconds: config.git.minPollSeconds })
  const gitImporter = createGitImporter({
    db,
    codec: envCodec,
    fetcher: createGitFetcher({ timeoutMs: config.git.fetchTimeoutMs, maxWriteBytes: config.git.maxFetchBytes, allowInsecureTransports: config.git.allowInsecureTransports }),
    sources: gitSources,
    maxFileBytes: config.git.maxFileBytes,
    logger,
  })
  const gitWrites = createGitSourceWrites({
    sources: gitSources,
    allowInsecureTransports: config.git.allowInsecureTransports,
    publicUrl: deps.gatewayUrl,
    isSyncing: gitImporter.isRunning,
  })
  registerSoftwareRoutes(api, { software: softwareStore, codec: envCodec, git: { writes: gitWrites, sourceOf: (id) => gitSources.get(db, id) } })
  registerGitSourceRoutes(api, { db, software: softwareStore, sources: gitSources, importer: gitImporter, auditLog: deps.auditLog, logger })
  registerDeploymentRoutes(api, {
    db,
    deployments: deploymentStore,
    deploymentsIn: (trx) => createDeploymentStore({ db: trx, software: createSoftwareStore({ db: trx, codec: envCodec }) }),
    status: createDeploymentStatus({ db }),
    resolver: deviceResolver,
    fleets,
    devices,
  })
  const restartQueue = createRestartQueue({ db })
  registerEnvVarRoutes(api, { envStore, codec: envCodec, restarts: restartQueue, resolver: deviceResolver, fleets, devices })

  // Rollouts: the engine moves them on a timer (state in the database); a changed release pin nudges the device's agent.
  const rolloutEngine = createRolloutEngine({ db, logger, tickMs: options.rolloutTickMs ?? config.rolloutTickMs, nudge: (device) => agentControl.sync(device) })
  registerRolloutRoutes(api, {
    rollouts: createRolloutStore({ db }),
    rolloutsIn: (trx) => createRolloutStore({ db: trx }),
    changed(pinned) {
      for (const device of pinned) void agentControl.sync(device)
      rolloutEngine.poke()
    },
  })

  function startTimers(): void {
    rolloutEngine.start()
    closers.push('rollout engine', () => rolloutEngine.close())
    const gitPoller = createGitPoller({ db, sources: gitSources, importer: gitImporter, logger, settings: { checkIntervalMs: config.git.pollCheckMs, concurrency: config.git.maxConcurrentSyncs } })
    gitPoller.start()
    closers.push('git poller', () => gitPoller.close())
  }

  return { deviceResolver, restartQueue, startTimers }
}
