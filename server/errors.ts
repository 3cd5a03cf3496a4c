/** Base of every error that maps to an HTTP answer; the express error handler renders it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message)
    this.name = new.target.name
  }
}

export class ValidationError extends HttpError {
  constructor(field: string, message: string) {
    super(400, 'VALIDATION_FAILED', field ? `${field}: ${message}` : message, field || undefined)
  }
}

export class UnauthorizedError extends HttpError {
  constructor(message = 'authentication required', code = 'UNAUTHORIZED') {
    super(401, code, message)
  }
}

export class ForbiddenError extends HttpError {
  constructor(message = 'your role does not allow this', code = 'FORBIDDEN') {
    super(403, code, message)
  }
}

export class NotFoundError extends HttpError {
  constructor(what: string, code = `${what.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_NOT_FOUND`) {
    super(404, code, `${what} not found`)
  }
}

export class ConflictError extends HttpError {
  constructor(message: string, code = 'CONFLICT', field?: string) {
    super(409, code, message, field)
  }
}

export class TooManyRequestsError extends HttpError {
  constructor(
    readonly retryAfterSeconds: number,
    message = 'too many attempts, try again later',
  ) {
    super(429, 'TOO_MANY_REQUESTS', message)
  }
}
