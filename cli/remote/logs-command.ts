import type { Command } from 'commander'
import { logEntry, logPage, type LogEntry } from './api-schemas.js'
import type { ApiClient } from './api-client.js'
import { CliError, EXIT, printable, usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import type { Io } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { checkDeviceRef } from './resolve.js'
import { createSseReader } from './sse-reader.js'

interface LogsOptions {
  follow?: boolean
  service?: string
  since?: string
  tail?: string
  json?: boolean
}

/** The logs route's page limit. */
const PAGE = 1000
const MAX_PAGES = 1000
/** The gateway sends a keep-alive comment well within this; silence longer than it is a dead connection. */
const STREAM_IDLE_MS = 90_000
const RECONNECT_MAX_MS = 10_000

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `--since`: an ISO 8601 time, or a duration back from now (`30s`, `10m`, `2h`, `7d`). */
export function parseSince(value: string, now = Date.now()): string {
  const relative = /^(\d{1,9})([smhd])$/.exec(value)
  if (relative) {
    const at = new Date(now - Number(relative[1]) * units[relative[2]!]!)
    if (!Number.isFinite(at.getTime())) throw usageError('--since goes back further than any log')
    return at.toISOString()
  }
  const time = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/.test(value) ? Date.parse(value) : NaN
  if (!Number.isFinite(time)) throw usageError('--since must be an ISO 8601 time (2026-12-01T10:00:00Z) or a duration such as 30s, 10m, 2h or 7d')
  return new Date(time).toISOString()
}

const serviceName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/

function printEntry(io: Io, entry: LogEntry, json: boolean) {
  if (json) return io.out(JSON.stringify(entry) + '\n')
  // A device's output is untrusted: no escape sequence reaches the terminal.
  io.out(`${printable(entry.created_at)} [${printable(entry.container ?? entry.log_type)}] ${printable(entry.message)}\n`)
}

async function printPages(ctx: RemoteContext, api: ApiClient, path: string, query: Record<string, string | undefined>, tail: number | undefined, json: boolean) {
  let offset = 0
  if (tail !== undefined) {
    const head = await api.get(logPage, path, { query: { ...query, limit: 1 } })
    offset = Math.max(0, head.total - tail)
  }
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const page = await api.get(logPage, path, { query: { ...query, limit: PAGE, offset } })
    for (const entry of page.items) printEntry(ctx.io, entry, json)
    offset += page.items.length
    if (!page.items.length || offset >= page.total) break
  }
}

/**
 * Follows the device's log stream (Server-Sent Events): backfill, then live
 * lines. A dropped connection is reopened from the newest line seen, and
 * lines seen already are skipped, so a reconnect neither loses nor repeats.
 */
async function follow(ctx: RemoteContext, api: ApiClient, path: string, query: Record<string, string | undefined>, json: boolean): Promise<never> {
  const seen = new Set<string>()
  let since = query.since
  let lastId: string | undefined
  let delay = 500
  let warned = false
  for (;;) {
    const abort = new AbortController()
    let idle: NodeJS.Timeout | undefined
    const touch = () => {
      clearTimeout(idle)
      idle = setTimeout(() => abort.abort(new Error('the stream went silent')), STREAM_IDLE_MS)
    }
    touch()
    try {
      // Last-Event-ID resumes right after the newest line seen; `since` is for a gateway that ignores it.
      const resume: Record<string, string> = lastId ? { 'last-event-id': lastId } : {}
      const res = await api.send('GET', path, { query: { ...query, since, follow: '1' }, headers: { accept: 'text/event-stream', ...resume }, signal: abort.signal })
      if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel().catch(() => {})
        throw new CliError(EXIT.server, `the gateway at ${api.origin} does not stream logs (no text/event-stream answer); upgrade it, or leave out -f`)
      }
      delay = 500
      const reader = createSseReader((event) => {
        if (event.event !== 'log') return
        let parsed: unknown
        try {
          parsed = JSON.parse(event.data)
        } catch {
          parsed = undefined
        }
        const entry = logEntry.safeParse(parsed)
        if (!entry.success) {
          if (!warned) ctx.io.err('edgetainer: skipped a log event the CLI cannot read\n')
          warned = true
          return
        }
        const key = String(entry.data.id)
        if (seen.has(key)) return
        seen.add(key)
        // Ids are only needed to skip the overlap of a reconnect: keep the newest ones.
        if (seen.size > 20_000) for (const old of [...seen].slice(0, 10_000)) seen.delete(old)
        since = entry.data.created_at
        lastId = key
        printEntry(ctx.io, entry.data, json)
      })
      for await (const chunk of res.body ?? []) {
        touch()
        reader.push(chunk as Uint8Array)
      }
      ctx.io.err('edgetainer: the log stream ended; reconnecting\n')
    } catch (err) {
      // Refusals are final; a lost connection is not.
      if (err instanceof CliError && err.exitCode !== EXIT.server) throw err
      if (err instanceof CliError && /does not stream logs/.test(err.message)) throw err
      ctx.io.err(`edgetainer: log stream lost (${printable(err instanceof Error ? err.message : String(err))}); reconnecting\n`)
    } finally {
      clearTimeout(idle)
      abort.abort()
    }
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, RECONNECT_MAX_MS)
  }
}

async function logs(ctx: RemoteContext, device: string, opts: LogsOptions) {
  if (opts.service !== undefined && !serviceName.test(opts.service)) throw usageError('--service must be a compose service name: letters, digits, dot, dash or underscore')
  let tail: number | undefined
  if (opts.tail !== undefined) {
    tail = Number(opts.tail)
    if (!Number.isInteger(tail) || tail < 0 || tail > 1_000_000) throw usageError('--tail must be a whole number of lines')
  }
  const query = { container: opts.service, since: opts.since === undefined ? undefined : parseSince(opts.since) }
  const api = ctx.client()
  const path = `/api/devices/${encodeURIComponent(checkDeviceRef(device))}/logs`
  const notFound = `device "${device}"`
  if (opts.follow) {
    // The stream's own backfill covers what came before; --since moves its start.
    process.once('SIGINT', () => process.exit(0))
    process.once('SIGTERM', () => process.exit(0))
    return follow(ctx, { ...api, get: api.get, send: (m, p, o) => api.send(m, p, { ...o, notFound }) }, path, query, Boolean(opts.json))
  }
  // Without --since, the newest lines (balena shows the tail too); with it, everything since.
  const wrapped: ApiClient = { ...api, get: (schema, p, o) => api.get(schema, p, { ...o, notFound }) }
  await printPages(ctx, wrapped, path, query, tail ?? (query.since ? undefined : 100), Boolean(opts.json))
}

export function registerLogsCommand(program: Command) {
  remoteCommand(program, 'logs <device>', "print a device's logs (container output, deploys, state changes); -f follows them live")
    .option('-f, --follow', 'keep printing new lines as they arrive')
    .option('-s, --service <service>', 'only this compose service')
    .option('--since <time>', 'from this time: ISO 8601, or a duration such as 10m, 2h, 7d')
    .option('-n, --tail <lines>', 'the newest N lines (default 100 without --since)')
    .action(remote(logs))
}
