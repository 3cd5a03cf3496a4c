import type { ErrorRequestHandler } from 'express'
import type { Logger } from '../logger.js'
import { statusOf } from '../error-codes.js'
import { DomainError, TooManyRequestsError } from '../errors.js'
import { databaseUnavailableAnswer, fromDataError, isDatabaseUnavailable } from '../db/database-errors.js'

/** body-parser's and raw-body's error types, each with the answer a client can act on. */
function fromBodyError(err: { type?: unknown }): DomainError | undefined {
  switch (err.type) {
    case 'entity.parse.failed':
      return new DomainError('INVALID_JSON', 'request body is not valid JSON')
    case 'entity.too.large':
      return new DomainError('BODY_TOO_LARGE', 'request body is too large')
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new DomainError('UNSUPPORTED_ENCODING', 'request body encoding is not supported')
    case 'parameters.too.many':
      return new DomainError('BODY_TOO_LARGE', 'request body has too many parameters')
    case 'request.size.invalid':
    case 'request.aborted':
      return new DomainError('INVALID_BODY', 'request body was incomplete')
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return new DomainError('INVALID_BODY', 'request body could not be read')
    default:
      return undefined
  }
}

/** Translates any thrown value into the DomainError it stands for; undefined for a genuine bug. */
export function toHttpError(err: unknown): DomainError | undefined {
  if (err instanceof DomainError) return err
  if (!err || typeof err !== 'object') return undefined
  if (isDatabaseUnavailable(err)) return databaseUnavailableAnswer()
  // express/path-to-regexp: a path parameter that is not valid percent-encoding (`/api/devices/%E0`).
  if (err instanceof URIError) return new DomainError('INVALID_PATH', 'the request path is not valid percent-encoding')
  const framed = fromBodyError(err as { type?: unknown }) ?? fromDataError(err)
  if (framed) return framed
  // Other http-errors from express and its middleware that blame the client (`expose` is their own flag for that).
  const { status, expose } = err as { status?: unknown; expose?: unknown }
  if (expose === true && typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new DomainError('BODY_TOO_LARGE', 'request body is too large')
    if (status === 415) return new DomainError('UNSUPPORTED_MEDIA_TYPE', 'request body type is not supported')
    return new DomainError('BAD_REQUEST', 'the request is not valid')
  }
  return undefined
}

/**
 * The one place errors become HTTP answers: `{error, code, field?}`. Unknown
 * errors are logged with their stack and answered with a generic 500; their
 * message never reaches the client.
 */
export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let httpError = toHttpError(err)
    if (!httpError) {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error')
      httpError = new DomainError('INTERNAL', 'internal error')
    } else if (httpError.code === 'DATABASE_UNAVAILABLE') {
      logger.warn({ method: req.method, path: req.path, err: (err as Error).message }, 'request failed: database unavailable')
    }
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (httpError instanceof TooManyRequestsError) res.set('Retry-After', String(httpError.retryAfterSeconds))
    const status = statusOf(httpError.code)
    if (status === 503) res.set('Retry-After', '5')
    const body: Record<string, unknown> = { error: httpError.message, code: httpError.code }
    if (httpError.field) body.field = httpError.field
    res.status(status).json(body)
  }
}
