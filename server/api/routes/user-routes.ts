import { z } from 'zod'
import { roles } from '../../auth/roles.js'
import type { SessionTokens } from '../../auth/session-tokens.js'
import { ConflictError } from '../../errors.js'
import type { UserStore } from '../../users/user-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery, uuidParam } from '../validation.js'

const username = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/, 'must be 2-64 letters, digits, dot, dash or underscore')
const password = z.string().min(10, 'must be at least 10 characters').max(1000)
const email = z.email().max(254)

const createUserBody = z.object({ username, email: email.nullish(), password, role: z.enum(roles) }).strict()
const updateUserBody = z
  .object({ email: email.nullish(), password: password.optional(), role: z.enum(roles).optional(), disabled: z.boolean().optional() })
  .strict()

export function registerUserRoutes(api: RouteRegistry, deps: { users: UserStore; sessions: SessionTokens }) {
  const { users, sessions } = deps

  api.route({
    method: 'get',
    path: '/api/users',
    summary: 'List users',
    tag: 'users',
    access: 'admin',
    query: paginationQuery,
    async handler({ query }) {
      const { items, total } = await users.list(query)
      return page(items, total, query)
    },
  })

  api.route({
    method: 'post',
    path: '/api/users',
    summary: 'Create a user',
    tag: 'users',
    access: 'admin',
    status: 201,
    body: createUserBody,
    async handler({ body, audit }) {
      const user = await users.create(body)
      await audit('user.create', 'user', user.id, { username: user.username, role: user.role })
      return user
    },
  })

  api.route({
    method: 'get',
    path: '/api/users/:id',
    summary: 'Get a user',
    tag: 'users',
    access: 'admin',
    async handler({ params }) {
      return users.get(uuidParam(params.id, 'user'))
    },
  })

  api.route({
    method: 'put',
    path: '/api/users/:id',
    summary: 'Update a user (email, password, role, disabled)',
    tag: 'users',
    access: 'admin',
    body: updateUserBody,
    async handler({ params, body, audit }) {
      const id = uuidParam(params.id, 'user')
      const user = await users.update(id, { ...body, email: body.email === undefined ? undefined : (body.email ?? null) })
      // A new password or a disabled account ends every open session of that user.
      if (body.password !== undefined || body.disabled) await sessions.revokeAllForUser(id)
      const changed = Object.keys(body).filter((k) => k !== 'password')
      await audit('user.update', 'user', id, { fields: body.password !== undefined ? [...changed, 'password'] : changed })
      return user
    },
  })

  api.route({
    method: 'delete',
    path: '/api/users/:id',
    summary: 'Delete a user',
    tag: 'users',
    access: 'admin',
    status: 204,
    async handler({ params, user: caller, audit }) {
      const id = uuidParam(params.id, 'user')
      if (id === caller.id) throw new ConflictError('you cannot delete your own account', 'SELF_DELETE')
      const user = await users.remove(id)
      await audit('user.delete', 'user', id, { username: user.username })
      return undefined
    },
  })
}
