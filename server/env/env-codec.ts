import { ValidationError } from '../errors.js'
import type { SecretBox } from '../secrets/secret-box.js'
import { SECRET_MASK, type EnvVarSetInput } from './env-var-schema.js'

/** One variable as stored in a JSONB set: a secret's value is sealed (AES-256-GCM). */
export interface StoredVar {
  value: string
  secret: boolean
  description: string | null
}
export type StoredVarSet = Record<string, StoredVar>

/** What an audit row says about one variable: never a secret's value. */
export interface VarChange {
  name: string
  change: 'added' | 'changed' | 'removed'
  secret: boolean
  value?: string
}

/**
 * Turns written variables into stored ones and back. The only place that
 * seals or opens an env secret, so "masked unless revealed" holds everywhere.
 */
export function createEnvCodec(box: SecretBox) {
  /**
   * Seals a written set. A secret written as the mask keeps the stored
   * value, so a secret can be edited around without ever being read.
   */
  function seal(input: EnvVarSetInput, stored: StoredVarSet | undefined, field: string): StoredVarSet {
    const out: StoredVarSet = {}
    for (const [name, v] of Object.entries(input)) {
      if (v.value === SECRET_MASK) {
        const kept = stored?.[name]
        // Keeping a value as non-secret would reveal it; keeping a missing one has nothing to keep.
        if (!v.secret) throw new ValidationError(`${field}.${name}`, `${SECRET_MASK} stands for a stored secret; set "secret": true to keep it, or give a value`)
        if (!kept?.secret) throw new ValidationError(`${field}.${name}`, `${SECRET_MASK} keeps a stored secret, and there is none to keep: give the value`)
        out[name] = { value: kept.value, secret: true, description: v.description }
      } else {
        out[name] = { value: v.secret ? box.seal(v.value) : v.value, secret: v.secret, description: v.description }
      }
    }
    return out
  }

  function mask(stored: StoredVarSet | undefined): StoredVarSet {
    const out: StoredVarSet = {}
    for (const [name, v] of Object.entries(stored ?? {})) out[name] = v.secret ? { ...v, value: SECRET_MASK } : { ...v }
    return out
  }

  function reveal(stored: StoredVarSet | undefined): StoredVarSet {
    const out: StoredVarSet = {}
    for (const [name, v] of Object.entries(stored ?? {})) out[name] = v.secret ? { ...v, value: box.open(v.value) } : { ...v }
    return out
  }

  function plain(v: StoredVar): string {
    return v.secret ? box.open(v.value) : v.value
  }

  /** What changed between two stored sets, for the audit log; secret values are compared, never reported. */
  function changes(before: StoredVarSet | undefined, after: StoredVarSet | undefined): VarChange[] {
    const out: VarChange[] = []
    const was = before ?? {}
    const now = after ?? {}
    for (const [name, v] of Object.entries(now)) {
      const old = was[name]
      const entry = (change: VarChange['change']): VarChange => (v.secret ? { name, change, secret: true } : { name, change, secret: false, value: v.value })
      if (!old) out.push(entry('added'))
      else if (old.secret !== v.secret || old.description !== v.description || plain(old) !== plain(v)) out.push(entry('changed'))
    }
    for (const [name, old] of Object.entries(was)) {
      if (!(name in now)) out.push({ name, change: 'removed', secret: old.secret })
    }
    return out
  }

  return { seal, mask, reveal, changes }
}

export type EnvCodec = ReturnType<typeof createEnvCodec>
