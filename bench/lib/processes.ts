import { fork, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'

/**
 * Every child process a benchmark starts, so that a normal end, an error or
 * Ctrl-C kills exactly those (by pid) and leaves nothing running.
 */
const children = new Set<ChildProcess>()
const cleanups: (() => Promise<void> | void)[] = []

export function track<T extends ChildProcess>(child: T): T {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Runs at cleanup, newest first, before the remaining children are killed. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn)
}

export async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!
    try {
      await fn()
    } catch {
      // cleanup is best effort; the kill below is the backstop
    }
  }
  for (const child of children) child.kill('SIGKILL')
}

process.on('exit', () => {
  for (const child of children) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanupAll().finally(() => process.exit(130))
  })
}

/** Forks a TypeScript module with the same tsx loader as this process, plus extra node flags. */
export function forkTs(file: string, options: { env?: NodeJS.ProcessEnv; execArgv?: string[]; silent?: boolean } = {}): ChildProcess {
  return track(
    fork(file, [], {
      env: { ...process.env, ...options.env },
      execArgv: [...process.execArgv, ...(options.execArgv ?? [])],
      stdio: options.silent ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  )
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  return track(spawn(command, args, options))
}

/** Runs a command to completion and returns its output (the child is tracked while it runs). */
export async function run(command: string, args: string[], options: { timeoutMs?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined
  const [code] = (await once(child, 'exit')) as [number | null]
  if (timer) clearTimeout(timer)
  return { code, stdout, stderr }
}

export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}
