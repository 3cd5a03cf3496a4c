import { readFileSync, statfsSync } from 'node:fs'
import os from 'node:os'
import type { DeviceMetrics } from '../../shared/agent-wire.js'

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** Busy and total jiffies from /proc/stat's first line. */
function cpuTimes(): { busy: number; total: number } | undefined {
  const line = read('/proc/stat')?.split('\n')[0]
  if (!line?.startsWith('cpu ')) return undefined
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number) as number[]
  const idleAll = idle! + iowait
  const total = user! + nice! + system! + idleAll + irq + softirq + steal
  return { busy: total - idleAll, total }
}

function memory(): { used: number; total: number } | undefined {
  const text = read('/proc/meminfo')
  if (!text) return { used: os.totalmem() - os.freemem(), total: os.totalmem() }
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN) * 1024
  const total = kb('MemTotal')
  const available = kb('MemAvailable')
  return Number.isFinite(total) && Number.isFinite(available) ? { used: total - available, total } : undefined
}

function network(): { rx: number; tx: number } | undefined {
  const text = read('/proc/net/dev')
  if (!text) return undefined
  let rx = 0
  let tx = 0
  for (const line of text.split('\n').slice(2)) {
    const [name, rest] = line.split(':')
    if (!rest || name!.trim() === 'lo') continue
    const fields = rest.trim().split(/\s+/).map(Number)
    rx += fields[0] ?? 0
    tx += fields[8] ?? 0
  }
  return { rx, tx }
}

/**
 * Samples the host: CPU use since the previous sample, memory, the disk
 * holding the data dir, uptime, load and network totals. Anything the
 * platform cannot tell is null rather than a guess.
 */
export function createSystemMetrics(deps: { diskPath: string }) {
  let previous = cpuTimes()

  return {
    sample(): DeviceMetrics {
      const now = cpuTimes()
      const cpu = now && previous && now.total > previous.total ? ((now.busy - previous.busy) / (now.total - previous.total)) * 100 : null
      previous = now
      const mem = memory()
      let disk: { used: number; total: number } | undefined
      try {
        const s = statfsSync(deps.diskPath)
        disk = { total: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize }
      } catch {
        disk = undefined
      }
      const net = network()
      return {
        cpu_percent: cpu === null ? null : Math.round(cpu * 10) / 10,
        memory_used_bytes: mem?.used ?? null,
        memory_total_bytes: mem?.total ?? null,
        disk_used_bytes: disk?.used ?? null,
        disk_total_bytes: disk?.total ?? null,
        uptime_seconds: Math.round(os.uptime()),
        load_1: os.loadavg()[0] ?? null,
        net_rx_bytes: net?.rx ?? null,
        net_tx_bytes: net?.tx ?? null,
      }
    },
  }
}
