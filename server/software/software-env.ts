import type { EnvCodec, StoredVarSet, VarChange } from '../env/env-codec.js'
import type { SoftwareEnvInput } from '../env/env-var-schema.js'

/** A software version's default variables: for every service, and per service. Secrets sealed. */
export interface SoftwareEnv {
  vars: StoredVarSet
  services: Record<string, StoredVarSet>
}

export const emptySoftwareEnv = (): SoftwareEnv => ({ vars: {}, services: {} })

export function asSoftwareEnv(json: unknown): SoftwareEnv {
  const env = (json ?? {}) as Partial<SoftwareEnv>
  return { vars: env.vars ?? {}, services: env.services ?? {} }
}

/** Seals written defaults against the current ones (a masked secret keeps its stored value). */
export function sealSoftwareEnv(codec: EnvCodec, input: SoftwareEnvInput, current: SoftwareEnv, field: string): SoftwareEnv {
  const services: Record<string, StoredVarSet> = {}
  for (const [service, { vars }] of Object.entries(input.services)) {
    const sealed = codec.seal(vars, current.services[service], `${field}services.${service}.vars`)
    // An empty per-service set is the same as none; dropping it keeps versions comparable.
    if (Object.keys(sealed).length) services[service] = sealed
  }
  return { vars: codec.seal(input.vars, current.vars, `${field}vars`), services }
}

export function maskSoftwareEnv(codec: EnvCodec, env: SoftwareEnv): SoftwareEnv {
  const services: Record<string, StoredVarSet> = {}
  for (const [service, set] of Object.entries(env.services)) services[service] = codec.mask(set)
  return { vars: codec.mask(env.vars), services }
}

/** Changes between two versions' defaults, named `NAME` or `service.NAME`; no secret values. */
export function softwareEnvChanges(codec: EnvCodec, before: SoftwareEnv, after: SoftwareEnv): VarChange[] {
  const out = codec.changes(before.vars, after.vars)
  const services = new Set([...Object.keys(before.services), ...Object.keys(after.services)])
  for (const service of [...services].sort()) {
    for (const change of codec.changes(before.services[service], after.services[service])) out.push({ ...change, name: `${service}.${change.name}` })
  }
  return out
}
