import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { ChannelPool, PooledChannel } from './channel-pool.js'
import type { ResponseHead } from './node-http-parser.js'

/**
 * Passes one plain HTTP request to a device service over a kept-alive tunnel
 * channel and streams the answer back.
 *
 * Written for the proxy rather than taken from http-proxy-3 and Node's http
 * client: those cost about 40% of the gateway's CPU per proxied request in
 * bench/tunnel (options objects built three times over, an Agent lookup, a
 * ClientRequest and an IncomingMessage per request). And http-proxy-3's
 * `deleteLength` pass gave a DELETE or OPTIONS with a chunked body
 * `Content-Length: 0` and still wrote the body after it, so the device app
 * read the body as a request of its own on the shared channel, and the next
 * user of that channel got its answer. Here the body is framed as the client
 * framed it: a length stays a length, chunked stays chunked, and a request
 * with neither has no body (RFC 9112 §6.3, which is also what Node's server
 * read).
 *
 * Over 300 lines on purpose: one exchange (the request's body out, the
 * answer's head and body back, timeouts, backpressure both ways, the retry on
 * a pooled channel found closed) shares its state in one closure; split, each
 * piece would hand that state around on the proxy's busiest path.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the request. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade'])

const CRLF = Buffer.from('\r\n', 'latin1')

/** Node's http client refuses these path bytes (ERR_UNESCAPED_CHARACTERS); so do we, before any byte is sent. */
const INVALID_PATH = /[^\u0021-\u00ff]/
/** What Node's validateHeaderName takes (RFC 9110 token characters), tested over every name at once. */
const HTTP_TOKENS = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]*$/
/** What Node's validateHeaderValue refuses (controls but tab, and anything past latin1), tested over every value at once. */
const INVALID_HEADER_TEXT = /[^\t\x20-\x7e\x80-\xff]/

class UnsendableRequestError extends Error {
  constructor(readonly code: string) {
    super('the request path cannot be passed on')
  }
}

export interface DeviceRequest {
  /** The request line and headers, as latin1 text. */
  head: string
  /** The client sent its body chunked (and the device is sent it chunked). */
  chunked: boolean
  /** The client's Content-Length, if it sent one. */
  contentLength: string | undefined
}

/**
 * What the device is sent: the request line, then the client's headers
 * (already cleaned of ours), framing kept, hop-by-hop ones dropped. Throws
 * (ERR_INVALID_HTTP_TOKEN, ERR_INVALID_CHAR, ERR_UNESCAPED_CHARACTERS) for what
 * Node's client would refuse to send: the caller answers 400. The names and
 * the values are each checked in one pass over all of them, with the rules
 * of Node's validateHeaderName and validateHeaderValue: the two checks per
 * header showed at about 3% of the gateway's busy time under load.
 */
export function deviceRequest(method: string, path: string, headers: IncomingHttpHeaders): DeviceRequest {
  if (INVALID_PATH.test(path)) throw new UnsendableRequestError('ERR_UNESCAPED_CHARACTERS')
  let head = `${method} ${path} HTTP/1.1\r\n`
  let names = ''
  let values = ''
  for (const name in headers) {
    const value = headers[name]
    if (value === undefined || HOP_BY_HOP.has(name)) continue
    names += name
    if (typeof value === 'string') {
      values += value
      head += `${name}: ${value}\r\n`
    } else {
      for (const one of value) {
        values += one
        head += `${name}: ${one}\r\n`
      }
    }
  }
  if (!HTTP_TOKENS.test(names)) throw new UnsendableRequestError('ERR_INVALID_HTTP_TOKEN')
  if (INVALID_HEADER_TEXT.test(values)) throw new UnsendableRequestError('ERR_INVALID_CHAR')
  const contentLength = headers['content-length']
  return { head: `${head}\r\n`, chunked: headers['transfer-encoding'] !== undefined, contentLength }
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
  pool: ChannelPool
  /** A device that sends nothing for this long (up to twice as long: the channel's timer is checked once per period) ends the request (502). */
  timeoutMs: number
  /** The request failed before any of the answer was sent: the caller says why (a 502 page). */
  onError(err: Error): void
}

/**
 * Forwards `req` (its url and headers already prepared for the device) and
 * writes the answer into `res`. Either side going away ends the other: a
 * channel is never left half-used in the device's tunnel, and one goes back
 * to the pool only after a whole answer that keeps the connection alive.
 */
