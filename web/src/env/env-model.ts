import type { EnvVar } from '../api/types'

/** Variables of one level, by container: `{web: {NAME: {value, secret, description}}}`. */
export type LevelVars = Record<string, Record<string, EnvVar>>

export const SECRET_MASK = '********'
export const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/

function asVar(value: unknown): EnvVar {
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>
    return { value: String(v.value ?? ''), secret: Boolean(v.secret), description: typeof v.description === 'string' ? v.description : null }
  }
  return { value: value === undefined || value === null ? '' : String(value) }
}

export function asVars(value: unknown): Record<string, EnvVar> {
  const source = value && typeof value === 'object' && 'vars' in value ? (value as { vars: unknown }).vars : value
  const vars: Record<string, EnvVar> = {}
  if (source && typeof source === 'object' && !Array.isArray(source)) {
    for (const [name, v] of Object.entries(source as Record<string, unknown>)) vars[name] = asVar(v)
  }
  return vars
}

/**
 * Reads a level's variables whichever way the list route frames them:
 * `{containers: {web: {...}}}`, `{items: [{container_name, vars}]}` or a bare map of containers.
 */
export function normalizeLevel(body: unknown): LevelVars {
  const out: LevelVars = {}
  if (!body || typeof body !== 'object') return out
  const record = body as Record<string, unknown>
  const list = Array.isArray(body) ? body : Array.isArray(record.items) ? record.items : undefined
  if (list) {
    for (const item of list as Record<string, unknown>[]) {
      const name = String(item.container_name ?? item.container ?? '')
      if (name) out[name] = asVars(item.vars ?? item.env_vars ?? {})
    }
    return out
  }
  const containers = (record.containers && typeof record.containers === 'object' ? record.containers : record) as Record<string, unknown>
  for (const [name, vars] of Object.entries(containers)) out[name] = asVars(vars)
  return out
}

export interface VarRow {
  key: number
  name: string
  value: string
  secret: boolean
  description: string
  /** A stored secret the editor never saw: sent back masked, which the gateway keeps as it is. */
  keptSecret: boolean
}

let nextKey = 1
export function toRows(vars: Record<string, EnvVar>): VarRow[] {
  return Object.entries(vars).map(([name, v]) => ({
    key: nextKey++,
    name,
    value: v.secret ? '' : v.value,
    secret: Boolean(v.secret),
    description: v.description ?? '',
    keptSecret: Boolean(v.secret),
  }))
}

export function emptyRow(): VarRow {
  return { key: nextKey++, name: '', value: '', secret: false, description: '', keptSecret: false }
}

/** Rows back to the PUT body; returns the first problem instead when a row is invalid. */
export function fromRows(rows: VarRow[]): { vars: Record<string, EnvVar> } | { error: string } {
  const vars: Record<string, EnvVar> = {}
  for (const row of rows) {
    const name = row.name.trim()
    if (!name && !row.value) continue
    if (!envNamePattern.test(name)) return { error: `“${name || '(empty)'}” is not a valid variable name: letters, digits and _, not starting with a digit` }
    if (vars[name]) return { error: `${name} appears twice` }
    const value = row.keptSecret && row.value === '' ? SECRET_MASK : row.value
    vars[name] = { value, secret: row.secret, description: row.description.trim() || undefined }
  }
  return { vars }
}
