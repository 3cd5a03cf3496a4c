import { createHash } from 'node:crypto'
import { sameEnv } from './compose-environment.js'
import type { UpdateStrategy } from '../../shared/agent-wire.js'

/** A software as the gateway wants it on this device. */
export interface TargetStack {
  software_id: string
  name: string
  version: string
  compose: string
  env: Record<string, Record<string, string>>
  /** How it replaces the running release (not part of its digest: changing it redeploys nothing). */
  update_strategy?: UpdateStrategy
  override_lock?: boolean
  /** A rollout's retry count; a new one makes a target that failed here a new target. */
  attempt?: number
}

/** A software as it runs here (the stack's current release). */
export interface CurrentStack {
  software_id: string
  name: string
  version: string
  compose_hash: string
  env: Record<string, Record<string, string>>
  services: string[]
  /** Set when the release still feeds its environment through env files, whose quoting compose v1 and v2 read differently. */
  legacy_env_files?: boolean
  /** Set when its deploy never finished (the agent was killed or lost power on the way): it is deployed again. */
  unfinished?: boolean
}

export interface PlanInput {
  current: CurrentStack[]
  target: TargetStack[]
  /** Per software, the digest of a target that failed here: not retried until the target changes. */
  failed: Record<string, string>
  /** Restarts queued on the gateway, by container (compose service) name. */
  restarts: { id: string; container: string }[]
}

export type Step =
  | { kind: 'remove'; software_id: string; name: string }
  | { kind: 'deploy'; target: TargetStack; digest: string; replaces: string | null }
  | { kind: 'update-env'; target: TargetStack; digest: string; services: string[] }
  | { kind: 'restart'; software_id: string; name: string; services: string[] }
  | { kind: 'unknown-restart'; container: string }

export function composeHash(compose: string): string {
  return createHash('sha256').update(compose).digest('hex')
}

/** Identifies a target completely: version, compose and environment. */
export function targetDigest(t: TargetStack): string {
  const env = Object.keys(t.env)
    .sort()
    .map((svc) => [svc, Object.entries(t.env[svc]!).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))])
  // The attempt joins the digest only when set, so digests of targets without one are unchanged.
  return createHash('sha256').update(JSON.stringify(t.attempt ? [t.version, t.compose, env, t.attempt] : [t.version, t.compose, env])).digest('hex')
}

function changedServices(current: CurrentStack, target: TargetStack): string[] {
  const services = new Set([...Object.keys(current.env), ...Object.keys(target.env)])
  return [...services].filter((s) => !sameEnv(current.env[s], target.env[s])).sort()
}

/**
 * What to do to get from what runs to what the gateway wants. Pure: the
 * executors do the work. Order: removals first (they free ports and names),
 * then deploys, then environment-only changes, then queued restarts.
 */
export function plan(input: PlanInput): Step[] {
  const current = new Map(input.current.map((c) => [c.software_id, c]))
  const target = new Map(input.target.map((t) => [t.software_id, t]))
  const removes: Step[] = []
  const deploys: Step[] = []
  const envUpdates: Step[] = []

  for (const c of input.current) if (!target.has(c.software_id)) removes.push({ kind: 'remove', software_id: c.software_id, name: c.name })

  for (const t of input.target) {
    const digest = targetDigest(t)
    if (input.failed[t.software_id] === digest) continue
    const c = current.get(t.software_id)
    if (!c || c.unfinished || c.version !== t.version || c.compose_hash !== composeHash(t.compose)) {
      deploys.push({ kind: 'deploy', target: t, digest, replaces: c?.version ?? null })
      continue
    }
    // A release in the old env-file layout is rewritten once: every service with an environment may have been read wrong.
    const legacy = c.legacy_env_files ? Object.keys(t.env).filter((s) => Object.keys(t.env[s]!).length) : []
    const services = [...new Set([...changedServices(c, t), ...legacy])].sort()
    if (services.length) envUpdates.push({ kind: 'update-env', target: t, digest, services })
  }

  // A restart names a container; it belongs to whichever stack (as it will run) has that service.
  const restarts = new Map<string, { name: string; services: Set<string> }>()
  const unknown: Step[] = []
  for (const r of input.restarts) {
    const owner = input.target.find((t) => current.get(t.software_id)?.services.includes(r.container) || (current.has(t.software_id) && r.container in t.env))
    if (!owner) {
      if (!unknown.some((u) => u.kind === 'unknown-restart' && u.container === r.container)) unknown.push({ kind: 'unknown-restart', container: r.container })
      continue
    }
    const entry = restarts.get(owner.software_id) ?? { name: owner.name, services: new Set<string>() }
    entry.services.add(r.container)
    restarts.set(owner.software_id, entry)
  }
  const restartSteps: Step[] = [...restarts].map(([software_id, { name, services }]) => ({ kind: 'restart', software_id, name, services: [...services].sort() }))

  return [...removes, ...deploys, ...envUpdates, ...restartSteps, ...unknown]
}
