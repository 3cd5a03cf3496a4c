import type { Logger } from '../logger.js'

type Closer = () => Promise<void> | void

/**
 * What the gateway has started, in order, so that it can be stopped in reverse
 * (fastify's onClose). Each part pushes its close as soon as it is running;
 * a failed start and a normal shutdown both unwind the same stack, so nothing
 * started is ever left bound. Unwinding goes on past a failing closer (logged)
 * and runs once, however often it is called.
 */
export function createCloseStack(logger: Logger) {
  const closers: { name: string; close: Closer }[] = []
  let unwinding: Promise<void> | undefined

  async function unwindAll(): Promise<void> {
    while (closers.length) {
      const { name, close } = closers.pop()!
      try {
        await close()
      } catch (err) {
        logger.error({ err, part: name }, 'could not close part of the gateway')
      }
    }
  }

  return {
    /** Registers `close` for a part that is now running. */
    push(name: string, close: Closer): void {
      if (unwinding) throw new Error(`cannot start ${name}: the gateway is closing`)
      closers.push({ name, close })
    },
    /** The names still to close, last started first (tests read it). */
    pending: (): string[] => closers.map((c) => c.name).reverse(),
    unwind(): Promise<void> {
      unwinding ??= unwindAll()
      return unwinding
    },
  }
}

export type CloseStack = ReturnType<typeof createCloseStack>
