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
 * A parser for the answers on one connection, in order. `events` may be
 * swapped between answers (each request brings its own). `execute` and
 * `finish` return a parse error instead of throwing: the bytes came from a
 * device, which is untrusted.
 */
export function createResponseParser() {
  const parser = new HTTPParser()
  parser.initialize(HTTPParser.RESPONSE, {}, MAX_HEADER_BYTES, HTTPParser.kLenientNone)
  let events: ResponseEvents | undefined
  /** An answer arrived that no request asked for: the connection's answers no longer line up with its requests. */
  let stray = false
  // A head too long for one callback arrives in parts through kOnHeaders first.
  let pending: string[] = []

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
    if (!events) stray = true
    const noBody = events?.head({ statusCode, statusMessage: statusMessage ?? '', rawHeaders, keepAlive }) ?? true
    // 1: skip the body (llhttp's contract for HEAD answers and 1xx).
    return noBody ? 1 : 0
  }
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
    if (events) events.body(chunk)
    else stray = true
  }
  parser[HTTPParser.kOnMessageComplete] = () => events?.complete()

  return {
    /** True once bytes arrived while nobody listened (after an answer, in the same chunk): never reuse the connection. */
    get stray() {
      return stray
    },
    listen(next: ResponseEvents | undefined) {
      events = next
    },
    execute(data: Buffer): Error | undefined {
      const result = parser.execute(data)
      return result instanceof Error ? result : undefined
    },
    /** The connection ended: an answer delimited by the end of the connection is complete now. */
    finish(): Error | undefined {
      return parser.finish() ?? undefined
    },
    close() {
      events = undefined
      parser.close()
    },
  }
}

export type ResponseParser = ReturnType<typeof createResponseParser>