export function forwardRequest(req: IncomingMessage, res: ServerResponse, options: ForwardOptions): void {
  // Throws for what cannot be sent; nothing has been opened yet.
  const { head, chunked, contentLength } = deviceRequest(req.method ?? 'GET', req.url ?? '/', req.headers)
  // A request without a body that changes nothing may be sent again: what nginx and browsers do when a kept-alive
  // connection turns out to be closed (the device app's keep-alive timeout fired as the request left).
  const resendable = (req.method === 'GET' || req.method === 'HEAD') && !chunked && (contentLength ?? '0') === '0'
  const attempt = (fresh: boolean) => {
    // The common case, a kept-alive channel at hand, goes on at once rather than through a promise.
    const idle = fresh ? undefined : options.pool.takeIdle()
    if (idle) {
      try {
        exchange(req, res, idle, { head, chunked, retry: resendable ? () => attempt(true) : undefined, ...options })
      } catch {
        // As below: whatever slipped through ends this request and its channel, never the process.
        idle.stream.destroy()
        res.destroy()
      }
      return
    }
    // Whether the client went away while a channel was being found.
    let clientGone = false
    const onClientClose = () => (clientGone = true)
    res.once('close', onClientClose)
    options.pool
      .acquire({ fresh, silenceMs: options.timeoutMs })
      .then(
        (channel) => {
          res.off('close', onClientClose)
          if (clientGone || res.destroyed) return channel.stream.destroy()
          const retry = resendable && channel.reused ? () => attempt(true) : undefined
          exchange(req, res, channel, { head, chunked, retry, ...options })
        },
        (err: Error) => {
          res.off('close', onClientClose)
          if (!clientGone) options.onError(err)
        },
      )
      // Whatever slipped through ends this request, never the process.
      .catch(() => res.destroy())
  }
  attempt(false)
}

type Listener = Parameters<NodeJS.EventEmitter['on']>[1]

/**
 * The device's status line and headers, every repeated header kept. With headers already set
 * on `res` (the HTTPS listener's Strict-Transport-Security), Node merges a raw list into them
 * one setHeader at a time, and each repeat would replace the one before: of three Set-Cookie
 * lines only the last would reach the browser. So repeats go in as one list per name then.
 */
function writeAnswerHead(res: ServerResponse, status: number, reason: string, raw: string[]) {
  if (res.getHeaderNames().length === 0) return res.writeHead(status, reason, raw)
  const byName = new Map<string, { name: string; values: string[] }>()
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toLowerCase()
    const entry = byName.get(key)
    if (entry) entry.values.push(raw[i + 1]!)
    else byName.set(key, { name: raw[i]!, values: [raw[i + 1]!] })
  }
  try {
    for (const { name, values } of byName.values()) res.setHeader(name, values.length === 1 ? values[0]! : values)
    return res.writeHead(status, reason)
  } catch (err) {
    // A header or reason Node refuses: none of this answer's headers may stay on for the 502 page.
    for (const { name } of byName.values()) res.removeHeader(name)
    throw err
  }
}

function uncork(res: ServerResponse) {
  res.uncork()
}

interface ExchangeOptions extends ForwardOptions {
  head: string
  chunked: boolean
  /** Sends the request again on a new channel: set when this channel came from the pool and the request may be resent. */
  retry: (() => void) | undefined
}

