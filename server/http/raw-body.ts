import type { IncomingMessage } from 'node:http'

/**
 * Where the API's JSON parser leaves the bytes it parsed, for routes that
 * check a signature over the body (git webhooks sign the bytes, not the JSON).
 */
export const RAW_BODY = Symbol('raw body')
export type WithRawBody = IncomingMessage & { [RAW_BODY]?: Buffer }

export function keepRawBody(req: IncomingMessage, _res: unknown, buf: Buffer): void {
  ;(req as WithRawBody)[RAW_BODY] = buf
}
