import { readFileSync } from 'node:fs'
import path from 'node:path'
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

function parseLines(output: string, stream: 'stdout' | 'stderr'): Line[] {
  const lines: Line[] = []
  for (const raw of output.split('\n')) {
    if (!raw) continue
    const space = raw.indexOf(' ')
    const ts = space === -1 ? raw : raw.slice(0, space)
    const ns = timestampNs(ts)
    if (ns === undefined) continue
    lines.push({ ts, ns, stream, text: space === -1 ? '' : raw.slice(space + 1) })
  }
  return lines
}

/**
 * Ships the output of the agent's containers into the outbox. It reads
 * `docker logs --timestamps --since <cursor>` for each container on every
 * watch tick and keeps a per-container cursor on disk, so nothing is read
 * twice across restarts and nothing is skipped across offline periods.
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

  async function collectOne(c: ContainerInfo): Promise<boolean> {
    const cursor = cursors[c.id]
    // Stopped and already read after it stopped: nothing new can appear.
    if (cursor && c.state !== 'running' && cursor.state === c.state) return false
    const args = ['logs', '--timestamps', ...(cursor ? ['--since', cursor.ts] : []), c.id]
    const r = await deps.docker.docker(args, { timeoutMs: 30_000 })
    if (r.failed) return false
    const lines = [...parseLines(r.stdout, 'stdout'), ...parseLines(r.stderr, 'stderr')].sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0))
    const lastNs = cursor ? timestampNs(cursor.ts)! : -1n
    let skipAtLast = cursor?.count ?? 0
    const fresh: Line[] = []
    for (const line of lines) {
      if (line.ns < lastNs) continue
      if (line.ns === lastNs && skipAtLast > 0) {
        skipAtLast--
        continue
      }
      fresh.push(line)
    }
    const name = c.service ?? c.name
    if (fresh.length) {
      deps.report(fresh.map((l) => ({ kind: 'log', at: new Date(Number(l.ns / 1_000_000n)).toISOString(), container: name, stream: l.stream, line: cleanText(l.text) })))
      const newest = fresh.at(-1)!
      const sameTs = lines.filter((l) => l.ns === newest.ns).length
      cursors[c.id] = { ts: newest.ts, count: sameTs, state: c.state }
      return true
    }
    if (!cursor || cursor.state !== c.state) {
      cursors[c.id] = { ts: cursor?.ts ?? '1970-01-01T00:00:00Z', count: cursor?.count ?? 0, state: c.state }
      return true
    }
    return false
  }

  return {
    async collect(containers: ContainerInfo[]): Promise<void> {
      let changed = false
      for (const c of containers) {
        try {
          changed = (await collectOne(c)) || changed
        } catch (err) {
          deps.logger.debug({ err: (err as Error).message, container: c.name }, 'reading container logs failed')
        }
      }
      // Forget containers that are gone.
      const ids = new Set(containers.map((c) => c.id))
      for (const id of Object.keys(cursors)) {
        if (!ids.has(id)) {
          delete cursors[id]
          changed = true
        }
      }
      if (changed) writeFileAtomic(file, JSON.stringify(cursors), 0o600)
    },
  }
}

export type LogCollector = ReturnType<typeof createLogCollector>
