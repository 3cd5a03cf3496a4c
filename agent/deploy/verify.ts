import type { ContainerInfo, Containers } from '../docker/containers.js'
import { containerExited } from './plain-errors.js'

export class VerifyError extends Error {
  override name = 'VerifyError'
}

const named = (c: ContainerInfo) => `container \`${c.service ?? c.name}\``

function describe(c: ContainerInfo): string {
  if (c.state === 'exited' || c.state === 'dead') return containerExited(c.service ?? c.name, c.exit_code)
  if (c.health === 'unhealthy') return `${named(c)} is unhealthy`
  return `${named(c)} is ${c.state}${c.health ? ` (${c.health})` : ''}`
}

/**
 * Waits until every given service of a project has a running container
 * (healthy, when it has a healthcheck) that stays up, unrestarted, for
 * `stableMs`. Fails at once on an exit, a restart or an unhealthy verdict,
 * and at the deadline otherwise. Services in `oneShot` (jobs such as a
 * migration) are done when they exit with code 0; any other exit fails.
 */
export async function verifyRunning(deps: {
  containers: Containers
  project: string
  services: string[]
  oneShot?: string[]
  timeoutMs: number
  stableMs: number
  pollMs?: number
  signal?: AbortSignal
}): Promise<void> {
  const deadline = Date.now() + deps.timeoutMs
  const firstSeen = new Map<string, { started_at: string | null; restart_count: number }>()
  let goodSince: number | undefined
  let last = 'no containers yet'
  for (;;) {
    if (deps.signal?.aborted) throw new VerifyError('the agent is shutting down')
    const all = (await deps.containers.ofProject(deps.project)).filter((c) => c.service && deps.services.includes(c.service))
    let allGood = deps.services.every((s) => all.some((c) => c.service === s))
    for (const c of all) {
      const seen = firstSeen.get(c.id)
      if (!seen) firstSeen.set(c.id, { started_at: c.started_at, restart_count: c.restart_count })
      else if (c.restart_count > seen.restart_count || (seen.started_at && c.started_at !== seen.started_at)) {
        throw new VerifyError(`${named(c)} restarted after it started (${describe(c)})`)
      }
      if (c.state === 'exited' && c.exit_code === 0 && deps.oneShot?.includes(c.service!)) continue
      if (c.state === 'exited' || c.state === 'dead' || c.health === 'unhealthy') throw new VerifyError(describe(c))
      if (c.state === 'restarting') throw new VerifyError(`${named(c)} keeps restarting (exit code ${c.exit_code ?? '?'})`)
      if (c.state !== 'running' || (c.health !== null && c.health !== 'healthy')) allGood = false
    }
    last = all.length ? all.map(describe).join('; ') : 'no containers yet'
    const now = Date.now()
    if (allGood) {
      goodSince ??= now
      if (now - goodSince >= deps.stableMs) return
    } else goodSince = undefined
    if (now > deadline) throw new VerifyError(`not running within ${Math.round(deps.timeoutMs / 1000)} s: ${last}`)
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 500))
  }
}
