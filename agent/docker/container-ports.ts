import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { ContainerPort } from '../../shared/agent-wire.js'

/** LISTEN in the kernel's tcp state numbering (include/net/tcp_states.h). */
const TCP_LISTEN = '0A'

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return ''
  }
}

/** The process and its descendants (a shell that started the server is common), bounded. */
function familyOf(pid: number, limit = 64): number[] {
  const out: number[] = []
  const queue = [pid]
  while (queue.length && out.length < limit) {
    const p = queue.shift()!
    out.push(p)
    for (const task of readOr(`/proc/${p}/task/${p}/children`).split(/\s+/)) if (/^\d+$/.test(task)) queue.push(Number(task))
  }
  return out
}

function socketInodes(pids: number[]): Set<string> {
  const inodes = new Set<string>()
  for (const pid of pids) {
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m) inodes.add(m[1]!)
      } catch {
        // Closed between listing and reading.
      }
    }
  }
  return inodes
}

/**
 * TCP ports a running container listens on, read from /proc (the agent runs
 * as root on the device). In its own network namespace every listening
 * socket there is the container's; with host networking the namespace is the
 * host's, so only sockets its own processes hold count. Anything unreadable
 * yields nothing rather than an error: this is a hint for the console.
 */
export function listeningPorts(pid: number, hostNetwork: boolean): number[] {
  if (!Number.isInteger(pid) || pid <= 0) return []
  const owned = hostNetwork ? socketInodes(familyOf(pid)) : undefined
  const ports = new Set<number>()
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readOr(`/proc/${pid}/net/${table}`).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f.length < 10 || f[3] !== TCP_LISTEN) continue
      if (owned && !owned.has(f[9]!)) continue
      const port = parseInt(f[1]!.split(':')[1] ?? '', 16)
      if (port > 0) ports.add(port)
    }
  }
  return [...ports].sort((a, b) => a - b)
}

type PortBindings = Record<string, { HostIp: string; HostPort: string }[] | null> | null | undefined

/** Published and declared ports from `docker inspect`, then listening ones not already named. */
export function containerPorts(bindings: PortBindings, exposed: Record<string, unknown> | null | undefined, listening: number[]): ContainerPort[] {
  const out: ContainerPort[] = []
  const seen = new Set<string>()
  const keys = new Set([...Object.keys(bindings ?? {}), ...Object.keys(exposed ?? {})])
  for (const key of keys) {
    const m = /^(\d+)\/(tcp|udp)$/.exec(key)
    if (!m) continue
    const port = Number(m[1])
    const protocol = m[2] as 'tcp' | 'udp'
    const published = (bindings?.[key] ?? []).filter((b) => b.HostPort)
    seen.add(`${port}/${protocol}`)
    if (!published.length) out.push({ container_port: port, protocol, host_port: null, host_ip: null, source: 'exposed' })
    // IPv4 and IPv6 bindings of one port are one entry.
    const hostPorts = new Map<string, string | null>()
    for (const b of published) if (!hostPorts.has(b.HostPort)) hostPorts.set(b.HostPort, b.HostIp || null)
    for (const [hostPort, hostIp] of hostPorts) out.push({ container_port: port, protocol, host_port: Number(hostPort), host_ip: hostIp, source: 'published' })
  }
  for (const port of listening) {
    if (!seen.has(`${port}/tcp`)) out.push({ container_port: port, protocol: 'tcp', host_port: null, host_ip: null, source: 'listening' })
  }
  return out.slice(0, 64)
}
