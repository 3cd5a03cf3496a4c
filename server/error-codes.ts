/**
 * Every error code the gateway answers with, and the one HTTP status it maps to.
 * Codes are literal and searchable: grep a code to find every place that raises it.
 * Domain code throws `DomainError(code, …)` and knows no status; the error handler,
 * the proxy's pages and the terminal's refusals look the status up here, so one code
 * can never mean two statuses. A code missing here does not compile, and
 * test/unit/error-codes.test.ts fails on a code written anywhere that is not listed.
 */
export const errorStatus = {
  // 400: the request itself is wrong.
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_BODY: 400,
  INVALID_MULTIPART: 400,
  INVALID_PATH: 400,
  BAD_REQUEST: 400,
  BAD_HEADER: 400,
  BAD_UPGRADE: 400,
  NOT_A_SESSION: 400,
  PRIVATE_KEY_IN_CONFIG: 400,
  // 401: no credential, or a wrong one.
  UNAUTHORIZED: 401,
  INVALID_CREDENTIALS: 401,
  HANDOFF_INVALID: 401,
  WEBHOOK_SIGNATURE_INVALID: 401,
  // A call on the cluster peer listener without a valid, fresh signature (docs/cluster-forwarding.md).
  PEER_UNAUTHORIZED: 401,
  // 403: a credential that may not do this.
  FORBIDDEN: 403,
  CSRF_CHECK_FAILED: 403,
  CSRF_TOKEN_REQUIRED: 403,
  CSRF_TOKEN_INVALID: 403,
  ORIGIN_REFUSED: 403,
  COMMAND_NOT_ALLOWED: 403,
  // 404: nothing by that name (or nothing the caller may know of).
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  API_TOKEN_NOT_FOUND: 404,
  CERTIFICATE_NOT_FOUND: 404,
  DEPLOYMENT_NOT_FOUND: 404,
  DEVICE_NOT_FOUND: 404,
  ENV_VARS_NOT_FOUND: 404,
  FLEET_NOT_FOUND: 404,
  REGISTRATION_TOKEN_NOT_FOUND: 404,
  SERVICE_NOT_FOUND: 404,
  SOFTWARE_NOT_FOUND: 404,
  SSH_KEY_NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  ROLLOUT_NOT_FOUND: 404,
  AGENT_RELEASE_NOT_FOUND: 404,
  CONTAINER_NOT_FOUND: 404,
  // 409: the request is fine, the current state does not allow it.
  CONFLICT: 409,
  REFERENCE_CONFLICT: 409,
  USER_EXISTS: 409,
  FLEET_EXISTS: 409,
  DEVICE_EXISTS: 409,
  SOFTWARE_EXISTS: 409,
  VERSION_EXISTS: 409,
  SERVICE_EXISTS: 409,
  SUBDOMAIN_TAKEN: 409,
  URL_PATH_TAKEN: 409,
  PUBLIC_KEY_IN_USE: 409,
  SSH_KEY_EXISTS: 409,
  PORT_RANGE_EXHAUSTED: 409,
  LAST_ADMIN: 409,
  SELF_DELETE: 409,
  SOFTWARE_DEPLOYED: 409,
  SOFTWARE_HAS_NO_VERSION: 409,
  CERTIFICATE_UNUSED: 409,
  MANUAL_CERTIFICATE: 409,
  TLS_DISABLED: 409,
  AGENT_NOT_CONNECTED: 409,
  LOOPBACK_ENDPOINT: 409,
  ROLLOUT_ACTIVE: 409,
  ROLLOUT_STATE: 409,
  ROLLOUT_NO_DEVICES: 409,
  AGENT_NEEDS_NEWER_GATEWAY: 409,
  CONTAINER_AMBIGUOUS: 409,
  NOT_A_GIT_SOURCE: 409,
  // 422: a git repository whose content cannot become a version (no compose file, a symlink leaving it, a file too large).
  GIT_IMPORT_REFUSED: 422,
  // 410: a registration token that existed but no longer works.
  REGISTRATION_TOKEN_EXPIRED: 410,
  REGISTRATION_TOKEN_USED_UP: 410,
  REGISTRATION_TOKEN_REVOKED: 410,
  // 413, 415: the body's size or kind.
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNSUPPORTED_ENCODING: 415,
  // 429: too many, come back later (with Retry-After).
  TOO_MANY_REQUESTS: 429,
  LOGIN_BUSY: 429,
  // Per-event refusals inside an agent's outbox answer (the request itself succeeds).
  INVALID_EVENT: 400,
  DUPLICATE_SEQ: 409,
  // 500: a bug; the message never reaches the client.
  INTERNAL: 500,
  // 502, 503: the only 5xx answers, each about a device, its agent or the database (DESIGN.md: no other 5xx).
  DEVICE_OFFLINE: 502,
  SERVICE_NOT_CONNECTED: 502,
  SERVICE_UNREACHABLE: 502,
  GATEWAY_ERROR: 502,
  AGENT_ERROR: 502,
  AGENT_BAD_REPLY: 502,
  AGENT_REPLY_TOO_LARGE: 502,
  AGENT_UNREACHABLE: 502,
  // Cluster forwarding: the owning node could not be reached, or a forwarded request would be forwarded again.
  PEER_UNREACHABLE: 502,
  FORWARD_LOOP: 502,
  DATABASE_UNAVAILABLE: 503,
  ROUTING_UNAVAILABLE: 503,
  SESSION_CLOSED: 503,
  AGENT_NOT_BUILT: 503,
  AGENT_TIMEOUT: 502,
  // A git remote that could not be fetched (unreachable, credentials refused, over the size or time limit).
  GIT_FETCH_FAILED: 502,
} as const satisfies Record<string, number>

export type ErrorCode = keyof typeof errorStatus
export type NotFoundCode = Extract<ErrorCode, 'NOT_FOUND' | `${string}_NOT_FOUND`>

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorStatus, value)
}

/** The one mapping from a code to its HTTP status. */
export function statusOf(code: ErrorCode): number {
  return errorStatus[code]
}
