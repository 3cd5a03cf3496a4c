import { z } from 'zod'
import { roles } from '../../auth/roles.js'
import type { LiveAccess } from '../../auth/live-access.js'
import { ConflictError } from '../../errors.js'
import { createUserStore, type UserStore } from '../../users/user-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery, uuidParam } from '../validation.js'

const username = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/, 'must be 2-64 letters, digits, dot, dash or underscore')
const password = z.string().min(10, 'must be at least 10 characters').max(1000)
const email = z.email().max(254)

const createUserBody = z.object({ username, email: email.nullish(), password, role: z.enum(roles) }).strict()
const updateUserBody = z
  .object({ email: email.nullish(), password: password.optional(), role: z.enum(roles).optional(), disabled: z.boolean().optional() })
  .strict()

export function registerUserRoutes(api: RouteRegistry, deps: { users: UserStore; liveAccess: LiveAccess; hashPassword: (password: string) => Promise<string> }) {
  const { users, liveAccess } = deps

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
    async handler({ body, transaction }) {
      return transaction(async (trx, audit) => {
        const user = await createUserStore({ db: trx, hash: deps.hashPassword }).create(body)
        await audit('user.create', 'user', user.id, { username: user.username, role: user.role })
        return user
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/users/:id',
    summary: 'Get a user',
    tag: 'users',
    access: 'admin',
    async handler({ params }) {
      return users.get(uuidParam(params.id, 'USER_NOT_FOUND', 'user'))
    },
  })

  api.route({
    method: 'put',
    path: '/api/users/:id',
    summary: 'Update a user (email, password, role, disabled)',
    tag: 'users',
    access: 'admin',
    body: updateUserBody,
    async handler({ params, body, transaction }) {
      const id = uuidParam(params.id, 'USER_NOT_FOUND', 'user')
      const passwordChanged = body.password !== undefined
      const user = await transaction(async (trx, audit) => {
        const store = createUserStore({ db: trx, hash: deps.hashPassword })
        const before = await store.get(id)
        const after = await store.update(id, { ...body, email: body.email === undefined ? undefined : (body.email ?? null) })
        // A new password ends every session and API token issued under the old one; a disabled account ends its sessions.
        const revoked = passwordChanged || body.disabled ? await store.revokeCredentials(id, { apiTokens: passwordChanged }) : undefined
        const changed = Object.keys(body).filter((k) => k !== 'password')
        await audit('user.update', 'user', id, {
          username: after.username,
          fields: passwordChanged ? [...changed, 'password'] : changed,
          ...(before.role !== after.role ? { role: { before: before.role, after: after.role } } : {}),
          ...(before.disabled !== after.disabled ? { disabled: { before: before.disabled, after: after.disabled } } : {}),
          ...(revoked ? { revoked_sessions: revoked.sessions, revoked_api_tokens: revoked.apiTokens } : {}),
        })
        return after
      })
      // After the commit: open terminals and event streams of this user re-verify now.
      const hint = passwordChanged ? 'the password was changed' : user.disabled ? 'the account was disabled' : undefined
      await liveAccess.recheckUser(id, hint)
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
    async handler({ params, user: caller, transaction }) {
      const id = uuidParam(params.id, 'USER_NOT_FOUND', 'user')
      if (id === caller.id) throw new ConflictError('you cannot delete your own account', 'SELF_DELETE')
      await transaction(async (trx, audit) => {
        const user = await createUserStore({ db: trx, hash: deps.hashPassword }).remove(id)
        await audit('user.delete', 'user', id, { username: user.username })
      })
      await liveAccess.recheckUser(id, 'the account was deleted')
      return undefined
    },
  })
}
