import type { Role } from '../db/schema.js'

export const roles = ['viewer', 'operator', 'admin'] as const satisfies readonly Role[]

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 }

/** Roles are ordered: an admin may do what an operator may, and an operator what a viewer may. */
export function roleAllows(actual: Role, required: Role): boolean {
  return rank[actual] >= rank[required]
}
