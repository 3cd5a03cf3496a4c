import { sql, type Kysely } from 'kysely'
import pLimit from 'p-limit'
import type { Database } from '../db/schema.js'
import type { HostRoute } from '../http/front-door.js'
import type { Logger } from '../logger.js'

const PREFIX = '/.well-known/acme-challenge/'
/** What an ACME token looks like (RFC 8555: base64url, at least 128 bits); anything else is a 404 without a query. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22,128}$/
/** Database look-ups for tokens this node does not hold, at a time and waiting: unauthenticated work stays bounded. */
const MAX_LOOKUPS = 4
const MAX_WAITING = 16
/** Answers left behind by a node that died mid-order are useless after this long (orders expire well before). */
const STALE_AFTER = '1 day'

/**
 * HTTP-01 responder: the CA fetches `http://<host>/.well-known/acme-challenge/<token>`
 * on port 80. Tokens live in memory while their order is being validated and,
 * with a database, in acme_http_challenges too: behind a load balancer the CA's
 * request may reach a node of the cluster other than the one that ordered.
 */
export function createHttpChallenges(deps: { db?: Kysely<Database>; logger?: Logger } = {}) {
  const { db } = deps
  const tokens = new Map<string, string>()
  const limit = pLimit(MAX_LOOKUPS)

  async function lookup(token: string): Promise<string | undefined> {
    const local = tokens.get(token)
    if (local !== undefined || !db || !TOKEN_PATTERN.test(token)) return local
    if (limit.pendingCount >= MAX_WAITING) return undefined
    try {
      const row = await limit(() => db.selectFrom('acme_http_challenges').select('key_authorization').where('token', '=', token).executeTakeFirst())
      return row?.key_authorization
    } catch (err) {
      deps.logger?.warn({ err: (err as Error).message }, 'cannot look up an ACME challenge')
      return undefined
    }
  }

  const route: HostRoute = {
    // Any host: the CA asks on the name being validated, which may not be routed anywhere yet.
    matches: (_host, req) => (req.url ?? '').startsWith(PREFIX),
    handleRequest(req, res) {
      const token = (req.url ?? '').slice(PREFIX.length).split(/[?#]/)[0]!
      const answer = req.method === 'GET' || req.method === 'HEAD' ? lookup(token) : Promise.resolve(undefined)
      void answer.then((keyAuthorization) => {
        res.setHeader('Cache-Control', 'no-store')
        if (keyAuthorization === undefined) {
          res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
          return
        }
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end(keyAuthorization)
      })
    },
  }

  return {
    route,
    /** Publishes an answer: in memory at once, in the database before the CA is told to validate. */
    async set(token: string, keyAuthorization: string): Promise<void> {
      tokens.set(token, keyAuthorization)
      if (!db) return
      await db.deleteFrom('acme_http_challenges').where('created_at', '<', sqlNowMinus()).execute()
      await db
        .insertInto('acme_http_challenges')
        .values({ token, key_authorization: keyAuthorization })
        .onConflict((oc) => oc.column('token').doUpdateSet({ key_authorization: keyAuthorization }))
        .execute()
    },
    async delete(token: string): Promise<void> {
      tokens.delete(token)
      await db?.deleteFrom('acme_http_challenges').where('token', '=', token).execute()
    },
    get size() {
      return tokens.size
    },
  }
}

function sqlNowMinus() {
  return sql<Date>`now() - ${STALE_AFTER}::interval`
}

export type HttpChallenges = ReturnType<typeof createHttpChallenges>
