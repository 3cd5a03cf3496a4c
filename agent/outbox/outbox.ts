import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import type { Logger } from '../agent-logger.js'
import { writeFileAtomic } from '../identity/identity-store.js'
import type { OutboxEvent, OutboxEventInput } from '../../shared/agent-wire.js'

interface Meta {
  /** Names this outbox on the gateway, which stores each (id, seq) once. */
  id: string
  acked_seq: number
  /** Log lines dropped for space and not yet reported to the gateway. */
  dropped: number
}

interface Entry {
  event: OutboxEvent
  bytes: number
}

/**
 * The agent's durable outbox: status changes, deploy results and log lines,
 * in order, on disk until the gateway acknowledges them.
 *
 * Events are appended as JSON lines to `events.log`; `meta.json` holds the
 * acknowledged sequence number. Above `maxBytes` the oldest log lines are
 * dropped (and counted); other events are never dropped. The file is
 * rewritten (temp file and rename) when acknowledged or dropped entries
 * make up most of it.
 */
export function createOutbox(deps: { dir: string; maxBytes: number; logger: Logger }) {
  const { logger } = deps
  mkdirSync(deps.dir, { recursive: true, mode: 0o700 })
  const logFile = path.join(deps.dir, 'events.log')
  const metaFile = path.join(deps.dir, 'meta.json')

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
      if (typeof m.id === 'string' && Number.isInteger(m.acked_seq)) return { id: m.id, acked_seq: m.acked_seq, dropped: m.dropped ?? 0 }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ err: (err as Error).message }, 'outbox meta unreadable; starting a new outbox')
    }
    const fresh = { id: randomBytes(12).toString('base64url'), acked_seq: 0, dropped: 0 }
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

  /** Drops the oldest log lines until the live entries fit in 90% of the limit (so this does not run on every append). */
  function enforceLimit() {
    if (liveBytes <= deps.maxBytes) return
    const target = deps.maxBytes * 0.9
    let dropped = 0
    for (let i = 0; i < entries.length && liveBytes > target; ) {
      if (entries[i]!.event.kind === 'log') {
        liveBytes -= entries[i]!.bytes
        entries.splice(i, 1)
        dropped++
      } else i++
    }
    if (!dropped) return
    meta.dropped += dropped
    saveMeta()
    reopenAfterRewrite()
    logger.warn({ dropped, total_dropped: meta.dropped }, 'outbox full: dropped the oldest log lines')
  }

  return {
    get id() {
      return meta.id
    },
    /** Appends events in order and returns them numbered. Results and status changes are synced to disk before this returns. */
    append(inputs: OutboxEventInput[]): OutboxEvent[] {
      if (!inputs.length) return []
      const events = inputs.map((input) => ({ ...input, seq: nextSeq++ }) as OutboxEvent)
      const lines = events.map((e) => JSON.stringify(e) + '\n')
      const buffer = Buffer.from(lines.join(''))
      writeSync(fd, buffer)
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
    /** The gateway stored everything up to `seq` (and the dropped count sent with it). */
    ack(seq: number, droppedReported: number): void {
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
    get pending(): number {
      return entries.length
    },
    get dropped(): number {
      return meta.dropped
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
