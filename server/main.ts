/*
 * The gateway's composition root: every part is created and wired here, in start order, and nowhere
 * else. Over 300 lines on purpose: splitting it would hide the wiring order that the close stack relies on.
 */
import http from 'node:http'
import path from 'node:path'
import type { Registry } from 'prom-client'
import type { Config } from './config/config-schema.js'
import type { Logger } from './logger.js'
import { openDatabase, type DatabaseHandle } from './db/open-database.js'
import { migrateToLatest } from './db/migrate.js'
import { loadMasterKey } from './secrets/master-key.js'
import { createSessionTokens } from './auth/session-tokens.js'
import { createApiTokens } from './auth/api-tokens.js'
import { createAuthenticator } from './auth/authenticator.js'
import { createLoginLimiter, type LoginLimitOptions } from './auth/login-limiter.js'
import { createPasswordHasher, type PasswordHasherOptions } from './auth/passwords.js'
import { createPasswordLogin } from './auth/password-login.js'
import { createAuditLog } from './audit/audit-log.js'
import { createUserStore } from './users/user-store.js'
import { bootstrapAdmin, type BootstrapResult } from './users/bootstrap-admin.js'
import { createFleetStore } from './fleets/fleet-store.js'
import { createDeviceStore } from './devices/device-store.js'
import { createRouteRegistry } from './api/route-registry.js'
import { registerAuthRoutes } from './api/routes/auth-routes.js'
import { registerTokenRoutes } from './api/routes/token-routes.js'
import { registerUserRoutes } from './api/routes/user-routes.js'
import { registerFleetRoutes } from './api/routes/fleet-routes.js'
import { registerDeviceRoutes } from './api/routes/device-routes.js'
import { registerAuditRoutes } from './api/routes/audit-routes.js'
import { createSecretBox } from './secrets/secret-box.js'
import { createEnvCodec } from './env/env-codec.js'
import { createEnvStore } from './env/env-store.js'
import { createRestartQueue } from './env/restart-queue.js'
import { createSoftwareStore } from './software/software-store.js'
import { createDeploymentStore } from './deployments/deployment-store.js'
import { createDeploymentStatus } from './deployments/deployment-status.js'
import { createDeviceResolver } from './deployments/device-resolver.js'
import { registerSoftwareRoutes } from './api/routes/software-routes.js'
import { registerDeploymentRoutes } from './api/routes/deployment-routes.js'
import { registerEnvVarRoutes } from './api/routes/env-var-routes.js'
import { registerEventRoutes } from './api/routes/event-routes.js'
import { createHttpApp } from './http/create-http-app.js'
import { createConsoleAssets, defaultConsoleDir } from './http/console-assets.js'
import { createMetricsRegistry } from './http/http-metrics.js'
import { closeServer, listen, trackUpgrades } from './http/listen.js'
import { createFrontDoor, type HostRoute } from './http/front-door.js'
import { createGatewayEvents, type GatewayEvents } from './events/gateway-events.js'
import { createCloseStack } from './lifecycle/close-stack.js'
import { packageVersion } from './version.js'
import { loadOrCreateHostKey } from './tunnel/host-key.js'
import { createTunnelRegistry, type TunnelRegistry } from './tunnel/tunnel-registry.js'
import { createStatusRecorder } from './tunnel/status-recorder.js'
import { createDeviceAuthenticator } from './tunnel/device-authenticator.js'
import { createSshAuthLimiter } from './tunnel/auth-limiter.js'
import { createTunnelServer } from './tunnel/tunnel-server.js'
import { createUserCa } from './ssh-access/user-ca.js'
import { createUserSshKeys } from './ssh-access/user-ssh-keys.js'
import { createJumpAuthenticator } from './ssh-access/jump-authenticator.js'
import { createJumpHost } from './ssh-access/jump-host.js'
import { registerSshAccessRoutes } from './api/routes/ssh-access-routes.js'
import { createExposedServiceStore } from './services/exposed-service-store.js'
import { createTcpServiceListeners } from './services/tcp-service-listeners.js'
import { registerExposedServiceRoutes } from './api/routes/exposed-service-routes.js'
import { createRouteTable } from './proxy/route-table.js'
import { createSubdomainProxy } from './proxy/subdomain-proxy.js'
import { createTerminalBridge } from './terminal/terminal-bridge.js'
import { createHandoffTickets } from './auth/handoff-tickets.js'
import { createGatewayAddresses, type BoundPorts } from './http/gateway-addresses.js'
import { registerTerminalKeyRoutes } from './api/routes/terminal-key-routes.js'
import { registerGatewayInfoRoutes } from './api/routes/gateway-info-routes.js'
import { createLiveAccess } from './auth/live-access.js'
import { deferredEvents } from './events/deferred-events.js'
import { createTlsGateway } from './tls/tls-gateway.js'
import type { AcmeTuning } from './tls/acme-certificates.js'
import { registerCertificateRoutes } from './api/routes/certificate-routes.js'
import { createRegistrationTokens } from './provision/registration-tokens.js'
import { createDeviceRegistration } from './provision/device-registration.js'
import { createRegistrationLimiter, type RegistrationLimitOptions } from './provision/registration-limiter.js'
import { registerProvisionRoutes } from './api/routes/provision-routes.js'
import type { TunnelServerOptions } from './tunnel/tunnel-server.js'
import { createAgentApiServer } from './agent-api/agent-api-server.js'
import type { AgentRateLimitOptions } from './agent-api/agent-api-rate-limit.js'
import { mountAgentRoutes } from './agent-api/agent-api-routes.js'
import { controlKeyFor, createAgentControl } from './agent-api/agent-control-client.js'
import { createTargetNudge } from './agent-api/target-nudge.js'
import { createTargetRevisions } from './agent-api/target-revision.js'
import { createDeviceMetricsStore } from './telemetry/device-metrics-store.js'
import { createDeviceLogStore } from './telemetry/device-log-store.js'
import { createOutboxIngest } from './telemetry/outbox-ingest.js'
import { registerDeviceRuntimeRoutes } from './api/routes/device-runtime-routes.js'
import { registerDeviceLogRoutes } from './api/routes/device-log-routes.js'
import { createDeviceHealth } from './devices/device-health.js'
import { AGENT_NOT_BUILT_MESSAGE, createAgentExecutable, defaultAgentDir } from './provision/agent-executable.js'
import { createConfigFetchLimiter, type ConfigFetchLimitOptions } from './provision/config-fetch-limiter.js'
import { createIgnitionConfigs } from './provision/ignition-configs.js'
import { gatewayEndpoints } from './provision/gateway-endpoints.js'
import { registerIgnitionRoutes } from './api/routes/ignition-routes.js'
import { createRetentionPruner } from './retention/retention-pruner.js'
import { createRolloutStore } from './rollouts/rollout-store.js'
import { createRolloutEngine } from './rollouts/rollout-engine.js'
import { registerRolloutMetrics } from './rollouts/rollout-metrics.js'
import { registerRolloutRoutes } from './api/routes/rollout-routes.js'
import { loadOrCreateReleaseKey } from './releases/release-key.js'
import { createReleaseStore } from './releases/release-store.js'
import { createAgentTargets } from './releases/agent-targets.js'
import { mountAgentUpdateRoutes } from './agent-api/agent-update-routes.js'
import { registerAgentReleaseRoutes } from './api/routes/agent-release-routes.js'
import { createGitSourceStore } from './git/git-source-store.js'
import { createGitFetcher } from './git/git-fetcher.js'
import { createGitImporter } from './git/git-importer.js'
import { createGitPoller } from './git/git-poller.js'
import { createGitSourceWrites } from './git/git-source-view.js'
import { registerGitSourceRoutes } from './api/routes/git-source-routes.js'
import { createNodeRegistry } from './cluster/node-registry.js'
import { startClusterForwarding } from './cluster/cluster-forwarding.js'
import { registerClusterRoutes } from './api/routes/cluster-routes.js'

