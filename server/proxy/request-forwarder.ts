import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http'

/**
 * Passes one plain HTTP request to a device service and streams the answer
 * back: what http-proxy-3's web passes did, minus their cost (each request
 * built its options three times over; about a third of the proxy's CPU per
 * request in bench/tunnel) and minus one of their flaws. Its `deleteLength`
 * pass gave a DELETE or OPTIONS with a chunked body `Content-Length: 0` and
 * still wrote the body after it, so the device app read the body as a request
 * of its own on the kept-alive channel, and the next user of that channel got
 * its answer. Here the body is framed as the client framed it: a length stays
 * a length, chunked stays chunked, and a request with neither has no body.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'])

/** What the device is sent: the client's headers (already cleaned of ours), framing kept, hop-by-hop dropped. */
export function outgoingHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
  }
  // Node's client frames a body it is given a length for by that length, and one with a Transfer-Encoding
  // naming chunked in chunks. With neither there is no body: RFC 9112 §6.3 says so, and Node's server read none.
  return headers
}

/** The device's response headers for the client, in their own case and order, minus the hop-by-hop ones. */
export function incomingHeaders(rawHeaders: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    const lower = name.toLowerCase()
    // Node's server frames the body for the client itself (length, or chunked to an HTTP/1.1 client).
    if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding') continue
    kept.push(name, rawHeaders[i + 1]!)
  }
  return kept
}

export interface ForwardOptions {
  agent: http.Agent
  /** A device that sends nothing for this long ends the request (502). */
  timeoutMs: number
  /** The request failed before any of the answer was sent: the caller says why (a 502 page). */
  onError(err: Error): void
}

/**
 * Forwards `req` (its url and headers already prepared for the device) and
 * pipes the answer into `res`. Either side going away ends the other: a
 * channel is never left half-used in the device's tunnel.
 */
export function forwardRequest(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void {
  // Throws (ERR_UNESCAPED_CHARACTERS, ERR_INVALID_CHAR) for a path or header Node's client will not send: the caller answers 400.
  const upstream = http.request({
    agent: options.agent,
    method: req.method,
    path: req.url,
    headers: outgoingHeaders(req),
    // The Host header is the client's (prepared): the agent's connection is a tunnel channel, not a host.
    setHost: false,
  })
  let failed = false
  const fail = (err: Error) => {
    if (failed) return
    failed = true
    upstream.destroy()
    if (res.headersSent || req.socket?.destroyed) res.destroy()
    else options.onError(err)
  }
  upstream.setTimeout(options.timeoutMs, () => fail(new Error('the device service sent nothing in time')))
  upstream.on('error', fail)
  req.on('error', () => upstream.destroy())
  res.on('close', () => {
    // The client went before the whole answer was written: the channel must go too.
    if (!res.writableFinished) upstream.destroy()
  })
  // A 101 to a plain request: Node's client hands the channel to an 'upgrade' listener, or else drops it in silence.
  upstream.on('upgrade', (_answer, channel) => {
    channel.destroy()
    fail(new Error('the device service answered a plain request with 101 Switching Protocols'))
  })
  // The safety net for any end without an answer that Node's client reports as no error.
  upstream.on('close', () => {
    if (!answered) fail(new Error('the device service closed the channel without answering'))
  })
  let answered = false
  upstream.on('response', (answer) => {
    answered = true
    // Only once the client has the device's status line: before that, a failure is a 502 page, not a cut connection.
    const cut = () => {
      if (res.headersSent) res.destroy()
    }
    answer.on('error', cut)
    answer.on('aborted', cut)
    try {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage ?? '', incomingHeaders(answer.rawHeaders))
    } catch (err) {
      // A device app's status line or header Node will not pass on: its answer is unusable, so a 502.
      // writeHead kept the bad reason phrase; the 502 page must not reuse it.
      res.statusMessage = ''
      answer.destroy()
      return fail(err as Error)
    }
    answer.pipe(res)
  })
  req.pipe(upstream)
}
