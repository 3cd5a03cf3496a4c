import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from '../agent-logger.js'
import { fsyncDir, writeFileAtomic } from '../identity/durable-file.js'
import type { OutboxEvent, OutboxEventInput, RejectedEvent, StatusAck } from '../../shared/agent-wire.js'
import { cleanEvent } from './clean-text.js'

interface Meta {
  /** Names this outbox on the gateway, which stores each (id, seq) once. */
  id: string
  acked_seq: number
  /** Events dropped for space and not yet reported to the gateway. */
  dropped: number
  /** Events set aside in quarantine.log, ever. */
  quarantined: number
}

interface Entry {
  event: OutboxEvent
  bytes: number
}

/** Quarantine keeps evidence, not everything: beyond this it only counts. */
const QUARANTINE_MAX_BYTES = 1024 * 1024

/**
 * The agent's durable outbox: status changes, deploy results and log lines,
 * in order, on disk until the gateway acknowledges them.
 *
 * Events are appended as JSON lines to `events.log`; `meta.json` holds the
 * acknowledged sequence number. Above `maxBytes`, space is made in this
 * order: the oldest log lines go, then container states superseded by a
 * later one for the same container, then agent notices; all are counted and
 * reported. Deploy results are never dropped. Events the gateway refuses are
 * moved to `quarantine.log` rather than resent for ever. The log is
 * rewritten (temp file, fsync, rename, fsync of the directory) when
 * acknowledged or removed entries make up most of it.
 */
