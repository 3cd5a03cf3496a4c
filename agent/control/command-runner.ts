import { execa } from 'execa'
import type { CommandResult } from '../../shared/agent-wire.js'

/** What a command may print before it is cut: enough for a diagnosis, bounded for the tunnel and the API. */
const MAX_OUTPUT = 256 * 1024

function cut(text: string): { text: string; truncated: boolean } {
  return text.length > MAX_OUTPUT ? { text: text.slice(0, MAX_OUTPUT), truncated: true } : { text, truncated: false }
}

/** Runs an allowed argv without a shell, with a timeout, and reports what happened. */
export async function runCommand(argv: readonly string[], timeoutMs: number): Promise<CommandResult> {
  const started = Date.now()
  const r = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    timeout: timeoutMs,
    stdin: 'ignore',
    maxBuffer: MAX_OUTPUT * 2,
    forceKillAfterDelay: 2000,
    cwd: '/',
    // Output as the command printed it, final newline included.
    stripFinalNewline: false,
  })
  const notFound = (r as { code?: string }).code === 'ENOENT'
  const stdout = cut(String(r.stdout ?? ''))
  const stderr = cut(notFound ? `${argv[0]}: command not found` : String(r.stderr ?? ''))
  return {
    exit_code: notFound ? 127 : (r.exitCode ?? null),
    signal: r.signal ?? null,
    stdout: stdout.text,
    stderr: stderr.text,
    timed_out: Boolean(r.timedOut),
    truncated: stdout.truncated || stderr.truncated || Boolean(r.isMaxBuffer),
    duration_ms: Date.now() - started,
  }
}
