import { DomainError } from '../errors.js'

/**
 * The database cannot be reached right now (stopped, restarting, network gone).
 * Thrown at startup with a one-line reason, and at run time by the pool wrapper
 * in open-database.ts, so the error handler answers 503 rather than 500.
 */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

interface PgLikeError {
  code?: unknown
  severity?: unknown
  message?: unknown
  column?: unknown
  detail?: unknown
  constraint?: unknown
}

/** Socket-level failures of the connection itself. */
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

/** SQLSTATEs that mean "the server is going away or not ready", not "your query is wrong". */
function isUnavailableState(code: string): boolean {
  // 08: connection exception; 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now; 53300 too_many_connections.
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300'
}

/** What node-postgres says, without a code, when a connection dies under it or never comes up. */
const connectionMessages = /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|connection is closed|Cannot use a pool after calling end/i

/**
 * True for errors raised by pg or its pool that mean the database is
 * unreachable. Only for errors known to come from the database driver: a
 * socket code such as ECONNREFUSED means something else elsewhere.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true
  if (!err || typeof err !== 'object') return false
  const e = err as PgLikeError
  if (typeof e.code === 'string' && (networkCodes.has(e.code) || isUnavailableState(e.code))) return true
  // A server-side error (it has a severity) with another code is about the query, not the connection.
  if (e.severity !== undefined) return false
  return typeof e.message === 'string' && connectionMessages.test(e.message)
}

/** For the error handler, which sees errors of any origin: our wrapper's error, or a server-sent SQLSTATE of the outage kind. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true
  const e = err as PgLikeError | undefined
  return typeof e?.code === 'string' && e.severity !== undefined && isUnavailableState(e.code)
}

/** The answer for any request that needed the database while it was away; never names the host. */
export function databaseUnavailableAnswer(): DomainError {
  return new DomainError('DATABASE_UNAVAILABLE', 'the database is unavailable; try again shortly')
}

function fieldOf(e: PgLikeError): string | undefined {
  if (typeof e.column === 'string' && e.column) return e.column
  const fromKey = /Key \(([a-z_, ]+)\)=/.exec(typeof e.detail === 'string' ? e.detail : '')?.[1]
  return fromKey
}

/**
 * PostgreSQL (and PGlite) data errors a request can provoke when the code did
 * not pre-check it: mapped to 400/409 with a message that names the field at
 * most, never the server's own text (it can quote values and internals).
 */
export function fromDataError(err: unknown): DomainError | undefined {
  if (!err || typeof err !== 'object') return undefined
  const e = err as PgLikeError
  if (typeof e.code !== 'string' || e.severity === undefined) return undefined
  const field = fieldOf(e)
  const what = field ?? 'a value'
  switch (e.code) {
    case '23505':
      return new DomainError('CONFLICT', `${field ?? 'value'} is already in use`, field)
    case '23503':
      return new DomainError('REFERENCE_CONFLICT', `${field ?? 'a referenced record'} does not exist or is still in use`, field)
    case '23502':
      return new DomainError('VALIDATION_FAILED', `${what} is required`, field)
    case '22P02':
    case '22007':
    case '22008':
    case '23514':
    case '22023':
      return new DomainError('VALIDATION_FAILED', `${what} is not valid`, field)
    case '22001':
      return new DomainError('VALIDATION_FAILED', `${what} is too long`, field)
    case '22003':
      return new DomainError('VALIDATION_FAILED', `${what} is out of range`, field)
    case '22021':
    case '22P05':
      return new DomainError('VALIDATION_FAILED', `${what} contains characters that cannot be stored (NUL or invalid UTF-8)`, field)
    case '54000':
    case '54001':
      return new DomainError('VALIDATION_FAILED', 'the request is too large or too deeply nested to store')
    default:
      return undefined
  }
}
