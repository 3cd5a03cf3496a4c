import type { ErrorCode, NotFoundCode } from './error-codes.js'

/**
 * Base of every error a client is told about: a code from the table in
 * error-codes.ts, a sentence, and the field it concerns. It knows no HTTP
 * status; the error handler looks that up from the code.
 */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class ValidationError extends DomainError {
  constructor(field: string, message: string) {
    super('VALIDATION_FAILED', field ? `${field}: ${message}` : message, field || undefined)
  }
}

export class UnauthorizedError extends DomainError {
  constructor(message = 'authentication required', code: Extract<ErrorCode, 'UNAUTHORIZED' | 'INVALID_CREDENTIALS'> = 'UNAUTHORIZED') {
    super(code, message)
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'your role does not allow this', code: ErrorCode = 'FORBIDDEN') {
    super(code, message)
  }
}

/** `what` names the thing in the message: `new NotFoundError('FLEET_NOT_FOUND', 'fleet')` says "fleet not found". */
export class NotFoundError extends DomainError {
  constructor(code: NotFoundCode, what: string) {
    super(code, `${what} not found`)
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, code: ErrorCode = 'CONFLICT', field?: string) {
    super(code, message, field)
  }
}

export class TooManyRequestsError extends DomainError {
  constructor(
    readonly retryAfterSeconds: number,
    message = 'too many attempts, try again later',
    code: Extract<ErrorCode, 'TOO_MANY_REQUESTS' | 'LOGIN_BUSY'> = 'TOO_MANY_REQUESTS',
  ) {
    super(code, message)
  }
}
