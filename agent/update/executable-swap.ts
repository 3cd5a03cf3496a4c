import { linkSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { fsyncDir } from '../identity/durable-file.js'

/** The agent's executable and its neighbours in the same directory (renames within one file system are atomic). */
export interface SwapPaths {
  current: string
  /** The executable before the last update, kept for a rollback. */
  previous: string
  /** A verified download waiting to be installed. */
  incoming: string
  /** Scratch name for a hard link on its way to `previous` or `current`. */
  link: string
}

export function swapPaths(executable: string): SwapPaths {
  return { current: executable, previous: `${executable}.previous`, incoming: `${executable}.new`, link: `${executable}.link-tmp` }
}

export interface SwapStep {
  name: string
  run(): void
}

/**
 * Installing `incoming` as `current`, keeping the old one as `previous`. Each
 * step is one atomic file-system operation, and `current` names a complete
 * executable before and after every one of them, so a kill -9 or a power cut
 * anywhere leaves a device that boots an agent (the old or the new). The old
 * executable is kept by a hard link, never by moving it out of the way.
 */
export function installSteps(p: SwapPaths): SwapStep[] {
  const dir = path.dirname(p.current)
  return [
    {
      name: 'link-previous',
      run() {
        rmSync(p.link, { force: true })
        linkSync(p.current, p.link)
      },
    },
    { name: 'rename-previous', run: () => renameSync(p.link, p.previous) },
    { name: 'fsync-previous', run: () => fsyncDir(dir) },
    { name: 'rename-incoming', run: () => renameSync(p.incoming, p.current) },
    { name: 'fsync-current', run: () => fsyncDir(dir) },
  ]
}

/** Back to `previous` (which stays, so a second rollback finds it too); the same guarantees as installSteps. */
export function rollbackSteps(p: SwapPaths): SwapStep[] {
  const dir = path.dirname(p.current)
  return [
    {
      name: 'link-back',
      run() {
        rmSync(p.link, { force: true })
        linkSync(p.previous, p.link)
      },
    },
    { name: 'rename-back', run: () => renameSync(p.link, p.current) },
    { name: 'fsync-back', run: () => fsyncDir(dir) },
  ]
}

export function runSteps(steps: SwapStep[]): void {
  for (const step of steps) step.run()
}
