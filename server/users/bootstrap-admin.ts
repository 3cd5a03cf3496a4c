import { generatePassword } from '../auth/passwords.js'
import { ConflictError } from '../errors.js'
import type { UserStore } from './user-store.js'

export interface BootstrapResult {
  username: string
  /** Set only when the password was generated here; the caller prints it once. */
  generatedPassword?: string
}

/** On an empty database, creates user `admin` with the configured or a generated password. */
export async function bootstrapAdmin(users: UserStore, configuredPassword: string | undefined): Promise<BootstrapResult | undefined> {
  if (!(await users.isEmpty())) return undefined
  const password = configuredPassword ?? generatePassword()
  try {
    await users.create({ username: 'admin', password, role: 'admin' })
  } catch (err) {
    // Another gateway node on the same empty database created it first (several nodes starting together): theirs stands.
    // Found by the store's check (ConflictError), or by the unique index when both checked before either inserted (23505).
    if (err instanceof ConflictError || (err as { code?: unknown }).code === '23505') return undefined
    throw err
  }
  return { username: 'admin', generatedPassword: configuredPassword ? undefined : password }
}
