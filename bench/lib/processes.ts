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
export function forkTs(file: string, options: { env?: NodeJS.ProcessEnv; execArgv?: string[]; silent?: boolean; pipeStderr?: boolean } = {}): ChildProcess {
  return track(
    fork(file, [], {
      env: { ...process.env, ...options.env },
      execArgv: [...process.execArgv, ...(options.execArgv ?? [])],
      stdio: options.silent ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'inherit', options.pipeStderr ? 'pipe' : 'inherit', 'ipc'],
    }),
  )
}

/**
 * Passes a child's stderr through, but a warning Node repeats (one per
 * socket, say) is shown once and counted; `summary()` tells how often.
 */
export function dedupeWarnings(child: ChildProcess, name: string) {
  const counts = new Map<string, number>()
  let partial = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      const warning = /\((?:node|tsx):\d+\) (\w*Warning: .*)/.exec(line)?.[1]
      const key = warning?.replace(/\d+/g, 'N')
      if (key) {
        const n = (counts.get(key) ?? 0) + 1
        counts.set(key, n)
        if (n === 1) process.stderr.write(`[${name}] ${warning}\n`)
      } else if (!/^\(Use `node --trace-warnings/.test(line)) process.stderr.write(`${line}\n`)
    }
  })
  return {
    summary(): string[] {
      return [...counts.entries()].filter(([, n]) => n > 1).map(([w, n]) => `${name} printed ${n}x: ${w}`)
    },
  }
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
