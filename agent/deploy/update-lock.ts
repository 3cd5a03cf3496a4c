import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import path from 'node:path'

/** Where every service of a stack sees its own lock directory. */
export const LOCK_MOUNT = '/run/edgetainer'
/** The update lock, inside a container: held while it exists (balena's `/tmp/balena/updates.lock`). */
export const LOCK_FILE = 'updates.lock'
/** What the agent writes into a lock it takes itself, so it never mistakes its own lock for a container's. */
const AGENT_MARK = 'edgetainer-agent\n'

/**
 * Update locks, one per service of each stack, as balena's supervisor keeps
 * them: a file a container creates exclusively (O_CREAT|O_EXCL, e.g. with
 * `lockfile`, `flock -n` on a new file, or `set -C; > file`) in its lock
 * directory, mounted at /run/edgetainer/. While it exists the agent pulls
 * new images but kills and restarts nothing of that stack. Before it kills,
 * the agent takes every service's lock itself (the same exclusive create), so
 * an app that tries to take it then learns an update is under way; it gives
 * them back when the new containers are up.
 *
 * Host side: `<data dir>/locks/<software id>/<service>/`.
 */
export function createUpdateLocks(deps: { dataDir: string }) {
  const root = path.join(deps.dataDir, 'locks')

  const dirOf = (softwareId: string, service: string) => path.join(root, softwareId, service)
  const fileOf = (softwareId: string, service: string) => path.join(dirOf(softwareId, service), LOCK_FILE)

  function isAgents(file: string): boolean {
    try {
      return readFileSync(file, 'utf8') === AGENT_MARK
    } catch {
      return false
    }
  }

  return {
    /** The host directory mounted at LOCK_MOUNT in this service's containers; created world-writable (containers run as any user). */
    ensureDir(softwareId: string, service: string): string {
      const dir = dirOf(softwareId, service)
      mkdirSync(dir, { recursive: true })
      chmodSync(dir, 0o777)
      return dir
    },
    /** Services whose lock file exists and is not the agent's own. */
    held(softwareId: string, services: readonly string[]): string[] {
      return services.filter((s) => existsSync(fileOf(softwareId, s)) && !isAgents(fileOf(softwareId, s)))
    },
    /**
     * Takes every service's lock for the agent, all or none. A lock the agent
     * left behind (it stopped mid-update) counts as its own. Returns the
     * services whose lock a container holds when it could not take them all.
     */
    take(softwareId: string, services: readonly string[]): { release(): void } | { heldBy: string[] } {
      const taken: string[] = []
      // Once only: a second call must not remove a lock a container took since.
      const release = () => {
        for (const s of taken.splice(0)) rmSync(fileOf(softwareId, s), { force: true })
      }
      for (const s of services) {
        const file = fileOf(softwareId, s)
        if (!existsSync(dirOf(softwareId, s))) continue
        if (isAgents(file)) {
          taken.push(s)
          continue
        }
        let fd: number
        try {
          fd = openSync(file, 'wx', 0o644)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
          release()
          return { heldBy: [s] }
        }
        writeSync(fd, AGENT_MARK)
        closeSync(fd)
        taken.push(s)
      }
      return { release }
    },
    removeAll(softwareId: string): void {
      rmSync(path.join(root, softwareId), { recursive: true, force: true })
    },
  }
}

export type UpdateLocks = ReturnType<typeof createUpdateLocks>

/** "waiting for update lock held by `web`": what a deferred update reports. */
export function waitingForLock(services: readonly string[]): string {
  return `waiting for update lock held by ${services.map((s) => `\`${s}\``).join(', ')}`
}
