import type { Config } from '../server/config/config-schema.js'
import type { Logger } from '../server/logger.js'
import { startServer } from '../server/main.js'
import { installUnexpectedErrorGuard } from '../server/unexpected-error-guard.js'

/** `edgetainer server`: start, print how to reach the console, stop cleanly on SIGINT/SIGTERM. */
export async function runServerCommand(config: Config, logger: Logger): Promise<void> {
  const server = await startServer(config, logger)
  // From here on no stray error may end the process: every device's tunnel lives in it.
  installUnexpectedErrorGuard({ logger, metrics: server.metrics })
  const url = `http://${config.consoleHost}:${server.httpPort}/`
  const lines = [`Edgetainer is running. Console: ${url}`]
  if (server.bootstrap?.generatedPassword) {
    lines.push(`First start: created user "admin" with password ${server.bootstrap.generatedPassword}`)
    lines.push('This password is shown only once. Change it with: bin/edgetainer user passwd admin')
  }
  // Written to stdout directly, not the log: the generated password must not end up in log storage.
  process.stdout.write(`\n${lines.join('\n')}\n\n`)

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
