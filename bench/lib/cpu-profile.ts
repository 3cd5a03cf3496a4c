import { Session } from 'node:inspector/promises'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * In-process V8 CPU profiling around one phase of a benchmark (the gateway
 * child starts and stops it on request), summarised as self time per
 * function and per module, the way a profiler's bottom-up view shows it.
 */
interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export interface ProfileLine {
  name: string
  selfMs: number
  percent: number
}
export interface ProfileSummary {
  totalMs: number
  file?: string
  functions: ProfileLine[]
  modules: ProfileLine[]
}

let session: Session | undefined

export async function startCpuProfile(samplingIntervalUs = 200): Promise<void> {
  session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs })
  await session.post('Profiler.start')
}

export async function stopCpuProfile(file?: string, top = 25): Promise<ProfileSummary> {
  if (!session) throw new Error('no profile running')
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile }
  await session.post('Profiler.disable')
  session.disconnect()
  session = undefined
  if (file) {
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify(profile))
  }
  return { ...summarizeProfile(profile, top), file }
}

function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/')
    const pkg = rest[0]!.startsWith('@') ? rest.slice(0, 2).join('/') : rest[0]!
    return `${pkg}/${rest.at(-1)}`
  }
  if (url.startsWith('node:')) return url
  const srv = url.indexOf('/server/')
  if (srv >= 0) return url.slice(srv + 1)
  return url.split('/').slice(-2).join('/')
}

export function summarizeProfile(profile: Profile, top = 25): Omit<ProfileSummary, 'file'> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  // timeDeltas[i + 1] is the time spent in samples[i] (DevTools' convention).
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i + 1] ?? 0
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + delta)
  }
  const fn = new Map<string, number>()
  const mod = new Map<string, number>()
  let total = 0
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const m = moduleOf(url, functionName)
    const name = `${functionName || '(anonymous)'} ${url ? `${m}:${lineNumber + 1}` : ''}`.trim()
    fn.set(name, (fn.get(name) ?? 0) + us)
    mod.set(m, (mod.get(m) ?? 0) + us)
    total += us
  }
  const lines = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: us / 1000, percent: (100 * us) / total }))
  return { totalMs: total / 1000, functions: lines(fn), modules: lines(mod) }
}

export function formatProfile(title: string, summary: ProfileSummary, top = 15): string {
  const busy = summary.functions.filter((l) => l.name !== '(idle)')
  const out = [`  ${title}: ${summary.totalMs.toFixed(0)} ms sampled${summary.file ? ` (${summary.file})` : ''}`]
  out.push('    by module:')
  for (const l of summary.modules.slice(0, 10)) out.push(`      ${l.percent.toFixed(1).padStart(5)}%  ${l.name}`)
  out.push('    by function (self time):')
  for (const l of busy.slice(0, top)) out.push(`      ${l.percent.toFixed(1).padStart(5)}%  ${l.name}`)
  return out.join('\n')
}
