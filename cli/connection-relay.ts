import type { Worker } from 'node:cluster'
import type { Socket } from 'node:net'
import type { Logger } from '../server/logger.js'
import { SIBLINGS_MESSAGE, type HandoffMessage, type SiblingsMessage } from '../server/cluster/connection-handoff.js'
import { stopReading } from '../shared/socket-handoff.js'

/**
 * The primary's part in moving a connection between workers
 * (server/cluster/connection-handoff.ts): it passes the socket on to the
 * worker named in the message, or back to the one that sent it when that
 * worker is gone, and tells every worker who its siblings are.
 */
export function createConnectionRelay(deps: { workers: () => ReadonlyMap<string, Worker>; logger: Logger }) {
  return {
    relay(message: HandoffMessage, socket: Socket | undefined, from: Worker) {
      if (!socket) return
      try {
        // Node starts reading a socket it receives; what it read here would be lost on the way on.
        const extra = stopReading(socket)
        const forward: HandoffMessage = extra.length ? { ...message, head: Buffer.concat([Buffer.from(message.head, 'base64'), extra]).toString('base64') } : message
        const target = deps.workers().get(message.to)
        const via = target?.isConnected() ? target : from.isConnected() ? from : undefined
        if (!via) return socket.destroy()
        const to = via === target ? message.to : message.from
        via.send({ ...forward, to }, socket, (err: Error | null) => {
          if (err) {
            deps.logger.debug({ err: err.message, to }, 'could not pass a connection on to a worker')
            socket.destroy()
          }
        })
      } catch (err) {
        // The primary serves nothing and must not fall over: this one connection is lost, the client connects again.
        deps.logger.warn({ err: (err as Error).message }, 'could not pass a connection on to a worker')
        socket.destroy()
      }
    },

    /** Tells each worker the node ids of all the workers running now. */
    announce() {
      const workers = deps.workers()
      const message: SiblingsMessage = { type: SIBLINGS_MESSAGE, nodeIds: [...workers.keys()] }
      for (const worker of workers.values()) {
        try {
          if (worker.isConnected()) worker.send(message)
        } catch (err) {
          // A worker whose channel just closed: it is being restarted, and hears the list once it is ready.
          deps.logger.debug({ err: (err as Error).message }, 'could not tell a worker its siblings')
        }
      }
    },
  }
}
