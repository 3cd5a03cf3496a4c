/*
 * The gateway's composition root: every area is created and wired here, in start order, and nowhere else.
 * Each area's parts are built by its wiring module (server/wiring/*); this file keeps the order that the
 * close stack relies on: database, access, tunnels, routes, then the listeners, then the timers.
 */
import http from 'node:http'
import type { Registry } from 'prom-client'
import type { Config } from './config/config-schema.js'
import type { Logger } from './logger.js'
import { openDatabase, type DatabaseHandle } from './db/open-database.js'
import { migrateToLatest } from './db/migrate.js'
import { loadMasterKey } from './secrets/master-key.js'
import { bootstrapAdmin, type BootstrapResult } from './users/bootstrap-admin.js'
import { createFleetStore } from './fleets/fleet-store.js'
import { createDeviceStore } from './devices/device-store.js'
import { createRouteRegistry } from './api/route-registry.js'
import { registerFleetRoutes } from './api/routes/fleet-routes.js'
import { registerDeviceRoutes } from './api/routes/device-routes.js'
import { registerAuditRoutes } from './api/routes/audit-routes.js'
import { registerEventRoutes } from './api/routes/event-routes.js'
import { createHttpApp } from './http/create-http-app.js'
import { createConsoleAssets, defaultConsoleDir } from './http/console-assets.js'
import { createMetricsRegistry } from './http/http-metrics.js'
import { closeServer, listen, stopAccepting, trackUpgrades } from './http/listen.js'
import { createFrontDoor, type HostRoute } from './http/front-door.js'
import { createGatewayEvents, type GatewayEvents } from './events/gateway-events.js'
import { createCloseStack } from './lifecycle/close-stack.js'
import { startHeapGrowth } from './lifecycle/heap-growth.js'
import { packageVersion } from './version.js'
import type { TunnelRegistry } from './tunnel/tunnel-registry.js'
import { registerSshAccessRoutes } from './api/routes/ssh-access-routes.js'
import { createExposedServiceStore } from './services/exposed-service-store.js'
import { createTcpServiceListeners } from './services/tcp-service-listeners.js'
import { registerExposedServiceRoutes } from './api/routes/exposed-service-routes.js'
import { createRouteTable } from './proxy/route-table.js'
import { createSubdomainProxy } from './proxy/subdomain-proxy.js'
import { createTerminalBridge } from './terminal/terminal-bridge.js'
import { createGatewayAddresses } from './http/gateway-addresses.js'
import { registerTerminalKeyRoutes } from './api/routes/terminal-key-routes.js'
import { registerGatewayInfoRoutes } from './api/routes/gateway-info-routes.js'
import { deferredEvents } from './events/deferred-events.js'
import { createTlsGateway } from './tls/tls-gateway.js'
import { createSecretBox } from './secrets/secret-box.js'
import { registerCertificateRoutes } from './api/routes/certificate-routes.js'
import { createAgentControl } from './agent-api/agent-control-client.js'
import { createTargetNudge } from './agent-api/target-nudge.js'
import { createDeviceMetricsStore } from './telemetry/device-metrics-store.js'
import { createDeviceLogStore } from './telemetry/device-log-store.js'
import { registerDeviceRuntimeRoutes } from './api/routes/device-runtime-routes.js'
import { registerDeviceLogRoutes } from './api/routes/device-log-routes.js'
import { createDeviceHealth } from './devices/device-health.js'
import { gatewayEndpoints } from './provision/gateway-endpoints.js'
import { createRetentionPruner } from './retention/retention-pruner.js'
import { registerRolloutMetrics } from './rollouts/rollout-metrics.js'
import { registerClusterRoutes } from './api/routes/cluster-routes.js'
import { createClusterNotifications } from './cluster/cluster-notifications.js'
import { bridgeClusterInvalidation } from './cluster/cluster-invalidation.js'
import { createNodeDrain } from './cluster/node-drain.js'
import { attachConnectionHandoff } from './cluster/connection-handoff.js'
import { createSharedLimitStore } from './cluster/shared-limit-store.js'
import type { StartOptions } from './start-options.js'
import type { GatewayCore } from './wiring/gateway-core.js'
import { createAccessParts, registerAccessRoutes } from './wiring/access-wiring.js'
import { createTunnelParts } from './wiring/tunnel-wiring.js'
import { wireSoftware } from './wiring/software-wiring.js'
import { wireProvisioning } from './wiring/provisioning-wiring.js'
import { wireAgentApi } from './wiring/agent-api-wiring.js'

export type { StartOptions } from './start-options.js'

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
  /** SIGTERM: stop taking connections, move devices to other nodes, wait (up to drain_grace_seconds); close() after it. */
  drain(): Promise<void>
  close(): Promise<void>
}

