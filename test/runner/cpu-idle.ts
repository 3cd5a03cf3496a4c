import { readFileSync } from 'node:fs'

/** The machine's CPU counters so far (all cores, in clock ticks), from /proc/stat; undefined where there is none. */
function readCpuTicks(): { idle: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[]
    const counters = [user, nice, system, idle, iowait, irq, softirq, steal]
    if (counters.some((n) => n === undefined || !Number.isFinite(n))) return undefined
    // iowait counts as idle: a core waiting on the disk could run another file. Steal does not: another tenant has it.
    return { idle: idle! + iowait!, total: counters.reduce((a, b) => a! + b!, 0)! }
  } catch {
    return undefined
  }
}

/**
 * How much of the machine's CPU went unused over a sliding window, sampled
 * every `everyMs`. The test runner starts extra files while much of it is
 * idle: files that mostly wait (on containers, on a rollout's soak) leave
 * cores free that a fixed number of jobs would waste.
 */
export function watchCpuIdle({ everyMs = 500, windowSamples = 4 } = {}) {
  const samples: { idle: number; total: number }[] = []
  const take = () => {
    const s = readCpuTicks()
    if (!s) return
    samples.push(s)
    if (samples.length > windowSamples + 1) samples.shift()
  }
  take()
  const timer = setInterval(take, everyMs)
  timer.unref()
  return {
    /** The idle share of all cores over the window (0 to 1); undefined until there are two samples, or without /proc/stat. */
    idleFraction(): number | undefined {
      if (samples.length < 2) return undefined
      const first = samples[0]!
      const last = samples[samples.length - 1]!
      const total = last.total - first.total
      return total > 0 ? (last.idle - first.idle) / total : undefined
    },
    /** True once the whole window lies after `since` (ms since the epoch): only then does it show what started at `since`. */
    windowAfter(since: number): boolean {
      return Date.now() - since >= everyMs * (windowSamples + 1)
    },
    stop(): void {
      clearInterval(timer)
    },
  }
}
