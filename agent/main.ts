import { EventEmitter } from 'node:events'
import { bufferPaddingRandomness } from '../shared/ssh2-internals.js'
import path from 'node:path'
import type { AgentConfig } from './config/agent-config.js'
import type { Logger } from './agent-logger.js'
import { createIdentityStore, type Registration } from './identity/identity-store.js'
import { ensureRegistered } from './identity/register.js'
import { createOutbox, type Outbox } from './outbox/outbox.js'
import { createOutboxSender } from './outbox/outbox-sender.js'
import { createDockerCli } from './docker/docker-cli.js'
import { createContainers } from './docker/containers.js'
import { createStackStore } from './deploy/stack-store.js'
import { createComposeExecutor } from './deploy/compose-executor.js'
import { createContainerWatch } from './status/container-watch.js'
import { followContainerEvents } from './docker/container-events.js'
import { createLogCollector } from './status/log-collector.js'
import { createSystemMetrics } from './status/system-metrics.js'
import { parseAllowlist } from './control/allowlist.js'
import { runCommand } from './control/command-runner.js'
import { createControlServer } from './control/control-server.js'
import { createContainerActions } from './control/container-actions.js'
import { createForwards } from './tunnel/forwards.js'
import { createTunnelClient } from './tunnel/tunnel-client.js'
import { createAgentApiClient } from './tunnel/agent-api-client.js'
import { createSyncLoop } from './sync/sync-loop.js'
import { createSelfUpdater } from './update/self-updater.js'
import { createUpdateState } from './update/update-state.js'
import type { OutboxEventInput } from '../shared/agent-wire.js'

export interface RunningAgent {
  readonly registration: Registration
  readonly outbox: Outbox
  /** True while the tunnel is up. */
  online(): boolean
  /** Fetches config and software and applies them now; resolves when done. */
  syncNow(): Promise<void>
  close(): Promise<void>
}

/**
 * The agent's composition root: identity and registration, the outbox, the
 * docker parts, the control API, the tunnel and the sync loop, wired
 * explicitly. Resolves once registered and started (the tunnel comes up on
 * its own); undefined if `signal` aborted registration.
 */
