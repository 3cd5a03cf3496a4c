import { spawn } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  /** Requests that reached git http-backend (passed the token check). */
  served(): number
}

/**
 * Smart HTTP as a git host serves it: Debian's `git http-backend` run as a
 * CGI per request behind a tiny Node server on 127.0.0.1, which first checks
 * `Authorization: Basic <any user>:<token>` (what GitHub, GitLab and Gitea
 * accept for tokens). Serves every bare repository under `root`.
 */
export async function startGitHttpServer(t: Teardown, options: { root: string; token: string }): Promise<GitHttpServer> {
  let served = 0
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization ?? ''
    const password = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':') : ''
    if (password !== options.token) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('token required\n')
      req.resume()
      return
    }
    served++
    const url = new URL(req.url ?? '/', 'http://x')
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: options.root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        REQUEST_METHOD: req.method,
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: 'token',
        REMOTE_ADDR: '127.0.0.1',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    })
    req.pipe(cgi.stdin)
    let head = Buffer.alloc(0)
    let headDone = false
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headDone) return void res.write(chunk)
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      headDone = true
      let status = 200
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const [name, ...rest] = line.split(':')
        const value = rest.join(':').trim()
        if (name!.toLowerCase() === 'status') status = Number(value.split(' ')[0])
        else res.setHeader(name!, value)
      }
      res.writeHead(status)
      res.write(head.subarray(end + 4))
    })
    cgi.on('close', () => res.end())
    cgi.on('error', () => res.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served }
}
