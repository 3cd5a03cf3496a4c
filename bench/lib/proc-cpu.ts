import { readFileSync, readdirSync } from 'node:fs'

/**
 * CPU time of process trees from /proc, so a run can say which process
 * (gateway, sshd, the device's ssh, the device app) was busy. On this 2-core
 * machine that tells whether a path was CPU-bound, and where.
 */
const TICKS_PER_SECOND = 100

interface ProcStat {
  ppid: number
  ticks: number
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    // After the command: state ppid … utime(14) stime(15) cutime(16) cstime(17), counted from 1 over the whole line.
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) }
  } catch {
    return undefined
  }
}

function readAll(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat) stats.set(Number(entry), stat)
  }
  return stats
}

/** A process and its live descendants. */
export function treePids(root: number): number[] {
  const stats = readAll()
  const pids: number[] = []
  const stack = [root]
  while (stack.length) {
    const pid = stack.pop()!
    if (!stats.has(pid)) continue
    pids.push(pid)
    for (const [child, s] of stats) if (s.ppid === pid) stack.push(child)
  }
  return pids
}

/** Seconds of CPU used so far by each named process and its live descendants. */
export function cpuSeconds(roots: Record<string, number | undefined>): Record<string, number> {
  const stats = readAll()
  const childrenOf = new Map<number, number[]>()
  for (const [pid, s] of stats) {
    const list = childrenOf.get(s.ppid) ?? []
    list.push(pid)
    childrenOf.set(s.ppid, list)
  }
  const result: Record<string, number> = {}
  for (const [name, root] of Object.entries(roots)) {
    if (root === undefined) continue
    let ticks = 0
    const stack = [root]
    while (stack.length) {
      const pid = stack.pop()!
      ticks += stats.get(pid)?.ticks ?? 0
      stack.push(...(childrenOf.get(pid) ?? []))
    }
    result[name] = ticks / TICKS_PER_SECOND
  }
  return result
}

/** Measures CPU cores used per named process tree over an interval. */
export function cpuMeter(roots: Record<string, number | undefined>) {
  const before = cpuSeconds(roots)
  const started = process.hrtime.bigint()
  return {
    /** Cores used per process (1.0 = one core busy the whole time), and the wall time in seconds. */
    stop(): { wallSeconds: number; cores: Record<string, number>; seconds: Record<string, number> } {
      const after = cpuSeconds(roots)
      const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9
      const cores: Record<string, number> = {}
      const seconds: Record<string, number> = {}
      for (const name of Object.keys(after)) {
        seconds[name] = after[name]! - (before[name] ?? 0)
        cores[name] = seconds[name]! / wallSeconds
      }
      return { wallSeconds, cores, seconds }
    },
  }
}

export function formatCores(cores: Record<string, number>): string {
  return Object.entries(cores)
    .map(([name, c]) => `${name} ${c.toFixed(2)}`)
    .join(', ')
}
