/*
 * The gateway's composition root: every part is created and wired here, in start order, and nowhere
 * else. Over 300 lines on purpose: splitting it would hide the wiring order that the close stack relies on.
 */
import http from 'node:http'
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
import { createExposedServiceStore } from './services/exposed-service-store.js'
import { createTcpServiceListeners } from './services/tcp-service-listeners.js'
import { registerExposedServiceRoutes } from './api/routes/exposed-service-routes.js'
import { createRouteTable } from './proxy/route-table.js'
import { createSubdomainProxy } from './proxy/subdomain-proxy.js'
import { createTerminalBridge } from './terminal/terminal-bridge.js'
import { createHandoffTickets } from './auth/handoff-tickets.js'
import { createGatewayAddresses, type BoundPorts } from './http/gateway-addresses.js'
import { registerTerminalKeyRoutes } from './api/routes/terminal-key-routes.js'
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
import { createDeviceMetricsStore } from './telemetry/device-metrics-store.js'
import { createDeviceLogStore } from './telemetry/device-log-store.js'
import { createOutboxIngest } from './telemetry/outbox-ingest.js'
import { registerDeviceRuntimeRoutes } from './api/routes/device-runtime-routes.js'
import { AGENT_NOT_BUILT_MESSAGE, createAgentExecutable, defaultAgentDir } from './provision/agent-executable.js'
import { createConfigFetchLimiter, type ConfigFetchLimitOptions } from './provision/config-fetch-limiter.js'
import { createIgnitionConfigs } from './provision/ignition-configs.js'
import { gatewayEndpoints } from './provision/gateway-endpoints.js'
import { registerIgnitionRoutes } from './api/routes/ignition-routes.js'
import { createRetentionPruner } from './retention/retention-pruner.js'
import { createNodeRegistry } from './cluster/node-registry.js'
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
    const nodes = createNodeRegistry({ db, logger, nodeId: config.cluster.nodeId, peerUrl: config.cluster.peerUrl, heartbeatMs: config.cluster.heartbeatMs })
    await nodes.start()
    closers.push('node registry', () => nodes.close())
    const status = createStatusRecorder({ db, events, logger, nodeId: nodes.id })
    await status.resetOwned()
    closers.push('status writes', () => status.drain())
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
    const tcpServices = createTcpServiceListeners({ services: exposedServices, registry: tunnels, events, logger })

    const api = createRouteRegistry({ authenticator, auditLog, db })
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
    registerFleetRoutes(api, { fleets, devices })
    const deviceMetrics = createDeviceMetricsStore({ db })
    registerDeviceRoutes(api, {
      devices,
      // On a route's transaction, device.changed waits for the commit: its listeners re-read the row.
      devicesIn: (trx, afterCommit) => createDeviceStore({ ...deviceStoreDeps, db: trx, onChange: (device) => afterCommit(() => events.emit('device.changed', device)) }),
      metrics: deviceMetrics,
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
    registerSoftwareRoutes(api, { software: softwareStore, codec: envCodec })
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
    // The agent API inside tunnels (heartbeat, config, software, outbox), and commands sent back to agents.
    const controlSecret = masterKey.derive('agent-control')
    const agentControl = createAgentControl({ registry: tunnels, secret: controlSecret, logger })
    const agentApi = createAgentApiServer({
      logger,
      rateLimit: options.agentRateLimit,
      mount: (app, sessionOf) =>
        mountAgentRoutes(app, sessionOf, {
          db,
          resolver: deviceResolver,
          services: exposedServices,
          restarts: restartQueue,
          metrics: deviceMetrics,
          ingest: createOutboxIngest({ db }),
          controlKey: (deviceUuid) => controlKeyFor(controlSecret, deviceUuid),
          heartbeatSeconds: options.agentHeartbeatSeconds ?? 30,
        }),
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
    })
    registerDeviceRuntimeRoutes(api, { devices, metrics: deviceMetrics, logs: createDeviceLogStore({ db }), control: agentControl })
    // A changed service list changes the device's forwards: nudge its agent rather than wait for its heartbeat.
    events.on('service.changed', ({ device_uuid }) => void agentControl.sync(device_uuid))
    // The web terminal logs in to devices with a key of its own, which Ignition authorises on the device.
    const terminalKey = loadOrCreateHostKey(config.dataDir, 'terminal_ed25519_key')
    registerTerminalKeyRoutes(api, { terminalPublicKey: terminalKey.publicKey, user: config.terminalUser })
    // Ignition configs for registration tokens, and the agent executable they make devices download.
    const agentExecutable = createAgentExecutable({ dir: options.agentDir ?? defaultAgentDir() })
    if (!agentExecutable.isBuilt()) logger.warn(AGENT_NOT_BUILT_MESSAGE)
    const ignitionConfigs = createIgnitionConfigs({
      tokens: registrationTokens,
      agent: agentExecutable,
      endpoints: deviceEndpoints,
      hostPublicKey: hostKey.publicKey,
      terminalPublicKey: terminalKey.publicKey,
      user: config.terminalUser,
    })
    registerIgnitionRoutes(api, { configs: ignitionConfigs, agent: agentExecutable, limiter: createConfigFetchLimiter(options.configFetchLimit), logger })
    const terminals = createTerminalBridge({
      authenticator,
      devices,
      registry: tunnels,
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

    const metrics = createMetricsRegistry()
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
      createSubdomainProxy({ routes: routeTable, registry: tunnels, authenticator, urls: addresses, consoleHost: config.consoleHost, handoff, logger }),
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
      close: closers.unwind,
    }
  } catch (err) {
    await closers.unwind()
    throw err
  }
}
