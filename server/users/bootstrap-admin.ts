import { generatePassword } from '../auth/passwords.js'
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
  await users.create({ username: 'admin', password, role: 'admin' })
  return { username: 'admin', generatedPassword: configuredPassword ? undefined : password }
}
