/**
 * The environment merge contract (DESIGN.md, "Environment merge"), as a pure
 * function. For each service, later levels win:
 *   1. software defaults, all services;
 *   2. software defaults for that service;
 *   3. fleet variables for that container;
 *   4. device variables for that container.
 */

export type EnvSource = 'software' | 'fleet' | 'device'

export interface MergeVar {
  value: string
  secret: boolean
}
export type MergeVarSet = Record<string, MergeVar>

export interface MergeLevels {
  softwareAll?: MergeVarSet
  /** Per service, from the software's defaults. */
  softwareServices?: Record<string, MergeVarSet>
  /** Per container, from the device's fleet. */
  fleet?: Record<string, MergeVarSet>
  /** Per container, from the device itself. */
  device?: Record<string, MergeVarSet>
}

export interface ResolvedVar {
  value: string
  secret: boolean
  source: EnvSource
  /** The levels whose values this one replaced, lowest first ("software" once even when both software levels set it). */
  overrides: EnvSource[]
}
export type ResolvedSet = Record<string, ResolvedVar>

/** Merges the four levels for one service. Levels that do not mention the service leave it alone. */
export function mergeServiceEnv(service: string, levels: MergeLevels): ResolvedSet {
  const ordered: [EnvSource, MergeVarSet | undefined][] = [
    ['software', levels.softwareAll],
    ['software', levels.softwareServices?.[service]],
    ['fleet', levels.fleet?.[service]],
    ['device', levels.device?.[service]],
  ]
  const out: ResolvedSet = {}
  for (const [source, set] of ordered) {
    for (const [name, v] of Object.entries(set ?? {})) {
      const previous = out[name]
      const overrides = previous ? [...previous.overrides, previous.source] : []
      out[name] = { value: v.value, secret: v.secret, source, overrides: overrides.filter((s, i) => overrides.indexOf(s) === i) }
    }
  }
  return out
}

/** Merges every given service; returns them keyed by service name. */
export function mergeEnv(services: readonly string[], levels: MergeLevels): Record<string, ResolvedSet> {
  const out: Record<string, ResolvedSet> = {}
  for (const service of services) out[service] = mergeServiceEnv(service, levels)
  return out
}

/** The flat `{NAME: value}` form a compose environment takes. */
export function flattenEnv(resolved: ResolvedSet): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, v] of Object.entries(resolved)) out[name] = v.value
  return out
}
