import cluster from 'node:cluster'
import type { Socket } from 'node:net'
import type { WorkerHandoff } from '../server/start-options.js'
import type { Config } from '../server/config/config-schema.js'
import type { Logger } from '../server/logger.js'
import { baseNodeId, resolveWorkerCount, workerEnvironment, workerPeers } from './worker-plan.js'
import { createWorkerSupervisor, type WorkerReady } from './worker-supervisor.js'

/**
 * `edgetainer server`: one gateway process, or with several workers (docs/deploy.md)
 * a primary that forks them; each worker runs exactly what a single process runs.
 */
export async function runServerCommand(config: Config, logger: Logger, options: { workers?: number } = {}): Promise<void> {
  if (cluster.isWorker) return runGateway(config, logger, Number(process.env.EDGETAINER_WORKER_INDEX ?? 0))
  const count = resolveWorkerCount(config, options.workers)
  if (count === 1) return runGateway(config, logger, undefined)
  return runPrimary(config, logger, count)
}

/** Start, print how to reach the console, stop cleanly on SIGINT/SIGTERM. */
async function runGateway(config: Config, logger: Logger, workerIndex: number | undefined): Promise<void> {
  // Loaded here, not at the top: the primary of several workers serves nothing and starts faster without them.
  const { startServer } = await import('../server/main.js')
  const { installUnexpectedErrorGuard } = await import('../server/unexpected-error-guard.js')
  const server = await startServer(config, logger, workerIndex === undefined ? {} : { workerHandoff: await workerHandoff() })
  // From here on no stray error may end the process: every device's tunnel lives in it.
  installUnexpectedErrorGuard({ logger, metrics: server.metrics })
  const lines = workerIndex === undefined ? [`Edgetainer is running. Console: http://${config.consoleHost}:${server.httpPort}/`] : []
  if (server.bootstrap?.generatedPassword) {
    lines.push(`First start: created user "admin" with password ${server.bootstrap.generatedPassword}`)
    lines.push('This password is shown only once. Change it with: bin/edgetainer user passwd admin')
  }
  // Written to stdout directly, not the log: the generated password must not end up in log storage.
  if (lines.length) process.stdout.write(`\n${lines.join('\n')}\n\n`)
  if (workerIndex !== undefined) {
    const ready: WorkerReady = { type: 'edgetainer:worker-ready', index: workerIndex, nodeId: config.cluster.nodeId ?? '', httpPort: server.httpPort, sshPort: server.sshPort }
    process.send?.(ready)
  }

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    // Devices first move to other nodes (up to drain_grace_seconds), then everything closes.
    const force = setTimeout(() => process.exit(1), config.cluster.drainGraceMs + 10_000)
    force.unref()
    await server.drain()
    await server.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
}

/** A worker's side of moving connections between workers (server/cluster/connection-handoff.ts), over its IPC channel to the primary. */
async function workerHandoff(): Promise<WorkerHandoff> {
  const { isHandoffMessage, isSiblingsMessage } = await import('../server/cluster/connection-handoff.js')
  const siblings = new Set<string>()
  let receive: Parameters<WorkerHandoff['onReceive']>[0] | undefined
  process.on('message', (message: unknown, handle: unknown) => {
    if (isSiblingsMessage(message)) {
      siblings.clear()
      for (const id of message.nodeIds) siblings.add(id)
    } else if (isHandoffMessage(message)) {
      if (receive) receive(message, handle as Socket | undefined)
      else (handle as Socket | undefined)?.destroy()
    }
  })
  return {
    siblings: () => siblings,
    send: (message, socket) => process.send?.(message, socket),
    onReceive: (handler) => (receive = handler),
  }
}

/** The primary: forks the workers, keeps them running, passes SIGTERM/SIGINT on and exits once they have. */
async function runPrimary(config: Config, logger: Logger, count: number): Promise<void> {
  const base = baseNodeId(config)
  const peers = workerPeers(config)
  // Fail on a bad peer_url before forking anything.
  for (let i = 0; i < count; i++) workerEnvironment({ baseNodeId: base, ...peers, index: i, count })
  const supervisor = createWorkerSupervisor({
    cluster,
    logger,
    count,
    env: (index) => workerEnvironment({ baseNodeId: base, ...peers, index, count }),
  })
  let stopping = false
  const stop = async (signal: NodeJS.Signals, code: number) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping the workers')
    await supervisor.stop('SIGTERM')
    process.exit(code)
  }
  process.on('SIGINT', () => void stop('SIGINT', 0))
  process.on('SIGTERM', () => void stop('SIGTERM', 0))
  let ready: WorkerReady[]
  try {
    ready = await supervisor.start()
  } catch (err) {
    // The worker already printed why (one line on stderr); the primary adds nothing.
    await stop('SIGTERM', (err as { exitCode?: number }).exitCode || 1)
    return
  }
  const nodes = ready.map((r) => r.nodeId).join(', ')
  process.stdout.write(`\nEdgetainer is running with ${count} workers (nodes ${nodes}). Console: http://${config.consoleHost}:${ready[0]!.httpPort}/\n\n`)
}
