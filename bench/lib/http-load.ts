import net from 'node:net'
import { percentile } from './stats.js'
import type { LoadResult } from './wrk.js'

/**
 * A small keep-alive HTTP/1.1 load generator, used when `wrk` is missing:
 * `connections` sockets each send one GET at a time for `seconds`, and every
 * response's latency is recorded. Responses must carry Content-Length.
 */
export async function runNodeLoad(options: { port: number; host: string; path: string; connections: number; seconds: number }): Promise<LoadResult> {
  const request = Buffer.from(`GET ${options.path} HTTP/1.1\r\nHost: ${options.host}\r\nConnection: keep-alive\r\n\r\n`)
  const latencies: number[] = []
  let errors = 0
  let non2xx = 0
  const deadline = Date.now() + options.seconds * 1000

  function worker(): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect(options.port, '127.0.0.1')
      socket.setNoDelay(true)
      let buffer = Buffer.alloc(0)
      let sentAt = 0n
      const send = () => {
        if (Date.now() >= deadline) {
          socket.end()
          return resolve()
        }
        sentAt = process.hrtime.bigint()
        socket.write(request)
      }
      socket.on('connect', send)
      socket.on('data', (chunk) => {
        buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk
        for (;;) {
          const headEnd = buffer.indexOf('\r\n\r\n')
          if (headEnd < 0) return
          const head = buffer.subarray(0, headEnd).toString('latin1')
          const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
          if (buffer.length < headEnd + 4 + length) return
          if (!/^HTTP\/1\.1 2/.test(head)) non2xx++
          buffer = buffer.subarray(headEnd + 4 + length)
          latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6)
          send()
        }
      })
      socket.on('error', () => {
        errors++
        resolve()
      })
      socket.on('close', () => resolve())
    })
  }

  const started = Date.now()
  await Promise.all(Array.from({ length: options.connections }, worker))
  const elapsed = (Date.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    tool: 'node',
    requests: latencies.length,
    rps: latencies.length / elapsed,
    p50Ms: percentile(latencies, 50),
    p90Ms: percentile(latencies, 90),
    p99Ms: percentile(latencies, 99),
    errors,
    non2xx,
  }
}