export interface RunningServer {
  readonly config: Config
  readonly database: DatabaseHandle
  readonly httpPort: number
  /** The HTTPS listener's port; undefined when TLS is off. */
  readonly httpsPort: number | undefined
  readonly sshPort: number
  /** `ssh-ed25519 AAAA…`, what devices pin. */
  readonly hostPublicKey: string
  /** Live device tunnels (tests assert it drains). */
  readonly tunnels: TunnelRegistry
  readonly bootstrap: BootstrapResult | undefined
  /** The gateway's event bus (tests emit on it to drive the console's live updates). */
  readonly events: GatewayEvents
  /** The gateway's Prometheus registry, served at /metrics (the server command counts unexpected errors on it). */
  readonly metrics: Registry
  /** Every route the API router serves, as express sees it. */
  servedRoutes(): { method: string; path: string }[]
  /** Asks these devices' agents to sync now (best effort; resolves with how many answered). */
  nudgeDevices(deviceUuids: readonly string[]): Promise<number>
  close(): Promise<void>
}

export interface StartOptions {
  /** Tests pass a PGlite directory of their own, e.g. `memory://`. */
  pgliteDir?: string
  /** A PGlite dump to start a `memory://` database from (tests seed an already migrated one instead of running initdb each time). */
  pgliteSeed?: Blob
  /** Login limiter settings; tests shorten them. */
  loginLimit?: LoginLimitOptions
  /** Bounds of login password checks; tests narrow them. A lower scrypt `cost` is for tests only (production is OWASP's minimum). */
  passwordHashing?: PasswordHasherOptions
  /** SSH authentication failures allowed per address; tests shorten it. */
  sshAuthLimit?: { maxFailures?: number; windowSeconds?: number }
  /** Tunnel server tuning beyond the config (handshake pacing, keepalives); tests shorten it. */
  tunnel?: Partial<Omit<TunnelServerOptions, 'port' | 'host'>>
  /** ACME polling, retry and check intervals; tests shorten them. */
  tls?: AcmeTuning
  /** Registration attempts allowed per address; tests shorten it. */
  registerLimit?: RegistrationLimitOptions
  /** How often agents send heartbeats (30 s); tests shorten it. */
  agentHeartbeatSeconds?: number
  /** Where the built agent executable is (dist/agent); tests point it elsewhere. */
  agentDir?: string
  /** Failed Ignition config lookups allowed per address; tests shorten it. */
  configFetchLimit?: ConfigFetchLimitOptions
  /** Ping interval of the console's event stream (25 s); tests shorten it. */
  eventPingMs?: number
  /** Per-device agent API requests per window (600 a minute); tests shorten it. */
  agentRateLimit?: AgentRateLimitOptions
  /** How often retention runs (from the config); tests shorten it. */
  retentionIntervalMs?: number
  /** How often open terminals and event streams re-verify their credential (15 s); tests shorten it. */
  accessRecheckMs?: number
  /** How often the web terminal pings the browser (30 s); tests shorten it. */
  terminalPingSeconds?: number
  /** How often the rollout engine ticks (from the config); tests shorten it. */
  rolloutTickMs?: number
  /** Keep-alive comment interval of live log streams (the config's, 15 s); tests shorten it. */
  logKeepAliveMs?: number
  /** How often a live log stream looks for entries another gateway node stored (2 s); entries stored on this node arrive at once. */
  logFollowPollMs?: number
}