function exchange(req: IncomingMessage, res: ServerResponse, channel: PooledChannel, options: ExchangeOptions) {
  const { stream, parser } = channel
  const isHead = req.method === 'HEAD'
  /** Nothing came back on this channel yet: its failure says nothing about the device service, only about the channel. */
  let silent = true
  let requestSent = false
  let answered = false
  let done = false
  let keepAlive = false
  /** The client's socket is full: the channel is paused until it drains. */
  let waitingForClient = false
  let drainListened = false

  const finish = (reuse: boolean) => {
    if (done) return
    done = true
    parser.listen(undefined)
    for (const [emitter, event, listener] of listeners) emitter.off(event, listener)
    channel.user = undefined
    stream.pause()
    if (reuse) options.pool.release(channel)
    else stream.destroy()
  }
  /** Ends the exchange for good: a 502 if the client has nothing yet, else a cut connection. */
  const fail = (err: Error) => {
    if (done) return
    finish(false)
    if (res.headersSent || res.destroyed || req.socket?.destroyed) res.destroy()
    else options.onError(err)
  }

  // The channel's own timer (armed afresh for each exchange): the device service sent nothing for a whole period.
  let heard = false
  const activity = () => (heard = true)
  const onSilence = () => {
    if (!heard) return fail(new Error('the device service sent nothing in time'))
    heard = false
    channel.silence.refresh()
  }

  parser.listen({
    head(answer: ResponseHead): boolean {
      activity()
      const { statusCode } = answer
      // 1xx (100 Continue, 103 Early Hints): informational; Node's server already told the client to continue.
      if (statusCode < 200 && statusCode !== 101) return true
      if (statusCode === 101) {
        fail(new Error('the device service answered a plain request with 101 Switching Protocols'))
        return true
      }
      answered = true
      keepAlive = answer.keepAlive
      try {
        writeAnswerHead(res, statusCode, answer.statusMessage, incomingHeaders(answer.rawHeaders))
      } catch (err) {
        // A device app's status line or header Node will not pass on: its answer is unusable, so a 502.
        // writeHead kept the bad reason phrase; the 502 page must not reuse it.
        res.statusMessage = ''
        fail(err as Error)
        return true
      }
      return isHead
    },
    body(chunk: Buffer) {
      activity()
      if (!res.write(chunk) && !waitingForClient) {
        waitingForClient = true
        stream.pause()
        if (!drainListened) {
          // Only an answer that fills the client's socket needs to hear it drain.
          drainListened = true
          res.on('drain', onResDrain)
          listeners.push([res, 'drain', onResDrain])
        }
      }
    },
    complete() {
      // A 1xx's end: the real answer follows on the same channel.
      if (!answered || done) return
      res.end()
      // Reused only when the device keeps the connection and has read all we sent.
      finish(keepAlive && requestSent)
    },
  })

  /** The channel ended or failed: on a pooled channel that never answered, once more on a new one. */
  const channelLost = (err: Error) => {
    if (done) return
    if (silent && options.retry && !res.headersSent) {
      finish(false)
      return options.retry()
    }
    fail(err)
  }

  const onData = (chunk: Buffer) => {
    silent = false
    activity()
    // An answer's head, body and end read from one chunk leave for the client in one write.
    res.cork()
    const err = parser.execute(chunk)
    process.nextTick(uncork, res)
    if (err) fail(new Error(`the device service's answer is not HTTP: ${(err as { code?: string }).code ?? err.message}`))
  }
  const onEnd = () => {
    // An answer without a length ends with the connection.
    const err = parser.finish()
    if (err) fail(new Error('the device service closed the channel mid-answer'))
    else if (!done) channelLost(new Error('the device service closed the channel without answering'))
  }
  const onClose = () => channelLost(new Error('the device service closed the channel without answering'))
  const onStreamError = (err: Error) => channelLost(err)
  const onDrain = () => req.resume()
  const onResDrain = () => {
    if (!waitingForClient) return
    waitingForClient = false
    stream.resume()
  }
  const onClientClose = () => {
    // The client went before the whole answer was written: the channel must go too.
    if (!res.writableFinished) finish(false)
  }
  const onBody = (chunk: Buffer) => {
    activity()
    // One write per piece, so that a full buffer can never leave a chunk's size line without its data.
    const ok = stream.write(options.chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, CRLF]) : chunk)
    if (!ok) req.pause()
  }
  const onBodyEnd = () => {
    if (options.chunked) stream.write('0\r\n\r\n')
    requestSent = true
  }
  const onRequestError = () => finish(false)

  // No body (a GET): nothing more to send once the head is out.
  const bodiless = req.complete && req.readableLength === 0 && !options.chunked && req.headers['content-length'] === undefined
  // Every listener this exchange adds to the client's side, so that `finish` takes each one off again. The channel's own
  // events come through its permanent listeners (channel-pool.ts), to this exchange while it is the channel's user.
  const listeners: [NodeJS.EventEmitter, string, Listener][] = [
    [res, 'close', onClientClose],
    // A write the client's side refuses (as a pipe would have caught it): this exchange ends, not the process.
    [res, 'error', onRequestError],
    [req, 'error', onRequestError],
  ]
  if (!bodiless) listeners.push([req, 'data', onBody], [req, 'end', onBodyEnd])
  channel.user = { data: onData, end: onEnd, close: onClose, error: onStreamError, drain: onDrain, silence: onSilence }
  channel.silence.refresh()
  stream.write(options.head, 'latin1')
  if (bodiless) requestSent = true
  for (const [emitter, event, listener] of listeners) emitter.on(event, listener)
  stream.resume()
}
