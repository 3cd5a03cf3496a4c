import { readFileSync } from 'node:fs'

/**
 * How busy the whole machine is, from /proc/stat: on a shared 2-core box the
 * other developers' test runs take CPU from every process measured here, so
 * each result is printed with the load it ran under.
 */
function sample(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
  const total = fields.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

export function machineLoad() {
  const start = sample()
  return {
    /** Fraction of all CPUs busy (any process) since the start. */
    busyFraction(): number {
      const now = sample()
      return now.total > start.total ? (now.busy - start.busy) / (now.total - start.total) : 0
    },
  }
}

export async function backgroundLoad(ms = 2000): Promise<number> {
  const load = machineLoad()
  await new Promise((r) => setTimeout(r, ms))
  return load.busyFraction()
}
