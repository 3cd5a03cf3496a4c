import type { Cluster, Worker } from 'node:cluster'
import type { Socket } from 'node:net'
import type { Logger } from '../server/logger.js'
import { isHandoffMessage } from '../server/cluster/connection-handoff.js'
import { createConnectionRelay } from './connection-relay.js'

/**
 * The primary of `edgetainer server --workers N`: forks the workers (node:cluster,
 * so they share the HTTP, HTTPS and SSH listeners), restarts one that dies with
 * a growing delay, and passes SIGTERM/SIGINT on. It opens no database and
 * serves nothing itself, so it has nothing to crash on.
 */

/** What a worker sends its primary once its listeners are up. */
export interface WorkerReady {
  type: 'edgetainer:worker-ready'
  index: number
  nodeId: string
  httpPort: number
  sshPort: number
}

export function isWorkerReady(message: unknown): message is WorkerReady {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'edgetainer:worker-ready'
}

export interface SupervisorOptions {
  cluster: Cluster
  logger: Logger
  count: number
  /** The environment worker `index` is forked with (node id, peer url). */
  env: (index: number) => Record<string, string>
  /** Restart delay: starts at minMs, doubles per crash in a row up to maxMs; a worker that ran resetAfterMs starts over. */
  restart?: { minMs: number; maxMs: number; resetAfterMs: number }
  /** How long the workers get to stop after SIGTERM before they are killed. */
  shutdownGraceMs?: number
}

interface Slot {
  index: number
  worker: Worker | undefined
  /** The worker's node id, once it reported ready. */
  nodeId: string | undefined
  startedAt: number
  crashes: number
  timer: NodeJS.Timeout | undefined
}

const DEFAULT_RESTART = { minMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 }

export function createWorkerSupervisor(options: SupervisorOptions) {
  const { cluster, logger } = options
  const restart = options.restart ?? DEFAULT_RESTART
  const slots: Slot[] = Array.from({ length: options.count }, (_, index) => ({ index, worker: undefined, nodeId: undefined, startedAt: 0, crashes: 0, timer: undefined }))
  // Connections that move to the worker holding their device pass through here (cli/connection-relay.ts).
  const relay = createConnectionRelay({
    logger,
    workers: () => new Map(slots.flatMap((s) => (s.worker && s.nodeId ? [[s.nodeId, s.worker] as const] : []))),
  })
  let stopping = false

  /** Forks worker `slot.index`; resolves with its ready message, rejects with its exit code if it dies first. */
  function fork(slot: Slot): Promise<WorkerReady> {
    const worker = cluster.fork(options.env(slot.index))
    slot.worker = worker
    slot.startedAt = Date.now()
    return new Promise((resolve, reject) => {
      let ready = false
      worker.on('message', (message: unknown, handle: unknown) => {
        if (isHandoffMessage(message)) return relay.relay(message, handle as Socket | undefined, worker)
        if (!isWorkerReady(message) || ready) return
        ready = true
        slot.nodeId = message.nodeId || undefined
        logger.info({ worker: slot.index, pid: worker.process.pid, node_id: message.nodeId }, 'worker ready')
        relay.announce()
        resolve(message)
      })
      worker.once('exit', (code, signal) => {
        if (slot.worker === worker) {
          slot.worker = undefined
          slot.nodeId = undefined
          relay.announce()
        }
        if (!ready) reject(Object.assign(new Error(`worker ${slot.index} exited (${signal ?? code}) before it was ready`), { exitCode: code ?? 1 }))
        else onExit(slot, code, signal)
      })
    })
  }

  function onExit(slot: Slot, code: number | null, signal: string | null) {
    if (stopping) return
    if (Date.now() - slot.startedAt >= restart.resetAfterMs) slot.crashes = 0
    const delayMs = Math.min(restart.maxMs, restart.minMs * 2 ** slot.crashes)
    slot.crashes++
    logger.warn({ worker: slot.index, code, signal, restart_in_ms: delayMs }, 'worker exited; restarting it')
    scheduleRestart(slot, delayMs)
  }

  function scheduleRestart(slot: Slot, delayMs: number) {
    slot.timer = setTimeout(() => {
      slot.timer = undefined
      if (stopping) return
      // A worker that cannot start (database down) is tried again, later each time.
      fork(slot).catch((err: Error) => {
        if (stopping) return
        const next = Math.min(restart.maxMs, restart.minMs * 2 ** slot.crashes)
        slot.crashes++
        logger.warn({ worker: slot.index, err: err.message, restart_in_ms: next }, 'worker did not start; trying again')
        scheduleRestart(slot, next)
      })
    }, delayMs)
  }

  return {
    /**
     * Starts worker 0 alone first: it runs the migrations and writes the keys a
     * first start creates in the shared data dir, so the others find them made.
     * Any worker failing to start here is fatal, as for a single process.
     */
    async start(): Promise<WorkerReady[]> {
      const first = await fork(slots[0]!)
      const rest = await Promise.all(slots.slice(1).map((slot) => fork(slot)))
      return [first, ...rest]
    },

    pids(): number[] {
      return slots.flatMap((s) => (s.worker?.process.pid ? [s.worker.process.pid] : []))
    },

    /** SIGTERM to every worker (each closes cleanly and leaves the registry); SIGKILL past the grace period. */
    async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
      stopping = true
      for (const slot of slots) if (slot.timer) clearTimeout(slot.timer)
      const live = slots.flatMap((s) => (s.worker && s.worker.process.exitCode === null && s.worker.process.signalCode === null ? [s.worker] : []))
      const exits = live.map((w) => new Promise<void>((resolve) => w.process.once('exit', () => resolve())))
      for (const w of live) w.process.kill(signal)
      const force = setTimeout(() => {
        for (const w of live) w.process.kill('SIGKILL')
      }, options.shutdownGraceMs ?? 30_000)
      await Promise.all(exits)
      clearTimeout(force)
    },
  }
}
