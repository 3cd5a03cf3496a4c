import { errorSentence } from './error-text'

/**
 * The one way the console talks to the gateway. The session travels in the
 * HttpOnly cookie (credentials: 'same-origin'); the JWT is never kept in
 * script-readable storage. Every failure becomes an ApiError carrying the
 * API's {error, code, field}, so callers can show it next to the right field.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  /** The route does not exist on this gateway yet (a feature still being built). */
  get notAvailable(): boolean {
    return this.status === 404 && this.code === 'ROUTE_NOT_FOUND'
  }
}

/** What the console shows for a failure: a sentence, never a raw code or validator text. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return errorSentence(err.code, err.message, err.field)
  if (err instanceof Error) return err.message
  return String(err)
}

type UnauthorizedListener = () => void
const unauthorizedListeners = new Set<UnauthorizedListener>()

/** Called when any request answers 401: the session expired or was revoked. */
export function onUnauthorized(listener: UnauthorizedListener): () => void {
  unauthorizedListeners.add(listener)
  return () => unauthorizedListeners.delete(listener)
}

export type Query = Record<string, string | number | boolean | undefined | null>

export function withQuery(path: string, query?: Query): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const text = params.toString()
  return text ? `${path}?${text}` : path
}

async function parseBody(res: Response): Promise<unknown> {
  const text = await res.text()
  if (!text) return undefined
  if (res.headers.get('content-type')?.includes('json')) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}

/**
 * The session's CSRF token, from the `x-csrf-token` header of login, refresh
 * and /api/auth/me. The gateway wants it on multipart uploads: a form on
 * another site can post multipart, but cannot send this header.
 */
let csrfToken: string | undefined
const CSRF_HEADER = 'x-csrf-token'

async function freshCsrfToken(): Promise<string | undefined> {
  csrfToken = undefined
  await request('GET', '/api/auth/me', undefined, { quiet401: true }).catch(() => undefined)
  return csrfToken
}

export async function request<T>(method: string, path: string, body?: unknown, options: { quiet401?: boolean; csrfRetried?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const init: RequestInit = { method, credentials: 'same-origin', headers }
  if (body instanceof FormData) {
    init.body = body
    const token = csrfToken ?? (await freshCsrfToken())
    if (token) headers[CSRF_HEADER] = token
  } else if (method !== 'GET' && method !== 'HEAD') {
    // Cookie-authenticated writes must be JSON, bodiless ones included: a cross-site page cannot send that without a preflight.
    headers['content-type'] = 'application/json'
    if (body !== undefined) init.body = JSON.stringify(body)
  }
  let res: Response
  try {
    res = await fetch(path, init)
  } catch {
    throw new ApiError(0, 'NETWORK', 'Cannot reach the gateway. Check your connection and try again.')
  }
  const issued = res.headers.get(CSRF_HEADER)
  if (issued) csrfToken = issued
  if (res.status === 401) csrfToken = undefined
  const parsed = await parseBody(res)
  if (res.ok) return parsed as T
  const info = (parsed && typeof parsed === 'object' ? parsed : {}) as { error?: string; code?: string; field?: string }
  // The session changed under us (a refresh in another tab): fetch its token and try the upload once more.
  if (info.code === 'CSRF_TOKEN_INVALID' && body instanceof FormData && !options.csrfRetried) {
    await freshCsrfToken()
    return request<T>(method, path, body, { ...options, csrfRetried: true })
  }
  if (res.status === 401 && !options.quiet401) for (const listener of unauthorizedListeners) listener()
  throw new ApiError(res.status, info.code ?? `HTTP_${res.status}`, info.error ?? `${res.status} ${res.statusText || 'request failed'}`, info.field)
}

export const http = {
  get: <T>(path: string, query?: Query) => request<T>('GET', withQuery(path, query)),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body ?? {}),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, body ?? {}),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
}
