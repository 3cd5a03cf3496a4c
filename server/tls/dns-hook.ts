import { execa } from 'execa'
import type { Logger } from '../logger.js'

/**
 * DNS-01 through an operator's command: `<hook> set <record> <value>` before
 * validation and `<hook> clear <record> <value>` after it. The record is the
 * full name (`_acme-challenge.example.com`), the value the TXT content. The
 * hook should return once the record is published at the authoritative
 * servers, because the CA looks right after.
 */
export function createDnsHook(deps: { command: string; logger: Logger; timeoutMs?: number }) {
  const timeout = deps.timeoutMs ?? 300_000

  async function run(action: 'set' | 'clear', record: string, value: string): Promise<void> {
    const result = await execa(deps.command, [action, record, value], { timeout, reject: false, stdin: 'ignore', all: true })
    if (result.exitCode === 0 && !result.timedOut) return
    // The hook's output stays at debug level: DNS provider tools like to print their credentials.
    deps.logger.debug({ action, record, output: String(result.all ?? '').slice(-500) }, 'DNS hook output')
    throw new Error(result.timedOut ? `DNS hook timed out (${action} ${record})` : `DNS hook failed with exit code ${result.exitCode ?? 'none'} (${action} ${record})`)
  }

  return {
    set: (record: string, value: string) => run('set', record, value),
    clear: (record: string, value: string) => run('clear', record, value),
  }
}

export type DnsHook = ReturnType<typeof createDnsHook>
