import { readFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Logger } from '../agent-logger.js'
import type { ContainerInfo } from '../docker/containers.js'
import type { DockerCli } from '../docker/docker-cli.js'
import { writeFileAtomic } from '../identity/identity-store.js'
import { cleanText } from '../outbox/clean-text.js'
import type { OutboxEventInput } from '../../shared/agent-wire.js'

interface Cursor {
  /** The newest timestamp shipped, as docker printed it (RFC 3339 with nanoseconds). */
  ts: string
  /** Lines already shipped that carry exactly `ts`. */
  count: number
  /** The container's state when last read: a stopped container is read once more, then left alone. */
  state: string
}

/** Nanoseconds since the epoch: docker's timestamps drop trailing zeros, so strings do not compare. */
export function timestampNs(ts: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts)
  if (!m) return undefined
  const seconds = Date.parse(`${m[1]}Z`)
  if (!Number.isFinite(seconds)) return undefined
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'))
}

interface Line {
  ts: string
  ns: bigint
  stream: 'stdout' | 'stderr'
  text: string
}

/** One line of `docker logs --timestamps` output; undefined for anything else. */
export function parseLine(raw: string, stream: 'stdout' | 'stderr'): Line | undefined {
  if (!raw) return undefined
  const space = raw.indexOf(' ')
  const ts = space === -1 ? raw : raw.slice(0, space)
  const ns = timestampNs(ts)
  if (ns === undefined) return undefined
  return { ts, ns, stream, text: space === -1 ? '' : raw.slice(space + 1) }
}

function parseLines(output: string, stream: 'stdout' | 'stderr'): Line[] {
  return output.split('\n').flatMap((raw) => parseLine(raw, stream) ?? [])
}

/** Lines shipped by followers wait this long for company, so a burst becomes one outbox append. */
const FLUSH_MS = 25
/** Followers save cursors at most this often; a crash in between re-reads lines (at least once), never skips. */
const SAVE_MS = 1000

/**
 * Ships the output of the agent's containers into the outbox. A running
 * container is followed (`docker logs -f --timestamps --since <cursor>`), so
 * a line reaches the outbox as it is written; a stopped one is read once
 * after it stops. A per-container cursor on disk (newest timestamp shipped,
 * and how many lines carried it) means nothing is skipped across restarts
 * and offline periods: lines go to the outbox first, the cursor moves after.
 * Lines are cleaned of NUL and broken UTF-16 here, at the source.
 */
