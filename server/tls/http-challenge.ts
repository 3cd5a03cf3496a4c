import type { HostRoute } from '../http/front-door.js'

const PREFIX = '/.well-known/acme-challenge/'

/**
 * HTTP-01 responder: the CA fetches `http://<host>/.well-known/acme-challenge/<token>`
 * on port 80. Tokens live in memory only while their order is being validated.
 */
export function createHttpChallenges() {
  const tokens = new Map<string, string>()

  const route: HostRoute = {
    // Any host: the CA asks on the name being validated, which may not be routed anywhere yet.
    matches: (_host, req) => (req.url ?? '').startsWith(PREFIX),
    handleRequest(req, res) {
      const token = (req.url ?? '').slice(PREFIX.length).split(/[?#]/)[0]!
      const keyAuthorization = req.method === 'GET' || req.method === 'HEAD' ? tokens.get(token) : undefined
      res.setHeader('Cache-Control', 'no-store')
      if (keyAuthorization === undefined) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
        return
      }
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(keyAuthorization)
    },
  }

  return {
    route,
    set: (token: string, keyAuthorization: string) => void tokens.set(token, keyAuthorization),
    delete: (token: string) => void tokens.delete(token),
    get size() {
      return tokens.size
    },
  }
}

export type HttpChallenges = ReturnType<typeof createHttpChallenges>
