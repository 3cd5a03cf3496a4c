import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { DatabaseUnavailableError } from './database-errors.js'

/**
 * An exclusive lock on an embedded (PGlite) data dir: PGlite is one process, and a
 * second process opening the same directory corrupts it.
 *
 * Hand-written rather than a library: no lock-file package (proper-lockfile and the
 * like) is in the shared install, and npm installs are not ours to run. It is the
 * classic pid file: created with O_EXCL (atomic on local file systems), holding the
 * owner's pid. A lock whose pid no longer runs (kill -9, power loss) is stale and
 * taken over, so a crash never blocks a restart. Known limits, acceptable for one
 * host's data dir: a recycled pid makes a stale lock look held (the message names
 * the pid to check), and two processes taking over one stale lock at the same
 * instant can race.
 */
export interface DataDirLock {
  release(): void
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

export function inUseMessage(dir: string, pid: number): string {
  return `the embedded database in ${dir} is in use by another edgetainer process (pid ${pid}); run one gateway per data dir, or use PostgreSQL (DATABASE_URL) to run several`
}

/** Takes `<dir>.lock`, or throws DatabaseUnavailableError naming the process that holds it. */
export function lockDataDir(dir: string): DataDirLock {
  const file = `${dir}.lock`
  for (let attempt = 0; ; attempt++) {
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DatabaseUnavailableError(`cannot lock the embedded database in ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
      }
      const holder = readPid(file)
      if (holder !== undefined && isRunning(holder)) throw new DatabaseUnavailableError(inUseMessage(dir, holder))
      // Stale (its process is gone) or unreadable (a crash between create and write): take it over, once.
      if (attempt > 0) throw new DatabaseUnavailableError(`cannot lock the embedded database in ${dir}: ${file} keeps coming back`)
      try {
        unlinkSync(file)
      } catch {
        // someone else removed it first; retry the create
      }
      continue
    }
    try {
      writeSync(fd, `${process.pid}\n`)
    } finally {
      closeSync(fd)
    }
    let released = false
    return {
      release() {
        if (released) return
        released = true
        // Only our own lock: never remove one a later process took over.
        if (readPid(file) === process.pid) {
          try {
            unlinkSync(file)
          } catch {
            // already gone
          }
        }
      },
    }
  }
}
