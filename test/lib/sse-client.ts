import http from 'node:http'

export interface SseEvent {
  id?: string
  event: string
  data: string
}

export interface SseConnection {
  status: number
  contentType: string
  events: SseEvent[]
  /** Comment lines (`: keep-alive`) seen so far. */
  comments: string[]
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  close(): void
}

/** A raw Server-Sent Events reader on 127.0.0.1: collects events and comments as they come. */
export function openSse(port: number, path: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const events: SseEvent[] = []
      const comments: string[] = []
      let buffer = ''
      let onEnd!: () => void
      const ended = new Promise<void>((r) => (onEnd = r))
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        let cut: number
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          const event: SseEvent = { event: 'message', data: '' }
          let isEvent = false
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim())
            else if (line.startsWith('id: ')) event.id = line.slice(4)
            else if (line.startsWith('event: ')) ((event.event = line.slice(7)), (isEvent = true))
            else if (line.startsWith('data: ')) ((event.data += line.slice(6)), (isEvent = true))
          }
          if (isEvent) events.push(event)
        }
      })
      res.on('end', onEnd)
      res.on('close', onEnd)
      resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), events, comments, ended, close: () => req.destroy() })
    })
    req.on('error', reject)
  })
}
