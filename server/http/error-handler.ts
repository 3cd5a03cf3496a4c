import type { ErrorRequestHandler } from 'express'
import type { Logger } from '../logger.js'
import { HttpError, TooManyRequestsError } from '../errors.js'

interface DatabaseError {
  code?: string
  detail?: string
  column?: string
}

/** Postgres (and PGlite) raise these when a request breaks a constraint the code did not pre-check. */
function fromDatabaseError(err: DatabaseError): HttpError | undefined {
  const field = /Key \(([a-z_, ]+)\)=/.exec(err.detail ?? '')?.[1]
  switch (err.code) {
    case '23505':
      return new HttpError(409, 'CONFLICT', `${field ?? 'value'} is already in use`, field)
    case '23503':
      return new HttpError(409, 'REFERENCE_CONFLICT', `${field ?? 'a referenced record'} does not exist or is still in use`, field)
    case '22P02':
    case '23514':
      return new HttpError(400, 'VALIDATION_FAILED', `${err.column ?? field ?? 'a value'} is not valid`, err.column ?? field)
    default:
      return undefined
  }
}

/**
 * The one place errors become HTTP answers: `{error, code, field?}`. Unknown
 * errors are logged with their stack and answered with a generic 500; their
 * message never reaches the client.
 */
export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let httpError: HttpError | undefined
    if (err instanceof HttpError) httpError = err
    else if (err?.type === 'entity.parse.failed') httpError = new HttpError(400, 'INVALID_JSON', 'request body is not valid JSON')
    else if (err?.type === 'entity.too.large') httpError = new HttpError(413, 'BODY_TOO_LARGE', 'request body is too large')
    else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported')
      httpError = new HttpError(415, 'UNSUPPORTED_ENCODING', 'request body encoding is not supported')
    else if (err && typeof err === 'object') httpError = fromDatabaseError(err as DatabaseError)

    if (!httpError) {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error')
      httpError = new HttpError(500, 'INTERNAL', 'internal error')
    }
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (httpError instanceof TooManyRequestsError) res.set('Retry-After', String(httpError.retryAfterSeconds))
    const body: Record<string, unknown> = { error: httpError.message, code: httpError.code }
    if (httpError.field) body.field = httpError.field
    res.status(httpError.status).json(body)
  }
}