export async function startAgent(
  config: AgentConfig,
  logger: Logger,
  options: {
    version?: string
    signal?: AbortSignal
    /** Exit for the supervisor to start the executable now in place (a self-update or its rollback). Without it, updates are off. */
    restart?: (reason: string) => void
  } = {},
): Promise<RunningAgent | undefined> {
  // ssh2 draws each packet's padding from the CSPRNG in bulk rather than one call per packet (shared/ssh2-internals.ts).
  bufferPaddingRandomness()
  const stopping = new AbortController()
  const signal = options.signal ? AbortSignal.any([options.signal, stopping.signal]) : stopping.signal
  const backoff = { baseMs: config.reconnect_base_seconds * 1000, capMs: config.reconnect_max_seconds * 1000 }

  const identity = createIdentityStore(config.data_dir)
  const keys = identity.keyPair()
  const registration = await ensureRegistered({ identity, serverUrl: config.server_url, token: config.token, logger, signal, backoff })
  if (!registration) return undefined
  // Ignition's pinned key wins over what the registration reply said.
  const hostKey = config.host_key ?? registration.host_key
  if (config.host_key && config.host_key.split(' ')[1] !== registration.host_key.split(' ')[1]) {
    logger.warn('the gateway host key from registration differs from the pinned one; trusting the pinned key only')
  }

  const outbox = createOutbox({ dir: path.join(config.data_dir, 'outbox'), maxBytes: config.outbox_max_bytes, logger })
  const report = (events: OutboxEventInput[]) => void outbox.append(events)
  const docker = createDockerCli({ configured: config.docker, host: config.docker_host, logger })
  const containers = createContainers({ docker, owner: registration.device_id })
  const stacks = createStackStore({ dataDir: config.data_dir, owner: registration.device_id })
  const watch = createContainerWatch({ containers, report })
  const executor = createComposeExecutor({
    docker,
    containers,
    stacks,
    // The gateway judges a release by the heartbeats after its report: the next one looks at the containers again.
    report: (events) => {
      report(events)
      if (events.some((e) => e.kind === 'deploy')) watch.invalidate()
    },
    logger,
    timeouts: { deployMs: config.deploy_timeout_seconds * 1000, stableMs: config.deploy_stable_seconds * 1000 },
    signal,
  })

  const containerActions = createContainerActions({ docker, containers, stacks, logger })

  // The parts call each other in a circle (control → sync → API client → tunnel → control), so they
  // meet through these events instead of closures over names declared further down.
  const happenings = new EventEmitter<{ 'sync-requested': []; 'tunnel-up': []; 'containers-changed': []; 'container-events-live': [] }>()
  const containerEvents = followContainerEvents({
    docker,
    owner: registration.device_id,
    onChange: () => happenings.emit('containers-changed'),
    onLiveChange: () => happenings.emit('container-events-live'),
    logger,
  })
  let controlKey: string | undefined
  const control = createControlServer({
    allowlist: parseAllowlist(config.command_allowlist),
    controlKey: () => controlKey,
    actions: {
      runCommand,
      restartStacks: () => executor.restartAll(),
      sync: () => void happenings.emit('sync-requested'),
      container: (request) => containerActions.run(request),
    },
    logger,
  })
  // What the watch saw is current only while docker's events keep it so; otherwise forwards ask docker.
  const forwards = createForwards({ sshdAddress: config.sshd_address, containers, known: async () => (containerEvents.live ? watch.fresh() : []), control, logger })
  const tunnel = createTunnelClient({
    endpoint: { host: config.ssh_host ?? registration.ssh.host, port: config.ssh_port ?? registration.ssh.port, username: registration.device_id, privateKey: keys.privateKey, hostKey },
    backoff,
    logger,
    onChannel: forwards.onChannel,
    async onUp(connection) {
      await forwards.establish(connection)
      happenings.emit('tunnel-up')
    },
    onDown: () => {},
  })
  const api = createAgentApiClient({ connection: () => tunnel.connection })
  const sender = createOutboxSender({ outbox, api, logger, online: () => Boolean(tunnel.connection) })
  const restart = options.restart
  const updater = restart
    ? createSelfUpdater({
        api,
        state: createUpdateState(config.data_dir),
        executablePath: config.executable_path,
        releaseKey: config.release_key,
        version: options.version ?? '0.0.0',
        arch: process.arch === 'arm64' ? 'arm64' : 'x64',
        selfCheckMs: config.update_self_check_seconds * 1000,
        report: (message) => report([{ kind: 'agent', at: new Date().toISOString(), message }]),
        restart,
        logger,
      })
    : undefined
  // An update left on disk is finished first: a rollback in progress restarts before anything else starts.
  if (updater && !updater.resume()) {
    outbox.close()
    return undefined
  }
  let updateTimer: NodeJS.Timeout | undefined
  const scheduleUpdateCheck = (ms: number) => {
    clearTimeout(updateTimer)
    if (!updater || stopping.signal.aborted) return
    updateTimer = setTimeout(() => void updater.check().finally(() => scheduleUpdateCheck(config.update_check_seconds * 1000)), ms)
  }
  const sync = createSyncLoop({
    api,
    stacks,
    executor,
    watch,
    logs: createLogCollector({ docker, dataDir: config.data_dir, report, logger }),
    outbox,
    metrics: createSystemMetrics({ diskPath: config.data_dir }),
    online: () => Boolean(tunnel.connection),
    async applyConfig(gatewayConfig) {
      controlKey = gatewayConfig.control_key
      const connection = tunnel.connection
      if (connection) await forwards.setServices(connection, gatewayConfig.services)
    },
    agentVersion: options.version ?? '0.0.0',
    agentArch: process.arch === 'arm64' ? 'arm64' : 'x64',
    onHeartbeatAccepted: () => updater?.onHeartbeatAccepted(),
    heartbeatSeconds: config.heartbeat_seconds,
    watchSeconds: config.watch_seconds,
    eventsLive: () => containerEvents.live,
    lockRetrySeconds: config.update_lock_retry_seconds,
    logger,
  })

  happenings.on('sync-requested', () => void sync.syncNow())
  happenings.on('containers-changed', () => sync.lookSoon())
  happenings.on('container-events-live', () => sync.onEventsLiveChange())
  happenings.on('tunnel-up', () => {
    sender.kick()
    sync.onTunnelUp()
    scheduleUpdateCheck(0)
  })

  report([{ kind: 'agent', at: new Date().toISOString(), message: `agent ${options.version ?? ''} started`.replace('  ', ' ') }])
  sync.start()
  containerEvents.start()
  tunnel.start()
  logger.info({ device_id: registration.device_id, gateway: `${config.ssh_host ?? registration.ssh.host}:${config.ssh_port ?? registration.ssh.port}` }, 'agent started')

  let closing: Promise<void> | undefined
  return {
    registration,
    outbox,
    online: () => Boolean(tunnel.connection),
    syncNow: () => sync.syncNow(),
    close() {
      closing ??= (async () => {
        stopping.abort()
        clearTimeout(updateTimer)
        updater?.close()
        containerEvents.close()
        await sync.close()
        await sender.close()
        await tunnel.close()
        control.close()
        outbox.close()
        logger.info('agent stopped')
      })()
      return closing
    },
  }
}
