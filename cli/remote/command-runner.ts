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

/** Commander settings every remote command shares: `--json`, and usage errors as one line. */
export function remoteCommand(parent: Command, spec: string, description: string, options: { json?: boolean } = {}): Command {
  const cmd = parent.command(spec).description(description).showHelpAfterError(false)
  if (options.json !== false) cmd.option('--json', 'print JSON instead of text')
  return cmd
}

/** `edgetainer x | head` closes stdout early; that is the reader's choice, not an error. */
export function quietBrokenPipe(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
}