export function createOutbox(deps: { dir: string; maxBytes: number; logger: Logger }) {
  const { logger } = deps
  mkdirSync(deps.dir, { recursive: true, mode: 0o700 })
  fsyncDir(path.dirname(deps.dir))
  const logFile = path.join(deps.dir, 'events.log')
  const metaFile = path.join(deps.dir, 'meta.json')
  const quarantineFile = path.join(deps.dir, 'quarantine.log')

  const meta: Meta = loadMeta()
  const entries: Entry[] = loadEntries()
  let liveBytes = entries.reduce((n, e) => n + e.bytes, 0)
  let fileBytes = liveBytes
  let nextSeq = Math.max(meta.acked_seq, entries.at(-1)?.event.seq ?? 0) + 1
  const listeners = new Set<() => void>()
  rewrite()
  let fd = openSync(logFile, 'a', 0o600)

  function loadMeta(): Meta {
    try {
      const m = JSON.parse(readFileSync(metaFile, 'utf8')) as Meta
      if (typeof m.id === 'string' && Number.isInteger(m.acked_seq)) return { id: m.id, acked_seq: m.acked_seq, dropped: m.dropped ?? 0, quarantined: m.quarantined ?? 0 }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: (err as Error).message }, 'outbox meta unreadable; starting a new outbox')
    }
    const fresh = { id: randomBytes(12).toString('base64url'), acked_seq: 0, dropped: 0, quarantined: 0 }
    writeFileAtomic(metaFile, JSON.stringify(fresh), 0o600)
    return fresh
  }

  function loadEntries(): Entry[] {
    let text = ''
    try {
      text = readFileSync(logFile, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const out: Entry[] = []
    for (const line of text.split('\n')) {
      if (!line) continue
      try {
        const event = JSON.parse(line) as OutboxEvent
        if (event.seq > meta.acked_seq && event.seq > (out.at(-1)?.event.seq ?? 0)) out.push({ event, bytes: Buffer.byteLength(line) + 1 })
      } catch {
        // A line cut short by a crash mid-write: everything before it is intact.
        logger.warn('outbox: skipped a torn line')
      }
    }
    return out
  }

  function saveMeta() {
    writeFileAtomic(metaFile, JSON.stringify(meta), 0o600)
  }

  /** Replaces the log file with the live entries only. */
  function rewrite() {
    writeFileAtomic(logFile, entries.map((e) => JSON.stringify(e.event) + '\n').join(''), 0o600)
    fileBytes = liveBytes
  }

  function reopenAfterRewrite() {
    closeSync(fd)
    rewrite()
    fd = openSync(logFile, 'a', 0o600)
  }

  /** Removes entries matching `drop`, oldest first, while the outbox is above `target` bytes. */
  function dropWhile(target: number, drop: (entry: Entry, index: number) => boolean): number {
    let dropped = 0
    for (let i = 0; i < entries.length && liveBytes > target; ) {
      if (drop(entries[i]!, i)) {
        liveBytes -= entries[i]!.bytes
        entries.splice(i, 1)
        dropped++
      } else i++
    }
    return dropped
  }

  /** Makes room down to 90% of the limit (so this does not run on every append). */
  function enforceLimit() {
    if (liveBytes <= deps.maxBytes) return
    const target = deps.maxBytes * 0.9
    const logs = dropWhile(target, (e) => e.event.kind === 'log')
    // A container that flapped needs only its latest state: drop states a later one for the same container supersedes.
    const latestState = new Map<string, number>()
    for (const e of entries) if (e.event.kind === 'container') latestState.set(e.event.container, e.event.seq)
    const states = dropWhile(target, (e) => e.event.kind === 'container' && latestState.get(e.event.container) !== e.event.seq)
    const notices = dropWhile(target, (e) => e.event.kind === 'agent')
    const dropped = logs + states + notices
    if (dropped) {
      meta.dropped += dropped
      saveMeta()
      reopenAfterRewrite()
      logger.warn({ logs, states, notices, total_dropped: meta.dropped }, 'outbox full: dropped the oldest log lines, superseded container states and notices')
    }
    if (liveBytes > deps.maxBytes) logger.warn({ bytes: liveBytes, pending: entries.length }, 'outbox over its size with deploy results only; they are kept')
  }

  function quarantineBytes(): number {
    try {
      return statSync(quarantineFile).size
    } catch {
      return 0
    }
  }

  /** Moves refused events to quarantine.log (synced first, so a crash in between resends at worst, never loses). */
  function quarantine(rejected: RejectedEvent[]): void {
    const reasons = new Map(rejected.filter((r) => r.seq !== null).map((r) => [r.seq!, r]))
    const moved = entries.filter((e) => reasons.has(e.event.seq))
    if (!moved.length) return
    const at = new Date().toISOString()
    const text = moved.map((e) => JSON.stringify({ quarantined_at: at, code: reasons.get(e.event.seq)!.code, error: reasons.get(e.event.seq)!.error, event: e.event }) + '\n').join('')
    if (quarantineBytes() + Buffer.byteLength(text) <= QUARANTINE_MAX_BYTES) {
      const qfd = openSync(quarantineFile, 'a', 0o600)
      try {
        writeSync(qfd, text)
        fsyncSync(qfd)
      } finally {
        closeSync(qfd)
      }
      fsyncDir(deps.dir)
    }
    for (const e of moved) {
      entries.splice(entries.indexOf(e), 1)
      liveBytes -= e.bytes
    }
    meta.quarantined += moved.length
    saveMeta()
    reopenAfterRewrite()
    for (const e of moved) {
      const r = reasons.get(e.event.seq)!
      logger.warn({ seq: e.event.seq, kind: e.event.kind, code: r.code, error: r.error, quarantined_total: meta.quarantined }, 'outbox: event quarantined; it will not be resent')
    }
  }

  return {
    get id() {
      return meta.id
    },
    /** Appends events (text cleaned) in order and returns them numbered. Results and status changes are synced to disk before this returns. */
    append(inputs: OutboxEventInput[]): OutboxEvent[] {
      if (!inputs.length) return []
      const events = inputs.map((input) => ({ ...cleanEvent(input), seq: nextSeq++ }) as OutboxEvent)
      const lines = events.map((e) => JSON.stringify(e) + '\n')
      const buffer = Buffer.from(lines.join(''))
      for (let off = 0; off < buffer.length; ) off += writeSync(fd, buffer, off)
      if (events.some((e) => e.kind !== 'log')) fsyncSync(fd)
      events.forEach((event, i) => entries.push({ event, bytes: Buffer.byteLength(lines[i]!) }))
      liveBytes += buffer.length
      fileBytes += buffer.length
      enforceLimit()
      for (const listener of listeners) listener()
      return events
    },
    /** The oldest pending events, up to the limits, and the dropped count to report with them. */
    peek(maxEvents: number, maxBytes: number): { events: OutboxEvent[]; dropped: number } {
      const events: OutboxEvent[] = []
      let bytes = 0
      for (const entry of entries) {
        if (events.length >= maxEvents || (events.length && bytes + entry.bytes > maxBytes)) break
        events.push(entry.event)
        bytes += entry.bytes
      }
      return { events, dropped: meta.dropped }
    },
    /**
     * The gateway stored everything up to `acked_seq` but what it rejected
     * (and the dropped count sent with it). Rejected events are quarantined.
     */
    ack(ack: StatusAck | number, droppedReported: number): void {
      const { acked_seq: seq, rejected = [] } = typeof ack === 'number' ? { acked_seq: ack } : ack
      if (rejected.length) quarantine(rejected)
      let removed = 0
      while (entries.length && entries[0]!.event.seq <= seq) {
        liveBytes -= entries.shift()!.bytes
        removed++
      }
      if (!removed && droppedReported === 0) return
      meta.acked_seq = Math.max(meta.acked_seq, seq)
      meta.dropped = Math.max(0, meta.dropped - droppedReported)
      saveMeta()
      // Rewrite once acknowledged lines outweigh live ones (and are worth a rewrite).
      if (fileBytes - liveBytes > Math.max(256 * 1024, liveBytes)) reopenAfterRewrite()
    },
    /** Sets the oldest pending event aside: it kept failing and would block everything behind it. */
    quarantineHead(code: string, error: string): void {
      const head = entries[0]
      if (head) quarantine([{ seq: head.event.seq, code, error }])
    },
    get pending(): number {
      return entries.length
    },
    get dropped(): number {
      return meta.dropped
    },
    get quarantined(): number {
      return meta.quarantined
    },
    get bytes(): number {
      return liveBytes
    },
    /** Called after every append (the sender wakes up). */
    onAppend(listener: () => void): () => void {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close(): void {
      listeners.clear()
      closeSync(fd)
    },
  }
}

export type Outbox = ReturnType<typeof createOutbox>
