import type { Command } from 'commander'
import { describeFailure } from './cli-error.js'
import { createRemoteContext, type RemoteContext } from './remote-context.js'

export type RemoteAction<A extends unknown[]> = (ctx: RemoteContext, ...args: A) => Promise<number | void>

/**
 * Wraps a remote command's action: builds the context, runs it, prints any
 * failure as one line and exits with its code. No stack trace reaches the
 * user unless EDGETAINER_DEBUG is set.
 */
export function remote<A extends unknown[]>(fn: RemoteAction<A>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    quietBrokenPipe()
    const debug = Boolean(process.env.EDGETAINER_DEBUG)
    let code: number
    try {
      code = (await fn(createRemoteContext(), ...args)) ?? 0
    } catch (err) {
      const failure = describeFailure(err, debug)
      process.stderr.write(failure.line + '\n')
      if (debug) console.error(err)
      code = failure.exitCode
    }
    process.exit(code)
  }
}

/** Usage errors as every other failure: `edgetainer: <what>`, one line, exit 1. */
export function oneLineUsageErrors(cmd: Command): Command {
  return cmd.showHelpAfterError(false).configureOutput({ outputError: (text, write) => write(`edgetainer: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`) })
}

/** Commander settings every remote command shares: `--json`, and usage errors as one line. */
export function remoteCommand(parent: Command, spec: string, description: string): Command {
  return oneLineUsageErrors(parent.command(spec).description(description)).option('--json', 'print JSON instead of text')
}

/** A command that only holds subcommands (`env`, `tokens`). */
export function remoteGroup(parent: Command, name: string, description: string): Command {
  return oneLineUsageErrors(parent.command(name).description(description))
}

/** `edgetainer x | head` closes stdout early; that is the reader's choice, not an error. */
export function quietBrokenPipe(): void {
  if (process.stdout.listenerCount('error') > 0) return
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
}
