import { z } from 'zod'
import { createApiTokens, type ApiTokens } from '../../auth/api-tokens.js'
import type { LiveAccess } from '../../auth/live-access.js'
import { NotFoundError } from '../../errors.js'
import type { UserStore } from '../../users/user-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'

const createTokenBody = z
  .object({
    description: z.string().max(200).optional(),
    /** Lifetime in days; omit for a token that does not expire. */
    expires_in_days: z.number().int().min(1).max(3650).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((b) => !(b.expires_in_days && b.expires_at), { message: 'give expires_in_days or expires_at, not both', path: ['expires_at'] })
  .refine((b) => !b.expires_at || new Date(b.expires_at).getTime() > Date.now(), { message: 'must be in the future', path: ['expires_at'] })

export function registerTokenRoutes(api: RouteRegistry, deps: { apiTokens: ApiTokens; users: UserStore; liveAccess: LiveAccess }) {
  const { apiTokens, users, liveAccess } = deps

  api.route({
    method: 'get',
    path: '/api/tokens',
    summary: "List the caller's API tokens (never their values)",
    tag: 'tokens',
    access: 'viewer',
    async handler({ user }) {
      return { items: await apiTokens.list(user.id) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/tokens',
    summary: 'Create an API token for the caller; its value is shown once',
    tag: 'tokens',
    access: 'viewer',
    status: 201,
    body: createTokenBody,
    async handler({ user, body, transaction }) {
      const expiresAt = body.expires_at
        ? new Date(body.expires_at)
        : body.expires_in_days
          ? new Date(Date.now() + body.expires_in_days * 86_400_000)
          : undefined
      return transaction(async (trx, audit) => {
        const { token, view } = await createApiTokens({ db: trx }).create(user.id, { description: body.description, expiresAt })
        await audit('token.create', 'api_token', view.id, { prefix: view.prefix, description: view.description, expires_at: view.expires_at })
        return { ...view, token }
      })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/tokens/:id',
    summary: "Revoke one of the caller's API tokens",
    tag: 'tokens',
    access: 'viewer',
    status: 204,
    async handler({ user, params, transaction }) {
      const id = uuidParam(params.id, 'API_TOKEN_NOT_FOUND', 'api token')
      await transaction(async (trx, audit) => {
        if (!(await createApiTokens({ db: trx }).remove(user.id, id))) throw new NotFoundError('API_TOKEN_NOT_FOUND', 'api token')
        await audit('token.revoke', 'api_token', id)
      })
      await liveAccess.recheckUser(user.id, 'the API token was revoked')
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/users/:id/tokens',
    summary: "List a user's API tokens (admin)",
    tag: 'tokens',
    access: 'admin',
    async handler({ params }) {
      const user = await users.get(uuidParam(params.id, 'USER_NOT_FOUND', 'user'))
      return { items: await apiTokens.list(user.id) }
    },
  })

  api.route({
    method: 'delete',
    path: '/api/users/:id/tokens/:tokenId',
    summary: "Revoke a user's API token (admin)",
    tag: 'tokens',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      const user = await users.get(uuidParam(params.id, 'USER_NOT_FOUND', 'user'))
      const tokenId = uuidParam(params.tokenId, 'API_TOKEN_NOT_FOUND', 'api token')
      await transaction(async (trx, audit) => {
        if (!(await createApiTokens({ db: trx }).remove(user.id, tokenId))) throw new NotFoundError('API_TOKEN_NOT_FOUND', 'api token')
        await audit('token.revoke', 'api_token', tokenId, { user: user.username })
      })
      await liveAccess.recheckUser(user.id, 'the API token was revoked')
      return undefined
    },
  })
}
