import type { ChildProcess } from 'node:child_process'

/**
 * Request/response over a forked child's IPC channel: the parent calls
 * `rpc.call('method', arg)`, the child answers through `serveRpc`. Messages
 * without an rpc id are events (progress reports) for `rpc.onEvent`.
 */
interface RpcRequest {
  rpc: number
  method: string
  arg: unknown
}
interface RpcReply {
  rpc: number
  ok: boolean
  value?: unknown
  error?: string
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handler = (arg: any) => unknown

export function serveRpc(handlers: Record<string, Handler>): void {
  process.on('message', (msg: RpcRequest) => {
    if (!msg || typeof msg.rpc !== 'number') return
    const handler = handlers[msg.method]
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`no rpc method ${msg.method}`)
        return handler(msg.arg)
      })
      .then(
        (value) => process.send?.({ rpc: msg.rpc, ok: true, value } satisfies RpcReply),
        (err: Error) => process.send?.({ rpc: msg.rpc, ok: false, error: err?.stack ?? String(err) } satisfies RpcReply),
      )
  })
  // The parent went away: nothing left to serve.
  process.on('disconnect', () => process.exit(0))
}

export function sendEvent(event: string, data: unknown): void {
  process.send?.({ event, data })
}

export class RpcChild {
  #next = 1
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  readonly #eventHandlers: ((event: string, data: unknown) => void)[] = []

  constructor(
    readonly child: ChildProcess,
    readonly name: string,
  ) {
    child.on('message', (msg: RpcReply & { event?: string; data?: unknown }) => {
      if (typeof msg?.rpc === 'number') {
        const pending = this.#pending.get(msg.rpc)
        if (!pending) return
        this.#pending.delete(msg.rpc)
        if (msg.ok) pending.resolve(msg.value)
        else pending.reject(new Error(`${name}: ${msg.error}`))
      } else if (msg?.event) {
        for (const h of this.#eventHandlers) h(msg.event, msg.data)
      }
    })
    // A send on a closed channel is reported through the pending call, not as an unhandled 'error'.
    child.on('error', () => {})
    child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) p.reject(new Error(`${name} exited (${code ?? signal}) with a call pending`))
      this.#pending.clear()
    })
  }

  get pid(): number {
    return this.child.pid!
  }

  call<T = unknown>(method: string, arg?: unknown, timeoutMs = 300_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.#next++
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new Error(`${this.name}.${method} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      if (!this.child.connected) {
        this.#pending.delete(id)
        clearTimeout(timer)
        return reject(new Error(`${this.name} is gone`))
      }
      this.child.send({ rpc: id, method, arg } satisfies RpcRequest, (err) => {
        if (!err) return
        this.#pending.delete(id)
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  onEvent(handler: (event: string, data: unknown) => void): void {
    this.#eventHandlers.push(handler)
  }

  /** Resolves on the child's first event of that name (e.g. `ready`). */
  waitEvent<T = unknown>(event: string, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${event} within ${timeoutMs} ms`)), timeoutMs)
      this.child.once('exit', (code) => reject(new Error(`${this.name} exited (${code}) before ${event}`)))
      this.onEvent((e, data) => {
        if (e !== event) return
        clearTimeout(timer)
        resolve(data as T)
      })
    })
  }
}
