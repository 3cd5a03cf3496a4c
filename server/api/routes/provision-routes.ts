import { z } from 'zod'
import type { DeviceRegistration } from '../../provision/device-registration.js'
import type { RegistrationLimiter } from '../../provision/registration-limiter.js'
import { createRegistrationTokens, tokenView, type RegistrationTokens } from '../../provision/registration-tokens.js'
import { tokenOptionsSchema } from '../../provision/token-options.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'
import { labelsSchema } from '../../devices/label-selector.js'

const durationUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }

/** Seconds, or a duration such as "30m", "24h", "7d". */
const expiresIn = z
  .union([z.number().int(), z.string().regex(/^\d+[smhd]$/, 'must be seconds or a duration such as 30m, 24h or 7d')])
  .transform((v) => (typeof v === 'number' ? v : Number(v.slice(0, -1)) * durationUnits[v.slice(-1)]!))
  .pipe(z.number().min(60, 'must be at least a minute').max(365 * 86_400, 'must be at most a year'))

const createTokenBody = tokenOptionsSchema.extend({
  fleet_id: z.uuid(),
  name: z.string().trim().min(1).max(100).optional(),
  expires_in: expiresIn.optional(),
  max_uses: z.number().int().min(1).max(100_000).optional(),
  /** Labels every device registered with this token starts with. */
  labels: labelsSchema.optional(),
})

const listQuery = z.object({ fleet_id: z.uuid().optional() })

const registerBody = z
  .object({
    token: z.string().min(1).max(200),
    public_key: z.string().min(1).max(16_384),
    hardware_info: z.record(z.string(), z.unknown()).optional(),
    os_version: z.string().max(200).optional(),
    hostname: z.string().max(253).optional(),
  })
  .strict()

export function registerProvisionRoutes(
  api: RouteRegistry,
  deps: { tokens: RegistrationTokens; registration: DeviceRegistration; limiter: RegistrationLimiter },
) {
  const { tokens, registration, limiter } = deps

  api.route({
    method: 'post',
    path: '/api/provision/tokens',
    summary: 'Create a registration token for a fleet (default: one use, 24 h); its value is shown once',
    tag: 'provisioning',
    access: 'admin',
    status: 201,
    body: createTokenBody,
    async handler({ body, user, transaction }) {
      const { fleet_id, name, expires_in, max_uses, labels, ...options } = body
      return transaction(async (trx, audit) => {
        const { token, row } = await createRegistrationTokens({ db: trx }).create({ fleet_id, name, expires_in_seconds: expires_in, max_uses, options, labels }, user.username)
        await audit('provision.token.create', 'registration_token', row.id, { fleet_id, name: row.name, max_uses: row.max_uses, expires_at: row.expires_at })
        return { ...tokenView(row), token }
      })
    },
  })

  api.route({
    method: 'get',
    path: '/api/provision/tokens',
    summary: 'List registration tokens (never their values), optionally for one fleet',
    tag: 'provisioning',
    access: 'viewer',
    query: listQuery,
    async handler({ query }) {
      return { items: (await tokens.list(query)).map(tokenView) }
    },
  })

  api.route({
    method: 'get',
    path: '/api/provision/tokens/:id',
    summary: 'Get one registration token (never its value)',
    tag: 'provisioning',
    access: 'viewer',
    async handler({ params }) {
      return tokenView(await tokens.get(uuidParam(params.id, 'REGISTRATION_TOKEN_NOT_FOUND', 'registration token')))
    },
  })

  api.route({
    method: 'delete',
    path: '/api/provision/tokens/:id',
    summary: 'Revoke a registration token; devices it registered keep working',
    tag: 'provisioning',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      const id = uuidParam(params.id, 'REGISTRATION_TOKEN_NOT_FOUND', 'registration token')
      await transaction(async (trx, audit) => {
        const row = await createRegistrationTokens({ db: trx }).revoke(id)
        await audit('provision.token.revoke', 'registration_token', row.id, { fleet_id: row.fleet_id })
      })
      return undefined
    },
  })

  api.publicRoute({
    method: 'post',
    path: '/api/provision/register',
    summary: "A device registers its public key with a registration token; answers its identity, SSH endpoint and the gateway's host key",
    tag: 'provisioning',
    access: 'public',
    status: 201,
    body: registerBody,
    async handler({ req, res, body }) {
      await limiter.take(req.ip ?? 'unknown')
      const { created, result } = await registration.register(body, req.ip ?? null)
      // A retry that found its earlier registration created nothing: 200, written here since the registry sends 201.
      if (!created) {
        res.status(200).json(result)
        return undefined
      }
      return result
    },
  })
}