export function createLogCollector(deps: { docker: DockerCli; dataDir: string; report(events: OutboxEventInput[]): void; logger: Logger }) {
  const file = path.join(deps.dataDir, 'log-cursors.json')
  let cursors: Record<string, Cursor> = {}
  try {
    cursors = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Cursor>
  } catch {
    cursors = {}
  }
  const followers = new Map<string, { kill(): void; done: Promise<void> }>()
  let pending: OutboxEventInput[] = []
  let flushTimer: NodeJS.Timeout | undefined
  let saveTimer: NodeJS.Timeout | undefined
  let dirty = false
  let closed = false

  function save() {
    clearTimeout(saveTimer)
    saveTimer = undefined
    if (!dirty) return
    dirty = false
    writeFileAtomic(file, JSON.stringify(cursors), 0o600)
  }

  function flush() {
    clearTimeout(flushTimer)
    flushTimer = undefined
    if (!pending.length) return
    const events = pending
    pending = []
    deps.report(events)
  }

  /** Decides which lines are new against the container's cursor; ships them and moves the cursor. */
  function shipper(id: string, name: string) {
    const start = cursors[id]
    const lastNs = start ? timestampNs(start.ts) ?? -1n : -1n
    // Lines at exactly the cursor's timestamp that were shipped before: skip that many once.
    let skipAtLast = start?.count ?? 0
    return (line: Line): boolean => {
      if (line.ns < lastNs) return false
      if (line.ns === lastNs && skipAtLast > 0) {
        skipAtLast--
        return false
      }
      pending.push({ kind: 'log', at: new Date(Number(line.ns / 1_000_000n)).toISOString(), container: name, stream: line.stream, line: cleanText(line.text) })
      const cursor = cursors[id]
      const cursorNs = cursor ? timestampNs(cursor.ts) : undefined
      if (cursorNs === undefined || line.ns > cursorNs) cursors[id] = { ts: line.ts, count: 1, state: cursor?.state ?? 'running' }
      else if (line.ns === cursorNs) cursor!.count++
      dirty = true
      return true
    }
  }

  async function follow(c: ContainerInfo): Promise<void> {
    const cursor = cursors[c.id]
    const { child } = await deps.docker.spawn(['logs', '--follow', '--timestamps', ...(cursor ? ['--since', cursor.ts] : []), c.id])
    if (closed) {
      child.kill()
      return
    }
    const ship = shipper(c.id, c.service ?? c.name)
    const read = (stream: Readable | null, kind: 'stdout' | 'stderr') =>
      new Promise<void>((resolve) => {
        if (!stream) return resolve()
        const lines = createInterface({ input: stream, crlfDelay: Infinity })
        lines.on('line', (raw) => {
          const line = parseLine(raw, kind)
          if (line && ship(line)) {
            flushTimer ??= setTimeout(flush, FLUSH_MS)
            saveTimer ??= setTimeout(save, SAVE_MS)
          }
        })
        lines.on('close', resolve)
      })
    const done = Promise.all([read(child.stdout, 'stdout'), read(child.stderr, 'stderr'), child.then(() => undefined, () => undefined)]).then(() => {
      // The container stopped (or docker went away): the next tick reads it once or follows it again.
      flush()
      followers.delete(c.id)
    })
    followers.set(c.id, { kill: () => child.kill(), done })
  }

  /** A container that is not running: read what it wrote since the cursor, once. */
  async function readOnce(c: ContainerInfo): Promise<void> {
    const cursor = cursors[c.id]
    if (cursor && cursor.state === c.state) return
    const r = await deps.docker.docker(['logs', '--timestamps', ...(cursor ? ['--since', cursor.ts] : []), c.id], { timeoutMs: 30_000 })
    if (r.failed) return
    const lines = [...parseLines(r.stdout, 'stdout'), ...parseLines(r.stderr, 'stderr')].sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0))
    const ship = shipper(c.id, c.service ?? c.name)
    for (const line of lines) ship(line)
    flush()
    const after = cursors[c.id]
    cursors[c.id] = { ts: after?.ts ?? '1970-01-01T00:00:00Z', count: after?.count ?? 0, state: c.state }
    dirty = true
  }

  return {
    /** Follows what runs, reads what stopped, forgets what is gone. Called on every watch tick. */
    async collect(containers: ContainerInfo[]): Promise<void> {
      if (closed) return
      for (const c of containers) {
        if (followers.has(c.id)) continue
        try {
          if (c.state === 'running') {
            // Marks the cursor running, so the read after it stops happens.
            if (cursors[c.id] && cursors[c.id]!.state !== 'running') {
              cursors[c.id]!.state = 'running'
              dirty = true
            }
            await follow(c)
          } else await readOnce(c)
        } catch (err) {
          deps.logger.debug({ err: (err as Error).message, container: c.name }, 'reading container logs failed')
        }
      }
      const ids = new Set(containers.map((c) => c.id))
      for (const [id, follower] of followers) if (!ids.has(id)) follower.kill()
      for (const id of Object.keys(cursors)) {
        if (!ids.has(id)) {
          delete cursors[id]
          dirty = true
        }
      }
      save()
    },
    /** Stops every follower; what they read is in the outbox and the cursors are saved. */
    async close(): Promise<void> {
      closed = true
      const running = [...followers.values()]
      for (const f of running) f.kill()
      await Promise.all(running.map((f) => f.done))
      flush()
      save()
    },
  }
}

export type LogCollector = ReturnType<typeof createLogCollector>
