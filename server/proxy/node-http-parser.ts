import { createRequire } from 'node:module'

/**
 * Node's own HTTP/1 parser (llhttp), which its http client and server use,
 * reached through the internal `_http_common` module: the one place
 * Edgetainer relies on it. test/unit/node-http-parser.test.ts fails if a Node
 * upgrade moves any of it; fix it here and nowhere else.
 *
 * Why not Node's http client: the proxy reads device answers off tunnel
 * channels at a high rate, and the client wraps each answer in a
 * ClientRequest, an Agent lookup and an IncomingMessage stream. Parsing with
 * the same llhttp directly keeps its strictness (it rejects what the client
 * would) without that cost.
 */

interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  execute(data: Buffer): number | Error
  finish(): undefined | Error
  close(): void
  [slot: number]: unknown
}

interface HttpCommon {
  HTTPParser: {
    new (): NativeParser
    RESPONSE: number
    kOnHeaders: number
    kOnHeadersComplete: number
    kOnBody: number
    kOnMessageComplete: number
    kLenientNone: number
  }
}

const { HTTPParser } = createRequire(import.meta.url)('_http_common') as HttpCommon

export interface ResponseHead {
  statusCode: number
  statusMessage: string
  /** name, value, name, value… as they arrived. */
  rawHeaders: string[]
  /** The answer keeps the connection open for another request (by its version and Connection header). */
  keepAlive: boolean
}

export interface ResponseEvents {
  /** Return true when this answer has no body whatever its headers say (an answer to HEAD, a 1xx). */
  head(head: ResponseHead): boolean
  body(chunk: Buffer): void
  /** One whole answer has been read. */
  complete(): void
}

/** Node's default for a response head, as its http client uses. */
const MAX_HEADER_BYTES = 16 * 1024

/**
 * The body length of an answer that llhttp would read by its Content-Length,
 * or undefined when it reads it some other way (chunked, to the end of the
 * connection, none at all). llhttp has already refused a malformed or
 * repeated Content-Length, and one next to Transfer-Encoding, before the head
 * is complete.
 */
function lengthDelimitedBody(statusCode: number, rawHeaders: string[]): number | undefined {
  if (statusCode < 200 || statusCode === 204 || statusCode === 304) return undefined
  let length: number | undefined
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (length !== undefined) return undefined
      const value = rawHeaders[i + 1]!
      if (!/^[0-9]{1,15}$/.test(value)) return undefined
      length = Number(value)
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return undefined
  }
  return length
}

/** Bodies this long or longer are counted rather than copied (see createResponseParser). */
const COUNTED_BODY_MIN = 16 * 1024

/** llhttp's contract for on_headers_complete: 1 skips the body, 2 also stops execute() right after the head. */
const SKIP_BODY = 1
const STOP_AFTER_HEAD = 2

/**
 * A parser for the answers on one connection, in order. `events` may be
 * swapped between answers (each request brings its own). `execute` and
 * `finish` return a parse error instead of throwing: the bytes came from a
 * device, which is untrusted.
 *
 * A large body with a Content-Length is not read through llhttp: its body
 * callback copies every chunk into a new Buffer, which for a large download
 * doubled the memory the gateway allocated per byte and so the garbage
 * collector's work. Once llhttp has read and checked the head, the body's
 * bytes are counted here and handed on as views of the chunks they arrived
 * in. A small body still goes through llhttp: restarting it after each such
 * answer costs more than the copy.
 */
export function createResponseParser(options: { countBodiesFrom?: number } = {}) {
  const countBodiesFrom = options.countBodiesFrom ?? COUNTED_BODY_MIN
  const parser = new HTTPParser()
  const start = () => parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone)
  start()
  let events: ResponseEvents | undefined
  /** An answer arrived that no request asked for: the connection's answers no longer line up with its requests. */
  let stray = false
  // A head too long for one callback arrives in parts through kOnHeaders first.
  let pending: string[] = []
  /** Bytes of a Content-Length body still to come, counted here rather than by llhttp. */
  let bodyLeft = 0
  /** llhttp reports the message complete as it stops after the head: that report is not the answer's end. */
  let stoppedAfterHead = false

  parser[HTTPParser.kOnHeaders] = (headers: string[]) => {
    pending.push(...headers)
  }
  parser[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    _method: unknown,
    _url: unknown,
    statusCode: number,
    statusMessage: string | undefined,
    _upgrade: boolean,
    keepAlive: boolean,
  ): number => {
    const rawHeaders = headers ?? pending
    pending = []
    if (!events) {
      stray = true
      return SKIP_BODY
    }
    if (events.head({ statusCode, statusMessage: statusMessage ?? '', rawHeaders, keepAlive })) return SKIP_BODY
    const length = lengthDelimitedBody(statusCode, rawHeaders)
    if (!length || length < countBodiesFrom) return 0
    bodyLeft = length
    stoppedAfterHead = true
    return STOP_AFTER_HEAD
  }
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    if (events) events.body(chunk)
    else stray = true
  }
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (stoppedAfterHead) stoppedAfterHead = false
    else events?.complete()
  }

  /** Hands on up to the rest of the body from `data` at `offset`; returns where the body ended in `data`. */
  const countBody = (data: Buffer, offset: number): number => {
    const take = Math.min(bodyLeft, data.length - offset)
    bodyLeft -= take
    const piece = offset === 0 && take === data.length ? data : data.subarray(offset, offset + take)
    if (events) events.body(piece)
    else stray = true
    if (bodyLeft === 0) {
      // llhttp stopped after the head: it reads the next answer from a fresh start.
      start()
      events?.complete()
    }
    return offset + take
  }

  return {
    /** True once bytes arrived while nobody listened (after an answer, in the same chunk): never reuse the connection. */
    get stray() {
      return stray
    },
    listen(next: ResponseEvents | undefined) {
      events = next
    },
    execute(data: Buffer): Error | undefined {
      let offset = 0
      while (offset < data.length) {
        if (bodyLeft > 0) {
          offset = countBody(data, offset)
          continue
        }
        const result = parser.execute(offset === 0 ? data : data.subarray(offset))
        if (result instanceof Error) return result
        // Not stopped after a head: llhttp read all of it.
        if (bodyLeft === 0) return undefined
        offset += result
      }
      return undefined
    },
    /** The connection ended: an answer delimited by the end of the connection is complete now. */
    finish(): Error | undefined {
      if (bodyLeft > 0) return new Error(`the connection ended ${bodyLeft} bytes before the end of the answer's Content-Length`)
      return parser.finish() ?? undefined
    },
    close() {
      events = undefined
      parser.close()
    },
  }
}

export type ResponseParser = ReturnType<typeof createResponseParser>
