import type { z } from 'zod'
import { CliError, EXIT, oneLine, type ExitCode } from './cli-error.js'

/** More than any answer of the API this CLI reads; a bigger one is refused rather than buffered. */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024

export interface RequestOptions {
  query?: Record<string, string | number | undefined>
  body?: unknown
  /** False for the login call, which carries no token. */
  auth?: boolean
  /** What a 404 is about, e.g. `device "lab-1"`, for the message. */
  notFound?: string
  /** Extra headers (e.g. Accept for a stream). */
  headers?: Record<string, string>
}

/** Normalises the URL given to `login`: http(s), no credentials, query or fragment; the path is kept (a gateway under a prefix). */
export function parseGatewayUrl(input: string): string {
  let url: URL
  try {
    url = new URL(input)
  } catch {
    throw new CliError(EXIT.usage, `"${oneLine(input, 100)}" is not a URL; give the gateway's address, e.g. https://gateway.example.com`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(EXIT.usage, `the gateway URL must start with https:// or http://, not ${oneLine(url.protocol, 20)}`)
  if (url.username || url.password) throw new CliError(EXIT.usage, 'the gateway URL must not carry credentials; use --username and --password-stdin')
  if (url.search || url.hash) throw new CliError(EXIT.usage, 'the gateway URL must not have a query or fragment')
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

function statusExit(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth
  if (status === 404) return EXIT.notFound
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return EXIT.usage
  return EXIT.server
}

/** Why fetch failed, from undici's cause: ECONNREFUSED, ENOTFOUND, a TLS code, or a timeout. */
function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError') return 'no answer in time'
  const code = e.cause?.code
  if (code) return code
  return oneLine(e.cause?.message ?? (err instanceof Error ? err.message : String(err)), 120)
}

/** Reads at most `max` bytes of a body; more is an error, not a truncation. */
export async function readLimited(res: Response, max: number, origin: string): Promise<string> {
  if (!res.body) return ''
  const declared = Number(res.headers.get('content-length'))
  if (Number.isFinite(declared) && declared > max) {
    await res.body.cancel().catch(() => {})
    throw new CliError(EXIT.server, `the answer from ${origin} is larger than ${max / 1024 / 1024} MiB; refused`)
  }
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>
    try {
      next = await reader.read()
    } catch (err) {
      // The deadline or the connection ended mid-answer.
      throw new CliError(EXIT.server, `the answer from ${origin} broke off: ${networkReason(err)}`)
    }
    const { done, value } = next
    if (done) break
    size += value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      throw new CliError(EXIT.server, `the answer from ${origin} is larger than ${max / 1024 / 1024} MiB; refused`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The gateway's REST API as the CLI sees it: Bearer token, JSON both ways,
 * bounded time and size, and every failure turned into a CliError with an
 * exit code and one line. Answers are checked against a zod schema, so a
 * hostile or foreign server gives a clear message, never a TypeError.
 */
export function createApiClient(deps: { baseUrl: string; token?: string; timeoutMs: number }) {
  const origin = new URL(deps.baseUrl).origin

  function urlOf(path: string, query: RequestOptions['query']): URL {
    const url = new URL(deps.baseUrl + path)
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    return url
  }

  /** Sends a request and returns the response once its head arrived; the caller reads (or streams) the body. */
  async function send(method: string, path: string, options: RequestOptions & { signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers }
    if (options.auth !== false) {
      if (!deps.token) throw new CliError(EXIT.auth, 'not logged in; run `edgetainer login <url>` first')
      headers.authorization = `Bearer ${deps.token}`
    }
    let body: string | undefined
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.body)
    }
    let res: Response
    try {
      res = await fetch(urlOf(path, options.query), { method, headers, body, redirect: 'manual', signal: options.signal ?? AbortSignal.timeout(deps.timeoutMs) })
    } catch (err) {
      throw new CliError(EXIT.server, `cannot reach the gateway at ${origin}: ${networkReason(err)}`)
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => {})
      const location = res.headers.get('location')
      throw new CliError(EXIT.server, `the gateway at ${origin} redirected${location ? ` to ${oneLine(location, 200)}` : ''}; log in with the gateway's own URL`)
    }
    if (res.status >= 400) throw await errorOf(res, options.notFound)
    return res
  }

  async function errorOf(res: Response, notFound: string | undefined): Promise<CliError> {
    const text = await readLimited(res, 64 * 1024, origin).catch(() => '')
    let message = `HTTP ${res.status}`
    let code = ''
    try {
      const parsed = JSON.parse(text) as { error?: unknown; code?: unknown }
      // Only an error with something printable in it: one made of control characters alone would print as nothing.
      if (typeof parsed.error === 'string' && oneLine(parsed.error)) message = parsed.error
      if (typeof parsed.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(parsed.code)) code = parsed.code
    } catch {
      // Not our API's error shape: the status says enough.
    }
    if (res.status === 404 && notFound) message = `${notFound} not found`
    if (res.status >= 500 && !code) message = `the gateway at ${origin} failed (HTTP ${res.status})`
    if (res.status === 401 && code !== 'INVALID_CREDENTIALS') message = `${message}; run \`edgetainer login\` again`
    return new CliError(statusExit(res.status), code ? `${message} (${code})` : message)
  }

  async function json<S extends z.ZodType>(schema: S, method: string, path: string, options: RequestOptions = {}): Promise<z.output<S>> {
    const res = await send(method, path, options)
    const text = await readLimited(res, MAX_RESPONSE_BYTES, origin)
    let parsed: unknown
    try {
      parsed = text === '' && res.status === 204 ? undefined : JSON.parse(text)
    } catch {
      throw new CliError(EXIT.server, `the server at ${origin} did not answer with JSON (HTTP ${res.status}); is it an Edgetainer gateway?`)
    }
    const result = schema.safeParse(parsed)
    if (!result.success) {
      const issue = result.error.issues[0]!
      throw new CliError(EXIT.server, `unexpected answer from ${origin}${issue.path.length ? ` at ${issue.path.join('.')}` : ''}: ${issue.message}`)
    }
    return result.data
  }

  return {
    origin,
    baseUrl: deps.baseUrl,
    send,
    get: <S extends z.ZodType>(schema: S, path: string, o?: RequestOptions) => json(schema, 'GET', path, o),
    post: <S extends z.ZodType>(schema: S, path: string, body?: unknown, o?: RequestOptions) => json(schema, 'POST', path, { ...o, body }),
    put: <S extends z.ZodType>(schema: S, path: string, body?: unknown, o?: RequestOptions) => json(schema, 'PUT', path, { ...o, body }),
    delete: <S extends z.ZodType>(schema: S, path: string, o?: RequestOptions) => json(schema, 'DELETE', path, o),
  }
}

export type ApiClient = ReturnType<typeof createApiClient>
