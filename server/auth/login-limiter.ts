import { createHash } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import type pg from 'pg'
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible'
import { TooManyRequestsError } from '../errors.js'

export interface LimitWindow {
  /** Failed logins allowed within the window. */
  points?: number
  windowSeconds?: number
}

export interface LoginLimitOptions {
  /** Failures from one address, whatever the user name: 20 per 15 minutes. */
  perAddress?: LimitWindow
  /** Failures for one user name from one address: 5 per 15 minutes; that user's success clears it. */
  perUserAtAddress?: LimitWindow
  /** Failures for one user name from all addresses: 100 per hour. */
  perUser?: LimitWindow
  /** Once perUser is spent, addresses where the user logged in within this many days may still try: 14 (at most 24). */
  knownAddressDays?: number
}

/**
 * The source a limit counts: an IPv4 address, or an IPv6 /64. One host
 * usually holds a whole /64, so counting single IPv6 addresses would let it
 * rotate past every per-address limit.
 */
export function limitedSource(address: string): string {
  const bare = address.split('%')[0]!
  if (bare.toLowerCase().startsWith('::ffff:') && isIPv4(bare.slice(7))) return bare.slice(7)
  if (!isIPv6(bare)) return address
  const [head = '', tail] = bare.toLowerCase().split('::')
  const groups = (part: string) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : [])
  const front = groups(head)
  const back = tail === undefined ? [] : groups(tail)
  const full = [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  return `${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`
}

/** One reserved login attempt: the caller reports how it ended. */
export interface LoginAttempt {
  /** The password was right: only this attempt's points come back; other failures from this address stay counted. */
  succeeded(): Promise<void>
  /** The password was never checked (hashing busy, database down): the points come back. */
  release(): Promise<void>
}

/**
 * Failed-login limits on three keys, each a point consumed BEFORE the password
 * is checked, so parallel attempts can never all be verified before one counts.
 * A failure simply keeps its points.
 *
 * - per address: one source cannot spray many user names;
 * - per user name at an address: a tighter bound for one account from one place,
 *   which leaves room for the other users behind a shared NAT;
 * - per user name everywhere: a distributed guesser is bounded too. So that an
 *   attacker cannot lock the real admin out by spending it, an address where
 *   that user logged in recently stays allowed (still under the other two).
 *
 * Unknown user names are counted exactly like real ones, so the limits never
 * reveal which accounts exist.
 *
 * With `shared` (a PostgreSQL pool, when several gateway nodes share the
 * database) the counts live in rate_limits, so a guesser spreading attempts
 * over N nodes behind a load balancer gets one budget, not N. Keys are hashed
 * there (the column holds 255 characters; a user name may be longer). A
 * database error falls back to per-node counting in memory (insuranceLimiter).
 */
export function createLoginLimiter(options: LoginLimitOptions = {}, shared?: pg.Pool) {
  const limiter = (keyPrefix: string, window: LimitWindow | undefined, points: number, windowSeconds: number): RateLimiterAbstract => {
    const settings = { keyPrefix, points: window?.points ?? points, duration: window?.windowSeconds ?? windowSeconds }
    if (!shared) return new RateLimiterMemory(settings)
    return new RateLimiterPostgres({
      ...settings,
      storeClient: shared,
      storeType: 'pool',
      tableName: 'rate_limits',
      tableCreated: true,
      clearExpiredByTimeout: true,
      insuranceLimiter: new RateLimiterMemory(settings),
    })
  }
  const keyOf = (key: string) => (shared ? createHash('sha256').update(key).digest('base64url') : key)
  const byAddress = limiter('login_address', options.perAddress, 20, 15 * 60)
  const byUserAtAddress = limiter('login_user_address', options.perUserAtAddress, 5, 15 * 60)
  const byUser = limiter('login_user', options.perUser, 100, 60 * 60)
  // RateLimiterMemory expires keys with setTimeout, which fires at once beyond 2^31 ms (24.8 days).
  const knownSeconds = Math.round(Math.min(24, options.knownAddressDays ?? 14) * 86_400)
  const knownAddresses = limiter('login_known', { points: 1, windowSeconds: knownSeconds }, 1, knownSeconds)

  /** Consumes a point; undefined when within the limit, the refusal otherwise (its point stays taken until released). */
  async function take(store: RateLimiterAbstract, key: string): Promise<RateLimiterRes | undefined> {
    try {
      await store.consume(key)
      return undefined
    } catch (res) {
      if (res instanceof RateLimiterRes) return res
      throw res
    }
  }

  async function reserve(username: string, clientAddress: string): Promise<LoginAttempt> {
    const address = keyOf(limitedSource(clientAddress))
    // JSON keeps the pair unambiguous whatever characters the user name holds.
    const userAtAddress = keyOf(JSON.stringify([username, limitedSource(clientAddress)]))
    const user = keyOf(username)
    const taken: [RateLimiterAbstract, string][] = [
      [byAddress, address],
      [byUserAtAddress, userAtAddress],
      [byUser, user],
    ]
    const results = await Promise.all(taken.map(([store, key]) => take(store, key)))
    const giveBack = () => Promise.all(taken.map(([store, key]) => store.reward(key, 1))).then(() => undefined)
    let refusals = results.filter((r): r is RateLimiterRes => r !== undefined)
    // A spent per-user limit does not shut out the user's own recent addresses.
    if (results[2] && !results[0] && !results[1] && (await knownAddresses.get(userAtAddress))) refusals = []
    if (refusals.length) {
      // A refused attempt checks no password, so it costs nothing: the limits count guesses, not knocks.
      await giveBack()
      throw new TooManyRequestsError(
        Math.max(1, Math.ceil(Math.max(...refusals.map((r) => r.msBeforeNext)) / 1000)),
        'too many failed logins; try again later',
      )
    }
    return {
      async succeeded() {
        await Promise.all([byAddress.reward(address, 1), byUser.reward(user, 1), byUserAtAddress.delete(userAtAddress)])
        await knownAddresses.set(userAtAddress, 1, knownSeconds)
      },
      release: giveBack,
    }
  }

  return { reserve }
}

export type LoginLimiter = ReturnType<typeof createLoginLimiter>
