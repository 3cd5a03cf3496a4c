import { readFileSync } from 'node:fs'
import path from 'node:path'
import { writeFileAtomic } from '../identity/durable-file.js'

/** An update in flight, as the agent leaves it on disk across its own restart. */
export type PendingUpdate =
  | {
      /** The new executable is in place; the next start must pass its self-check. */
      phase: 'installed'
      from_version: string
      to_version: string
      sha512: string
      /** Starts of the new agent so far; too many means it keeps dying before its check. */
      attempts: number
    }
  | {
      /** The old executable is back in place; the next start reports why. */
      phase: 'rolled-back'
      from_version: string
      to_version: string
      sha512: string
      reason: string
    }

export interface UpdateStateDoc {
  pending: PendingUpdate | null
  /** Releases that failed here (by sha512, with the reason): not tried again. */
  failed: Record<string, string>
}

/** `<data_dir>/agent-update.json`, written atomically (write, fsync, rename, fsync dir). */
export function createUpdateState(dataDir: string) {
  const file = path.join(dataDir, 'agent-update.json')

  function read(): UpdateStateDoc {
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as Partial<UpdateStateDoc>
      return { pending: doc.pending ?? null, failed: typeof doc.failed === 'object' && doc.failed ? doc.failed : {} }
    } catch {
      // None yet, or unreadable: nothing in flight.
      return { pending: null, failed: {} }
    }
  }

  function write(doc: UpdateStateDoc): void {
    writeFileAtomic(file, JSON.stringify(doc), 0o600)
  }

  return { file, read, write }
}

export type UpdateState = ReturnType<typeof createUpdateState>
