/** A small JSON client over fetch, keeping the response status, headers and parsed body together. */
export interface JsonResponse<T = any> {
  status: number
  headers: Headers
  body: T
}

export interface RequestOptions {
  token?: string
  cookie?: string
  headers?: Record<string, string>
  body?: unknown
}

export function createHttpClient(baseUrl: string) {
  async function request<T = any>(method: string, path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    const headers: Record<string, string> = { ...options.headers }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    if (options.cookie) headers.cookie = options.cookie
    let body: string | undefined
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json'
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
    }
    const res = await fetch(new URL(path, baseUrl), { method, headers, body, redirect: 'manual' })
    const text = await res.text()
    let parsed: unknown = text
    if (res.headers.get('content-type')?.includes('json') && text) parsed = JSON.parse(text)
    return { status: res.status, headers: res.headers, body: parsed as T }
  }
  return {
    baseUrl,
    request,
    get: <T = any>(path: string, o?: RequestOptions) => request<T>('GET', path, o),
    post: <T = any>(path: string, body?: unknown, o?: RequestOptions) => request<T>('POST', path, { ...o, body }),
    put: <T = any>(path: string, body?: unknown, o?: RequestOptions) => request<T>('PUT', path, { ...o, body }),
    delete: <T = any>(path: string, o?: RequestOptions) => request<T>('DELETE', path, o),
  }
}

export type HttpClient = ReturnType<typeof createHttpClient>
