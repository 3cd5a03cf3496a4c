import { availableParallelism } from 'node:os'
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto'
import { Semaphore } from 'async-mutex'
import { TooManyRequestsError } from '../errors.js'

export interface ScryptCost {
  readonly N: number
  readonly r: number
  readonly p: number
}

/**
 * OWASP's Password Storage Cheat Sheet minimum for scrypt. About 0.55 s and
 * 128 MiB per hash on this project's 2-core test machine.
 */
export const OWASP_SCRYPT_COST: ScryptCost = Object.freeze({ N: 2 ** 17, r: 8, p: 1 })

const KEY_LENGTH = 32
// A stored hash names its own cost; a corrupt or hostile row must not make one check allocate gigabytes.
const MAX_LOG2_N = 20
const MAX_R = 32
const MAX_P = 16

/** scrypt needs about 128·N·r bytes; twice that leaves Node's own bookkeeping room. */
function maxmemFor(cost: ScryptCost): number {
  return 256 * cost.N * cost.r
}

function scrypt(password: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFKC'), salt, KEY_LENGTH, { ...cost, maxmem: maxmemFor(cost) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  )
}

interface ParsedHash {
  cost: ScryptCost
  salt: Buffer
  key: Buffer
}

/** `scrypt$N$r$p$salt$hash`: the cost travels with the hash, so it can rise without breaking old ones. */
export function parsePasswordHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined
  const [N, r, p] = parts.slice(1, 4).map((v) => (/^\d{1,8}$/.test(v!) ? Number(v) : NaN)) as [number, number, number]
  const powerOfTwo = N >= 2 && N <= 2 ** MAX_LOG2_N && (N & (N - 1)) === 0
  if (!powerOfTwo || !(r >= 1 && r <= MAX_R) || !(p >= 1 && p <= MAX_P)) return undefined
  const salt = Buffer.from(parts[4]!, 'base64url')
  const key = Buffer.from(parts[5]!, 'base64url')
  if (!salt.length || !key.length) return undefined
  return { cost: { N, r, p }, salt, key }
}

/** Hashes at `cost` (OWASP's minimum unless a test lowers it). Unbounded: callers on unauthenticated paths use a hasher. */
export async function hashPassword(password: string, cost: ScryptCost = OWASP_SCRYPT_COST): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, cost)
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$')
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored)
  if (!parsed) return false
  const key = await scrypt(password, parsed.salt, parsed.cost)
  return key.length === parsed.key.length && timingSafeEqual(key, parsed.key)
}

/** True when the stored hash is weaker than `cost` in any parameter (or unreadable): the next good login rehashes it. */
export function needsRehash(stored: string, cost: ScryptCost = OWASP_SCRYPT_COST): boolean {
  const parsed = parsePasswordHash(stored)
  if (!parsed) return true
  return parsed.cost.N < cost.N || parsed.cost.r < cost.r || parsed.cost.p < cost.p || parsed.key.length < KEY_LENGTH
}

/** 429 rather than 503: the client should simply retry in a moment; nothing is broken. */
export class PasswordCheckBusyError extends TooManyRequestsError {
  constructor() {
    super(1, 'the gateway is busy checking other passwords; retry in a moment', 'LOGIN_BUSY')
  }
}

export interface PasswordHasherOptions {
  /** scrypt cost for new hashes and the decoy; OWASP's minimum by default. Tests may lower it (StartOptions only). */
  cost?: ScryptCost
  /** Hashes computed at once; the CPU count, at most 4 (libuv's default thread pool). */
  maxConcurrent?: number
  /** Further checks that may wait for a slot; beyond that a login is refused with 429 LOGIN_BUSY. */
  maxQueued?: number
}

/**
 * Password checks for unauthenticated callers. scrypt at OWASP cost takes
 * half a second of CPU and 128 MiB; without a bound, a burst of logins would
 * starve every tunnel and could exhaust memory.
 */
export function createPasswordHasher(options: PasswordHasherOptions = {}) {
  const cost = Object.freeze({ ...(options.cost ?? OWASP_SCRYPT_COST) })
  const maxConcurrent = Math.max(1, options.maxConcurrent ?? Math.min(4, availableParallelism()))
  const maxQueued = Math.max(0, options.maxQueued ?? 16)
  const slots = new Semaphore(maxConcurrent)
  let admitted = 0
  let decoy: Promise<string> | undefined

  async function bounded<T>(work: () => Promise<T>): Promise<T> {
    if (admitted >= maxConcurrent + maxQueued) throw new PasswordCheckBusyError()
    admitted++
    try {
      return await slots.runExclusive(work)
    } finally {
      admitted--
    }
  }

  return {
    cost,
    hash: (password: string) => bounded(() => hashPassword(password, cost)),
    verify: (password: string, stored: string) => bounded(() => verifyPassword(password, stored)),
    needsRehash: (stored: string) => needsRehash(stored, cost),
    /** A hash of a random password at the current cost, checked when the user does not exist so both paths take the same time. */
    decoyHash(): Promise<string> {
      decoy ??= hashPassword(randomBytes(16).toString('hex'), cost).catch((err: unknown) => {
        decoy = undefined
        throw err
      })
      return decoy
    },
  }
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>

export function generatePassword(): string {
  return randomBytes(18).toString('base64url')
}
