import { CliError, EXIT } from './cli-error.js'

/** Passwords, tokens and secret values are short; a bigger stdin is a mistake (a file piped by accident). */
const MAX_STDIN_BYTES = 64 * 1024

/**
 * Reads all of stdin, without its one trailing newline (what `echo` and
 * here-strings add). Refuses a terminal: a secret typed there would echo.
 */
export async function readStdinValue(what: string, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) throw new CliError(EXIT.usage, `${what} is read from stdin: pipe it in, e.g. \`printf %s "$VALUE" | edgetainer …\``)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk))
    size += buf.length
    if (size > MAX_STDIN_BYTES) throw new CliError(EXIT.usage, `${what} on stdin is larger than ${MAX_STDIN_BYTES / 1024} KiB`)
    chunks.push(buf)
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')
  if (text.includes('\0')) throw new CliError(EXIT.usage, `${what} must not contain NUL bytes`)
  return text
}