/**
 * The composition root: opens the database, migrates, wires every part
 * explicitly and listens. Tests start gateways through this same function.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, pgliteDir: options.pgliteDir, pgliteSeed: options.pgliteSeed, logger })
  // Every part that runs pushes its close here; shutdown and a failed start unwind it in reverse.
  const closers = createCloseStack(logger)
  // Full collections stay rare under sustained traffic (see heap-growth.ts).
  const heapGrowth = startHeapGrowth()
  closers.push('heap growth', () => heapGrowth.close())
  closers.push('database', () => database.close())
  try {
    const applied = await migrateToLatest(database.db)
    if (applied.length) logger.info({ migrations: applied }, 'database migrated')
    const { db } = database
    const events = createGatewayEvents()
    // Nodes sharing PostgreSQL tell each other what changed, so their caches follow (docs/cluster-operations.md).
    const notifications = createClusterNotifications({ db, databaseUrl: config.databaseUrl, logger })
    const invalidation = bridgeClusterInvalidation({ notifications, events })
    closers.push('cluster notifications', () => notifications.close())
    await notifications.start()
    // Limits that must hold for the whole cluster (failed logins) count in PostgreSQL when there is one.
    const sharedLimits = createSharedLimitStore({ databaseUrl: config.databaseUrl, logger })
    closers.push('shared limits', () => sharedLimits.close())
    // Listeners bound to port 0 (tests) learn their ports at listen(); everything that needs a port reads it from here, lazily.
    const bound: GatewayCore['bound'] = { http: 0, https: undefined, ssh: 0 }
    const masterKey = loadMasterKey({ dataDir: config.dataDir, configuredKey: config.secretKey })
    const core: GatewayCore = { config, options, logger, database, db, events, closers, masterKey, bound, ports: { http: () => bound.http, https: () => bound.https } }

    const routeTable = createRouteTable({ db, events, baseDomain: config.baseDomain })
    closers.push('route table', () => routeTable.close())
    const isDeviceHost = (host: string) => host !== config.consoleHost && routeTable.isDeviceHost(host)
    // Where users reach the gateway (links, redirects, origin checks); devices use gatewayEndpoints() below.
    const addresses = createGatewayAddresses({ baseDomain: config.baseDomain, consoleHost: config.consoleHost, publicUrl: config.publicUrl, ports: core.ports, isDeviceHost })
    const deviceEndpoints = () => gatewayEndpoints(config, { httpPort: bound.http, sshPort: bound.ssh })
    const access = createAccessParts(core, { addresses, acrossNodes: invalidation.liveAccess })
    const { authenticator, auditLog, liveAccess, users, handoff } = access
    const fleets = createFleetStore({ db })
    const consoleLabel = config.consoleHost.endsWith(`.${config.baseDomain}`) ? config.consoleHost.slice(0, -config.baseDomain.length - 1) : undefined
    const deviceStoreDeps = {
      sshPortRange: config.sshPortRange,
      reservedSubdomains: new Set(['www', 'api', 'console', ...(consoleLabel && !consoleLabel.includes('.') ? [consoleLabel] : [])]),
    }
    const devices = createDeviceStore({ ...deviceStoreDeps, db, onChange: (device) => events.emit('device.changed', device) })

    // Tunnels: device sessions, their status, this node in the cluster, and the jump host.
    const tunnel = await createTunnelParts(core, { access, devices })
    const { tunnels, locate } = tunnel
    // Subdomains: services exposed from device tunnels.
    const exposedServices = createExposedServiceStore({ db, events, tcpPortRange: config.tcpPortRange })
    const tcpServices = createTcpServiceListeners({ services: exposedServices, registry: tunnels, events, logger, locate })

    // Commands to agents through their tunnels; committed changes that touch a device's target nudge its agent at once.
    const controlSecret = masterKey.derive('agent-control')
    const agentControl = createAgentControl({ registry: tunnels, secret: controlSecret, logger, locate })
    const targetNudge = createTargetNudge({ db, registry: tunnels, control: agentControl, logger, locate })
    const api = createRouteRegistry({ authenticator, auditLog, db, committed: targetNudge.committed })
    registerAccessRoutes(api, core, access, {
      addresses,
      loginLimitPool: sharedLimits.pool,
      async routesToProtectedService(host, path) {
        const route = isDeviceHost(host) ? await routeTable.resolve(host, path) : undefined
        return route?.kind === 'route' && route.service.auth_required
      },
    })
    registerSshAccessRoutes(api, {
      keys: tunnel.userSshKeys,
      users,
      devices,
      ca: tunnel.userCa,
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
    registerClusterRoutes(api, { nodes: tunnel.nodes })
    // Software, deployments, the environment, git sources and rollouts.
    const software = wireSoftware(core, api, { auditLog, fleets, devices, agentControl, gatewayUrl: () => deviceEndpoints().url })
    registerExposedServiceRoutes(api, {
      devices,
      services: exposedServices,
      servicesIn: (trx, afterCommit) => createExposedServiceStore({ db: trx, events: deferredEvents(events, afterCommit), tcpPortRange: config.tcpPortRange }),
      urls: addresses,
      registry: tunnels,
    })
    // Provisioning and agent releases, then the agent API inside tunnels and the SSH server that carries it.
    const provisioning = wireProvisioning(core, api, { auditLog, fleets, devices, tunnel, deviceEndpoints })
    const { tunnelServer } = wireAgentApi(core, {
      tunnel,
      controlSecret,
      resolver: software.deviceResolver,
      restarts: software.restartQueue,
      services: exposedServices,
      metrics: deviceMetrics,
      releases: provisioning.agentReleases,
      targets: provisioning.agentTargets,
    })
    registerDeviceRuntimeRoutes(api, { devices, metrics: deviceMetrics, control: agentControl })
    const logStreamDeps = { events, authenticator, liveAccess, keepAliveMs: options.logKeepAliveMs ?? config.logKeepAliveMs, pollMs: options.logFollowPollMs ?? 2000, logger }
    registerDeviceLogRoutes(api, { devices, logs: createDeviceLogStore({ db }), ...logStreamDeps })
    // A changed service list changes the device's forwards: nudge its agent rather than wait for its heartbeat.
    events.on('service.changed', ({ device_uuid }) => void agentControl.sync(device_uuid))
    registerTerminalKeyRoutes(api, { terminalPublicKey: tunnel.terminalKey.publicKey, user: config.terminalUser })
    // The CLI's ssh and tunnel find the jump host and pin its key here.
    registerGatewayInfoRoutes(api, { version: packageVersion(), endpoints: deviceEndpoints, hostPublicKey: tunnel.hostKey.publicKey, deviceUser: config.terminalUser })
    const terminals = createTerminalBridge({
      authenticator,
      devices,
      registry: tunnels,
      locate,
      auditLog,
      terminalKey: tunnel.terminalKey,
      user: config.terminalUser,
      idleSeconds: config.terminalIdleSeconds,
      pingSeconds: options.terminalPingSeconds,
      liveAccess,
      logger,
    })
    closers.push('terminals', () => terminals.close())
    registerEventRoutes(api, { events, authenticator, liveAccess, pingIntervalMs: options.eventPingMs })

    const metrics = createMetricsRegistry()
    registerRolloutMetrics(metrics, { db, logger })
    // TLS: certificates (ACME or files, keys sealed with their own derived key), the HTTPS listener, and plain HTTP's role once TLS is on.
    const tls = createTlsGateway({ config, db, secretBox: createSecretBox(masterKey.derive('tls-keys')), events, metrics, logger, tuning: options.tls, onCertificateStored: invalidation.certificateStored })
    invalidation.onCertificate(() => tls.reload())
    // After the LISTEN connection was lost, whatever another node changed meanwhile is re-read.
    notifications.onResync(() => (routeTable.invalidate(), tls.reload()))
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
    // A worker of several: a connection for a device a sibling worker holds moves there (connection-handoff.ts).
    const workers = options.workerHandoff
    if (workers && config.cluster.nodeId) {
      const connections = attachConnectionHandoff({
        server: httpServer,
        nodeId: config.cluster.nodeId,
        logger,
        send: (message, socket) => workers.send(message, socket),
        async siblingFor(host, path) {
          if (host === config.consoleHost || !routeTable.isDeviceHost(host)) return undefined
          const route = await routeTable.resolve(host, path)
          if (route.kind !== 'route' || tunnels.get(route.device.id)) return undefined
          const owner = (await locate?.(route.device.id))?.ownerNode
          return owner && workers.siblings().has(owner) ? owner : undefined
        },
      })
      workers.onReceive((message, socket) => connections.receive(message, socket))
    }
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
    software.startTimers()
    const drain = createNodeDrain({
      registry: tunnels,
      stopAccepting: [() => void stopAccepting(httpServer), tunnelServer.stopAccepting, tls.stopAccepting],
      settings: { graceMs: config.cluster.drainGraceMs, spreadMs: config.cluster.drainSpreadMs },
      logger,
    })
    logger.info({ http_port: bound.http, https_port: bound.https, ssh_port: bound.ssh, address: config.bindAddress, database: database.description }, 'gateway listening')

    return {
      config,
      database,
      httpPort: bound.http,
      httpsPort: bound.https,
      sshPort: bound.ssh,
      hostPublicKey: tunnel.hostKey.publicKey,
      tunnels,
      bootstrap,
      events,
      metrics,
      servedRoutes: api.servedRoutes,
      nudgeDevices: targetNudge.nudgeDevices,
      drain: drain.drain,
      close: closers.unwind,
    }
  } catch (err) {
    await closers.unwind()
    throw err
  }
}
