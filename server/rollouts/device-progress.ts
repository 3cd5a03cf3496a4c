import type { RolloutDeviceState, RolloutSettings } from '../db/schema.js'

/** States a device's row no longer leaves on its own (skipped does, when the device returns). */
export const FINAL_STATES: ReadonlySet<RolloutDeviceState> = new Set(['succeeded', 'failed', 'rolled_back', 'cancelled'])
export const IN_FLIGHT_STATES: ReadonlySet<RolloutDeviceState> = new Set(['pending', 'downloading', 'installing', 'verifying'])

export interface ContainerFact {
  name: string
  project: string | null
  service: string | null
  state: string
  health: string | null
  exit_code: number | null
}

/** What the gateway knows about one device, read once per tick. */
export interface DeviceFacts {
  online: boolean
  last_seen: Date | null
  /** The agent's last deploy report for the rollout's software. */
  report?: { version: string; status: string; error: string | null; updated_at: Date }
  /** The newest heartbeat's containers, or why the agent could not read them (dockerd does not answer). */
  heartbeat?: { recorded_at: Date; containers: ContainerFact[]; docker_error?: string | null }
}

export interface DeviceRowFacts {
  state: RolloutDeviceState
  reason: string | null
  previous_version: string | null
  released_at: Date | null
  healthy_since: Date | null
}

export interface Progress {
  state: RolloutDeviceState
  reason: string | null
  healthy_since: Date | null
}

/** Compose projects are `et-<name>-<first 6 hex of the software id>` (agent/deploy/stack-store.ts). */
function ofSoftware(c: ContainerFact, softwareId: string): boolean {
  return Boolean(c.project?.endsWith(`-${softwareId.replace(/-/g, '').slice(0, 6)}`))
}

/** Why the software's containers are not healthy, in plain words; undefined when they are. */
export function unhealthyReason(containers: readonly ContainerFact[], softwareId: string): string | undefined {
  const bad = containers
    .filter((c) => ofSoftware(c, softwareId))
    .map((c) => {
      const name = c.service ?? c.name
      if ((c.state === 'exited' || c.state === 'dead') && c.exit_code !== 0) return `container ${name} exited with code ${c.exit_code ?? '?'}`
      if (c.state === 'restarting') return `container ${name} keeps restarting (exit code ${c.exit_code ?? '?'})`
      if (c.health === 'unhealthy') return `container ${name} is unhealthy`
      return undefined
    })
    .filter((r): r is string => r !== undefined)
  return bad.length ? bad.join('; ') : undefined
}

const agentPhase: Record<string, RolloutDeviceState> = {
  deploying: 'downloading',
  downloading: 'downloading',
  installing: 'installing',
  verifying: 'verifying',
}

/**
 * The next state of one released device, or undefined when nothing changed.
 * Reports older than the release are about an earlier target and ignored.
 * `running` starts the soak: the device must stay online with every container
 * of the software up (and healthy, where it has a healthcheck) for soak_seconds.
 */
export function nextProgress(
  row: DeviceRowFacts,
  facts: DeviceFacts,
  target: { software_id: string; version: string; settings: RolloutSettings },
  now: Date,
): Progress | undefined {
  if (!row.released_at || FINAL_STATES.has(row.state)) return undefined
  const same = (p: Progress) => p.state === row.state && p.reason === row.reason && p.healthy_since?.getTime() === row.healthy_since?.getTime()
  const result = (p: Progress) => (same(p) ? undefined : p)
  const r = facts.report
  const fresh = r && r.version === target.version && r.updated_at.getTime() >= row.released_at.getTime() ? r : undefined
  const back = row.previous_version ? `the device went back to ${row.previous_version}` : 'the device runs no release of it now'

  if (fresh?.status === 'failed') return result({ state: 'failed', reason: fresh.error ?? 'the agent reported a failure without a reason', healthy_since: null })
  if (fresh?.status === 'rolled_back') return result({ state: 'failed', reason: `${fresh.error ?? 'the release did not start'}; ${back}`, healthy_since: null })

  // An unfinished phase's text says what it waits for (`waiting for update lock held by `web``): the operator sees why a device is stuck.
  if (fresh && fresh.status in agentPhase) return result({ state: agentPhase[fresh.status]!, reason: fresh.error, healthy_since: null })

  if (fresh?.status === 'running') {
    // Containers seen after the report are the new release's.
    const hb = facts.heartbeat && facts.heartbeat.recorded_at.getTime() >= fresh.updated_at.getTime() ? facts.heartbeat : undefined
    const crash = hb && !hb.docker_error ? unhealthyReason(hb.containers, target.software_id) : undefined
    if (crash) return result({ state: 'failed', reason: crash, healthy_since: null })
    if (!facts.online || !hb) return result({ state: 'verifying', reason: facts.online ? 'waiting for a heartbeat from the new release' : 'offline during its soak time', healthy_since: null })
    // Soak time counts only while the release's containers are seen up: not while dockerd is away, nor
    // when none of them is there at all. Neither fails the device (dockerd may be restarting); the soak starts over.
    const unseen = hb.docker_error
      ? `its containers cannot be seen: ${hb.docker_error}`
      : !hb.containers.some((c) => ofSoftware(c, target.software_id))
        ? 'none of its containers is on the device'
        : undefined
    if (unseen) return result({ state: 'verifying', reason: unseen, healthy_since: null })
    const since = row.healthy_since ?? now
    if ((now.getTime() - since.getTime()) / 1000 >= target.settings.soak_seconds) return result({ state: 'succeeded', reason: null, healthy_since: since })
    return result({ state: 'verifying', reason: null, healthy_since: since })
  }

  // No news yet: a device offline past its deadline is skipped; its pin stays, so it catches up when it returns.
  if (!facts.online && row.state !== 'skipped') {
    const from = Math.max(row.released_at.getTime(), facts.last_seen?.getTime() ?? 0)
    if ((now.getTime() - from) / 1000 >= target.settings.deadline_seconds) {
      return result({ state: 'skipped', reason: `offline for more than ${target.settings.deadline_seconds} s after the release was sent; it updates when it reconnects`, healthy_since: null })
    }
  }
  return undefined
}
