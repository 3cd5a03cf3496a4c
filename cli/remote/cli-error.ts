/**
 * Exit codes of the remote commands, documented in docs/cli.md. Scripts
 * branch on them, so they never change meaning.
 */
export const EXIT = {
  ok: 0,
  /** Bad arguments, or the gateway refused the input (400, 409). */
  usage: 1,
  /** Not logged in, bad credentials, or the role does not allow it (401, 403). */
  auth: 2,
  /** The device, fleet, software, token or variable does not exist (404). */
  notFound: 3,
  /** The gateway is unreachable, slow, answered 5xx, or answered something that is not its API. */
  server: 4,
  /** A bug in the CLI itself. */
  internal: 5,
  /** `rollouts watch`: the rollout ended failed, rolled back or cancelled. */
  unsuccessful: 6,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** An error whose message is the whole story for the user: printed as one line, no stack. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

export const usageError = (message: string) => new CliError(EXIT.usage, message)

/** C0/C1 controls and ESC sequences: text from a server or device must not drive the user's terminal. */
const escapeSequence = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]?|[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/** Makes untrusted text safe to print: no terminal control, tabs kept, newlines only when allowed. */
export function printable(text: string, options: { newlines?: boolean } = {}): string {
  const cleaned = text.replace(escapeSequence, '')
  return options.newlines ? cleaned : cleaned.replace(/[\r\n]+/g, ' ')
}

/** One line, bounded, printable: what an error message from anywhere becomes before it reaches stderr. */
export function oneLine(text: string, max = 400): string {
  const line = printable(String(text)).replace(/\s+/g, ' ').trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}

/** The line printed for any error, and the exit code that goes with it. */
export function describeFailure(err: unknown, debug: boolean): { line: string; exitCode: ExitCode } {
  if (err instanceof CliError) return { line: `edgetainer: ${oneLine(err.message)}`, exitCode: err.exitCode }
  const message = err instanceof Error ? err.message : String(err)
  const hint = debug ? '' : ' (set EDGETAINER_DEBUG=1 for details)'
  return { line: `edgetainer: unexpected error: ${oneLine(message)}${hint}`, exitCode: EXIT.internal }
}
