import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Me, Role } from '../api/types'

export interface Session {
  user: Me
  logout(): Promise<void>
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session {
  const session = useContext(SessionContext)
  if (!session) throw new Error('useSession outside a signed-in console')
  return session
}

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** Mirrors the gateway's role order, to hide what the API would refuse anyway. */
export function roleAllows(actual: Role, required: Role): boolean {
  return rank[actual] >= rank[required]
}

export function useCan(required: Role): boolean {
  return roleAllows(useSession().user.role, required)
}