/**
 * The composition root: opens the database, migrates, wires every part
 * explicitly and listens. Tests start gateways through this same function.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, pgliteDir: options.pgliteDir, pgliteSeed: options.pgliteSeed, logger })
  // Every part that runs pushes its close here; shutdown and a failed start unwind it in reverse.
  const closers = createCloseStack(logger)
  closers.push('database', () => database.close())
  try {
    const applied = await migrateToLatest(database.db)
    if (applied.length) logger.info({ migrations: applied }, 'database migrated')
    const { db } = database
    const events = createGatewayEvents()

    const masterKey = loadMasterKey({ dataDir: config.dataDir, configuredKey: config.secretKey })
    const sessions = createSessionTokens({ db, signingKey: masterKey.derive('session-jwt'), ttlSeconds: config.sessionTtlSeconds })
    const apiTokens = createApiTokens({ db })
    // Listeners bound to port 0 (tests) learn their ports at listen(); everything that needs a port reads it from here, lazily.
    const bound: { http: number; https: number | undefined; ssh: number } = { http: 0, https: undefined, ssh: 0 }
    const ports: BoundPorts = { http: () => bound.http, https: () => bound.https }
    const routeTable = createRouteTable({ db, events, baseDomain: config.baseDomain })
    closers.push('route table', () => routeTable.close())
    const isDeviceHost = (host: string) => host !== config.consoleHost && routeTable.isDeviceHost(host)
    // Where users reach the gateway (links, redirects, origin checks); devices use gatewayEndpoints() below.
    const addresses = createGatewayAddresses({ baseDomain: config.baseDomain, consoleHost: config.consoleHost, publicUrl: config.publicUrl, ports, isDeviceHost })
    const deviceEndpoints = () => gatewayEndpoints(config, { httpPort: bound.http, sshPort: bound.ssh })
    const authenticator = createAuthenticator({ sessions, apiTokens, consoleOrigins: addresses.consoleOrigins })
    const auditLog = createAuditLog({ db })
    // Terminals and event streams end when the access they were opened with does.
    const liveAccess = createLiveAccess({ recheckMs: options.accessRecheckMs ?? 15_000, logger })
    closers.push('live access checks', () => liveAccess.close())
    // Every password hash and check goes through one bounded hasher (scrypt at OWASP cost by default).
    const passwords = createPasswordHasher(options.passwordHashing)
    const users = createUserStore({ db, hash: passwords.hash })
    const fleets = createFleetStore({ db })
    const consoleLabel = config.consoleHost.endsWith(`.${config.baseDomain}`) ? config.consoleHost.slice(0, -config.baseDomain.length - 1) : undefined
    const deviceStoreDeps = {
      sshPortRange: config.sshPortRange,
      reservedSubdomains: new Set(['www', 'api', 'console', ...(consoleLabel && !consoleLabel.includes('.') ? [consoleLabel] : [])]),
    }
    const devices = createDeviceStore({ ...deviceStoreDeps, db, onChange: (device) => events.emit('device.changed', device) })

    // Tunnels: device sessions, their status, and the SSH endpoint they dial.
    const hostKey = loadOrCreateHostKey(config.dataDir)
    const tunnels = createTunnelRegistry()
    // This node in the cluster registry (several gateways may share one PostgreSQL); it leaves it on clean shutdown.
    // Forwarding to the node holding a device's tunnel (docs/cluster-forwarding.md); its peer listener is what peer_url advertises.
    const forwarding = await startClusterForwarding({ cluster: config.cluster, db, registry: tunnels, masterKey, logger })
    closers.push('peer listener', () => forwarding.close())
    const { locate } = forwarding
    const nodes = createNodeRegistry({ db, logger, nodeId: config.cluster.nodeId, peerUrl: forwarding.peerUrl, heartbeatMs: config.cluster.heartbeatMs })
    forwarding.join(nodes.id)
    await nodes.start()
    closers.push('node registry', () => nodes.close())
    const status = createStatusRecorder({ db, events, logger, nodeId: nodes.id })
    await status.resetOwned()
    closers.push('status writes', () => status.drain())
    // People on the same SSH port, as u:<username>: the jump host and its user CA (docs/admin-access.md).
    const userCa = createUserCa({ dataDir: config.dataDir })
    const userSshKeys = createUserSshKeys({ db })
    const jump = {
      authenticator: createJumpAuthenticator({ users, keys: userSshKeys, ca: userCa }),
      host: createJumpHost({ db, registry: tunnels, locate, auditLog, logger, maxChannels: config.sshLimits.maxChannelsPerDevice, liveAccess }),
    }
    // A deleted device, or one whose key changed, loses its tunnel at once.
    events.on('device.changed', (changed) => {
      const session = tunnels.get(changed.id)
      if (!session) return
      void devices.find(changed.id).then(
        (row) => {
          if (!row || row.public_key !== session.device.public_key) void session.close()
        },
        (err: Error) => logger.warn({ err: err.message, device: changed.device_id }, 'cannot re-check a changed device'),
      )
    })

    // Subdomains: services exposed from device tunnels.
    const exposedServices = createExposedServiceStore({ db, events, tcpPortRange: config.tcpPortRange })
    const tcpServices = createTcpServiceListeners({ services: exposedServices, registry: tunnels, events, logger, locate })

    // Commands to agents through their tunnels; committed changes that touch a device's target nudge its agent at once.
    const controlSecret = masterKey.derive('agent-control')
    const agentControl = createAgentControl({ registry: tunnels, secret: controlSecret, logger, locate })
    const targetNudge = createTargetNudge({ db, registry: tunnels, control: agentControl, logger, locate })
    const api = createRouteRegistry({ authenticator, auditLog, db, committed: targetNudge.committed })
    // Signs console users in to auth_required device hosts with a session bound to that host (the console cookie is host-only).
    const handoff = createHandoffTickets()
    registerAuthRoutes(api, {
      users,
      sessions,
      liveAccess,
      passwordLogin: createPasswordLogin({
        users,
        limiter: createLoginLimiter(options.loginLimit),
        passwords,
        auditLog,
        logger,
      }),
      consoleHost: config.consoleHost,
      baseDomain: config.baseDomain,
      handoff,
      isDeviceOrigin: addresses.isDeviceOrigin,
      async routesToProtectedService(host, path) {
        const route = isDeviceHost(host) ? await routeTable.resolve(host, path) : undefined
        return route?.kind === 'route' && route.service.auth_required
      },
    })
    registerTokenRoutes(api, { apiTokens, users, liveAccess })
    registerUserRoutes(api, { users, liveAccess, hashPassword: passwords.hash })
    registerSshAccessRoutes(api, {
      keys: userSshKeys,
      users,
      devices,
      ca: userCa,
      certificateTtlSeconds: config.sshCertificateTtlSeconds,
      devicePrincipal: config.terminalUser,
    })
    const deviceMetrics = createDeviceMetricsStore({ db })
    const deviceHealth = createDeviceHealth({ db, latestReport: deviceMetrics.latestReport })
    registerFleetRoutes(api, { fleets, devices, health: deviceHealth })
    registerDeviceRoutes(api, {
      devices,
      // On a route's transaction, device.changed waits for the commit: its listeners re-read the row.
      devicesIn: (trx, afterCommit) => createDeviceStore({ ...deviceStoreDeps, db: trx, onChange: (device) => afterCommit(() => events.emit('device.changed', device)) }),
      metrics: deviceMetrics,
      health: deviceHealth,
    })
    registerAuditRoutes(api, { auditLog })
    registerClusterRoutes(api, { nodes })
    // Software, deployments and the software → fleet → device environment; env secrets sealed with their own derived key.
    const envCodec = createEnvCodec(createSecretBox(masterKey.derive('env-secrets')))
    const envStore = createEnvStore({ db, codec: envCodec })
    const softwareStore = createSoftwareStore({ db, codec: envCodec })
    const deploymentStore = createDeploymentStore({ db, software: softwareStore })
    const deploymentStatus = createDeploymentStatus({ db })
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
      publicUrl: () => deviceEndpoints().url,
      isSyncing: gitImporter.isRunning,
    })
    registerSoftwareRoutes(api, { software: softwareStore, codec: envCodec, git: { writes: gitWrites, sourceOf: (id) => gitSources.get(db, id) } })
    registerGitSourceRoutes(api, { db, software: softwareStore, sources: gitSources, importer: gitImporter, auditLog, logger })
    registerDeploymentRoutes(api, {
      db,
      deployments: deploymentStore,
      deploymentsIn: (trx) => createDeploymentStore({ db: trx, software: createSoftwareStore({ db: trx, codec: envCodec }) }),
      status: deploymentStatus,
      resolver: deviceResolver,
      fleets,
      devices,
    })
    const restartQueue = createRestartQueue({ db })
    registerEnvVarRoutes(api, { envStore, codec: envCodec, restarts: restartQueue, resolver: deviceResolver, fleets, devices })
    registerExposedServiceRoutes(api, {
      devices,
      services: exposedServices,
      servicesIn: (trx, afterCommit) => createExposedServiceStore({ db: trx, events: deferredEvents(events, afterCommit), tcpPortRange: config.tcpPortRange }),
      urls: addresses,
      registry: tunnels,
    })
    // Provisioning: registration tokens (Ignition renders from them) and the public registration call.
    const registrationTokens = createRegistrationTokens({ db })
    const deviceRegistration = createDeviceRegistration({
      db,
      tokens: registrationTokens,
      devices,
      sshEndpoint: () => deviceEndpoints().ssh,
      hostPublicKey: hostKey.publicKey,
      auditLog,
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
    registerAgentReleaseRoutes(api, { releases: agentReleases, targets: agentTargets, fleets, devices, releaseKey: releaseKey.publicKey, gatewayVersion: packageVersion(), minAgentVersion: config.minAgentVersion })
    // The agent API inside tunnels (heartbeat, config, software, outbox), and commands sent back to agents.
    const agentApi = createAgentApiServer({
      logger,
      rateLimit: options.agentRateLimit,
      mount: (app, sessionOf) => {
        mountAgentUpdateRoutes(app, sessionOf, { releases: agentReleases, targets: agentTargets, gatewayVersion: packageVersion(), logger })
        mountAgentRoutes(app, sessionOf, {
          db,
          resolver: deviceResolver,
          services: exposedServices,
          restarts: restartQueue,
          metrics: deviceMetrics,
          ingest: createOutboxIngest({ db, onStored: (device_uuid) => events.emit('device.logs', { device_uuid }) }),
          revisions: createTargetRevisions({ db }),
          controlKey: (deviceUuid) => controlKeyFor(controlSecret, deviceUuid),
          heartbeatSeconds: options.agentHeartbeatSeconds ?? 30,
          recordAgent: agentTargets.record,
        })
      },
    })
    closers.push('agent API', () => agentApi.close())
    // The tunnel server routes channels devices open (the agent API) to in-tunnel services.
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
        ...options.tunnel,
      },
      inTunnelServices: [agentApi.service],
      jump,
    })
    registerDeviceRuntimeRoutes(api, { devices, metrics: deviceMetrics, control: agentControl })
    const logStreamDeps = { events, authenticator, liveAccess, keepAliveMs: options.logKeepAliveMs ?? config.logKeepAliveMs, pollMs: options.logFollowPollMs ?? 2000, logger }
    registerDeviceLogRoutes(api, { devices, logs: createDeviceLogStore({ db }), ...logStreamDeps })
    // A changed service list changes the device's forwards: nudge its agent rather than wait for its heartbeat.
    events.on('service.changed', ({ device_uuid }) => void agentControl.sync(device_uuid))
    // The web terminal logs in to devices with a key of its own, which Ignition authorises on the device.
    const terminalKey = loadOrCreateHostKey(config.dataDir, 'terminal_ed25519_key')
    registerTerminalKeyRoutes(api, { terminalPublicKey: terminalKey.publicKey, user: config.terminalUser })
    // The CLI's ssh and tunnel find the jump host and pin its key here.
    registerGatewayInfoRoutes(api, { version: packageVersion(), endpoints: deviceEndpoints, hostPublicKey: hostKey.publicKey, deviceUser: config.terminalUser })
    // Ignition configs for registration tokens, and the agent executable they make devices download.
    const ignitionConfigs = createIgnitionConfigs({
      tokens: registrationTokens,
      agent: agentReleases,
      releaseKey: releaseKey.publicKey,
      endpoints: deviceEndpoints,
      hostPublicKey: hostKey.publicKey,
      terminalPublicKey: terminalKey.publicKey,
      userCaPublicKey: userCa.publicKey,
      user: config.terminalUser,
    })
    registerIgnitionRoutes(api, { configs: ignitionConfigs, releases: agentReleases, limiter: createConfigFetchLimiter(options.configFetchLimit), logger })
    const terminals = createTerminalBridge({
      authenticator,
      devices,
      registry: tunnels,
      locate,
      auditLog,
      terminalKey,
      user: config.terminalUser,
      idleSeconds: config.terminalIdleSeconds,
      pingSeconds: options.terminalPingSeconds,
      liveAccess,
      logger,
    })
    closers.push('terminals', () => terminals.close())
    registerEventRoutes(api, { events, authenticator, liveAccess, pingIntervalMs: options.eventPingMs })
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

    const metrics = createMetricsRegistry()
    registerRolloutMetrics(metrics, { db, logger })
    // TLS: certificates (ACME or files, keys sealed with their own derived key), the HTTPS listener, and plain HTTP's role once TLS is on.
    const tls = createTlsGateway({ config, db, secretBox: createSecretBox(masterKey.derive('tls-keys')), events, metrics, logger, tuning: options.tls })
    registerCertificateRoutes(api, { certificates: tls.certificates })
    const app = createHttpApp({
      api,
      authenticator,
      database,
      metrics,
      logger,
      trustProxy: config.trustProxy,
      publicUrl: config.publicUrl,
      version: packageVersion(),
      before: [createConsoleAssets({ dir: defaultConsoleDir() })],
    })
    const bootstrap = await bootstrapAdmin(users, config.adminPassword)
    if (bootstrap) logger.info({ username: bootstrap.username, generated: Boolean(bootstrap.generatedPassword) }, 'created the first admin user')

    // Routes that claim requests before the console app: ACME challenges, device subdomains.
    const hostRoutes: HostRoute[] = [
      ...tls.hostRoutes,
      createSubdomainProxy({ routes: routeTable, registry: tunnels, locate, authenticator, urls: addresses, consoleHost: config.consoleHost, handoff, logger }),
    ]
    const frontDoor = createFrontDoor({ consoleApp: app, consoleUpgrade: terminals.handleUpgrade, routes: hostRoutes })
    // With TLS on, plain HTTP answers ACME challenges and redirects the gateway's names to HTTPS.
    const plainDoor = tls.enabled ? tls.plainHttpDoor(frontDoor) : frontDoor
    const httpServer = http.createServer(plainDoor.handleRequest)
    httpServer.on('upgrade', plainDoor.handleUpgrade)
    trackUpgrades(httpServer)
    closers.push('HTTP listener', () => closeServer(httpServer))
    bound.http = await listen(httpServer, config.httpPort, config.bindAddress, 'HTTP')
    // After listen, an accept failure (EMFILE) is emitted here; unheard it would end the process.
    httpServer.on('error', (err) => logger.error({ err: err.message }, 'HTTP listener error'))
    closers.push('SSH listener', () => tunnelServer.close())
    bound.ssh = await tunnelServer.listen()
    closers.push('TCP services', () => tcpServices.close())
    await tcpServices.start()
    // The HTTPS listener serves the same front door: the console, device subdomains and WebSockets.
    closers.push('TLS', () => tls.close())
    bound.https = await tls.listen(frontDoor)
    await tls.start()
    // Device logs, metrics history and dead console sessions are pruned on a timer.
    const retention = createRetentionPruner({ db, logger, settings: { ...config.retention, intervalMs: options.retentionIntervalMs ?? config.retention.intervalMs } })
    retention.start()
    closers.push('retention', () => retention.close())
    rolloutEngine.start()
    closers.push('rollout engine', () => rolloutEngine.close())
    const gitPoller = createGitPoller({ db, sources: gitSources, importer: gitImporter, logger, settings: { checkIntervalMs: config.git.pollCheckMs, concurrency: config.git.maxConcurrentSyncs } })
    gitPoller.start()
    closers.push('git poller', () => gitPoller.close())
    logger.info({ http_port: bound.http, https_port: bound.https, ssh_port: bound.ssh, address: config.bindAddress, database: database.description }, 'gateway listening')

    return {
      config,
      database,
      httpPort: bound.http,
      httpsPort: bound.https,
      sshPort: bound.ssh,
      hostPublicKey: hostKey.publicKey,
      tunnels,
      bootstrap,
      events,
      metrics,
      servedRoutes: api.servedRoutes,
      nudgeDevices: targetNudge.nudgeDevices,
      close: closers.unwind,
    }
  } catch (err) {
    await closers.unwind()
    throw err
  }
}
