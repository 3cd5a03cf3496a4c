/**
 * The processes of `edgetainer server --workers N` seen from outside, for the
 * scale phase: the workers (the primary's children) with their RSS and open
 * descriptors from /proc, and their heaps through the V8 inspector.
 *
 * The workers are not started with --expose-gc and the bench adds no code to
 * the gateway, so a full GC (what gateway-child.ts's gc() does before each
 * RSS reading) is asked for over each process's inspector: the cluster runs
 * with NODE_OPTIONS=--inspect: one idle thread and a listening socket per
 * process while no one is attached.
 */
import { readFileSync, readdirSync } from 'node:fs'
import net from 'node:net'
import { WebSocket } from 'ws'
import { treePids } from '../lib/proc-cpu.js'
import type { Memory } from './scale-report.js'

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * NODE_OPTIONS for inspectors in the primary and its workers. node:cluster gives worker i the primary's
 * inspector port + i (even with --inspect=…:0: then they follow a random port), so the primary's port
 * starts a block of ports free now, above the ephemeral range (32768-60999), where no one's outgoing
 * connection takes one before the worker binds it.
 */
export async function inspectOption(workers: number): Promise<string> {
  for (let base = 62_000; base + workers <= 65_535; base += workers + 1) {
    const ports = Array.from({ length: workers + 1 }, (_, i) => base + i)
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return `--inspect=127.0.0.1:${base}`
  }
  throw new Error(`no ${workers + 1} free loopback ports from 62000 for the inspectors; run with BENCH_SCALE_GC=0`)
}

export interface ClusterProcess {
  pid: number
  /** "primary", or "w<EDGETAINER_WORKER_INDEX>". */
  name: string
}

/** The primary and its live workers, the workers in index order. */
export function clusterProcesses(primary: number): ClusterProcess[] {
  const workers = treePids(primary)
    .filter((pid) => pid !== primary)
    .map((pid) => ({ pid, index: workerIndex(pid) }))
    .filter((w) => w.index !== undefined)
    .sort((a, b) => a.index! - b.index!)
  return [{ pid: primary, name: 'primary' }, ...workers.map((w) => ({ pid: w.pid, name: `w${w.index}` }))]
}

function workerIndex(pid: number): number | undefined {
  try {
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((e) => e.startsWith('EDGETAINER_WORKER_INDEX='))
    return entry === undefined ? undefined : Number(entry.split('=')[1])
  } catch {
    return undefined
  }
}

/** Resident set size in bytes (VmRSS), 0 for a process that is gone. */
export function rssBytes(pid: number): number {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return Number(kib ?? 0) * 1024
  } catch {
    return 0
  }
}

/** Open descriptors: a worker's sessions are its sockets, so this follows how the primary spread them. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return 0
  }
}

/** The inspectors the cluster's processes announced on stderr ("Debugger listening on ws://…"). */
export function inspectorUrls(output: string): string[] {
  return [...output.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].map((m) => m[1]!)
}

type Usage = NodeJS.MemoryUsage & { pid: number }

/** Three full collections in the process behind `url`, then its process.memoryUsage(); gives up after 60 s. */
async function collectAndMeasure(url: string): Promise<Usage> {
  const calls = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>()
  const ws = new WebSocket(url)
  const timer = setTimeout(() => ws.terminate(), 60_000)
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown }
    if (msg.id !== undefined) calls.get(msg.id)?.resolve(msg.result)
  })
  // An error is followed by 'close', which fails what is pending; only the connect waits on the error itself.
  ws.on('error', () => {})
  ws.once('close', () => {
    for (const c of calls.values()) c.reject(new Error(`inspector ${url} closed`))
  })
  let next = 1
  const send = (method: string, params: unknown = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const id = next++
      calls.set(id, { resolve, reject })
      ws.send(JSON.stringify({ id, method, params }))
    })
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    for (let i = 0; i < 3; i++) {
      await send('HeapProfiler.collectGarbage')
      await new Promise((r) => setTimeout(r, 100))
    }
    const expression = 'JSON.stringify({ ...process.memoryUsage(), pid: process.pid })'
    const r = (await send('Runtime.evaluate', { expression, returnByValue: true })) as { result: { value: string } }
    return JSON.parse(r.result.value) as Usage
  } finally {
    clearTimeout(timer)
    ws.close()
  }
}

/**
 * The cluster's memory: RSS summed over the primary and every worker (from
 * /proc), heap and external summed over the processes whose inspector
 * answered, each after a full GC. Without inspectors RSS includes garbage.
 */
export async function clusterMemory(processes: ClusterProcess[], urls: string[]): Promise<Memory & { byName: Record<string, number>; missed: string[] }> {
  const errors: string[] = []
  const usages = await Promise.all(urls.map((u) => collectAndMeasure(u).catch((err: Error) => void errors.push(`${u}: ${err.message}`))))
  const measured = usages.filter((u): u is Usage => u !== undefined)
  const byName = Object.fromEntries(processes.map((p) => [p.name, rssBytes(p.pid)]))
  const unmeasured = processes.filter((p) => !measured.some((u) => u.pid === p.pid)).map((p) => p.name)
  // A sum over some of the processes would not compare with another reading: all or nothing.
  const sum = (f: (u: Usage) => number) => (unmeasured.length ? NaN : measured.reduce((a, u) => a + f(u), 0))
  return {
    rss: Object.values(byName).reduce((a, b) => a + b, 0),
    heapUsed: sum((u) => u.heapUsed),
    external: sum((u) => u.external),
    arrayBuffers: sum((u) => u.arrayBuffers),
    gcAvailable: unmeasured.length === 0,
    byName,
    /** Processes not collected (and why, where an inspector failed), for the report. */
    missed: unmeasured.length ? [...unmeasured, ...errors] : [],
  }
}
