import { readFileSync } from 'node:fs'
import { once } from 'node:events'
import path from 'node:path'
import { spawnTracked } from './processes.js'
import { treePids } from './proc-cpu.js'

/**
 * `strace -c` on a process tree for the length of one run: how many read and
 * write system calls the server side made, which shows batching (or its lack)
 * without reading any code. For diagnosis only (BENCH_STRACE=1): it slows the run.
 */
export async function straceCounts<T>(root: number, outFile: string, fn: () => Promise<T>): Promise<{ result: T; summary: string }> {
  const pids = treePids(root)
  const child = spawnTracked('strace', ['-c', '-f', '-o', outFile, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise((r) => setTimeout(r, 300)) // let it attach
  try {
    const result = await fn()
    return { result, summary: '' }
  } finally {
    child.kill('SIGINT')
    await once(child, 'exit')
  }
}

export function readStraceSummary(file: string, top = 8): string {
  const lines = readFileSync(file, 'utf8').split('\n')
  const rows = lines.filter((l) => /^\s*\d/.test(l)).slice(0, top)
  return [`    strace -c (${path.basename(file)}): % time, seconds, usecs/call, calls, errors, syscall`, ...rows.map((r) => `      ${r.trim()}`)].join('\n')
}
