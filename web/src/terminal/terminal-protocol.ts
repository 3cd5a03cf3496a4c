/**
 * The terminal wire protocol (DESIGN.md): terminal bytes travel in binary
 * frames both ways; text frames carry JSON control messages — resize from the
 * browser, exit from the gateway.
 */
export type ControlFromGateway = { type: 'exit'; code?: number | null; reason?: string }

/** `/api/devices/:id/terminal` on the page's own host; the session cookie authenticates it. */
export function terminalUrl(deviceId: string, container?: string, location: { protocol: string; host: string } = window.location): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const query = container ? `?container=${encodeURIComponent(container)}` : ''
  return `${scheme}//${location.host}/api/devices/${encodeURIComponent(deviceId)}/terminal${query}`
}

export interface TerminalConnectionHandlers {
  onOpen(): void
  onOutput(bytes: Uint8Array): void
  onExit(exit: ControlFromGateway): void
  /** The socket closed; `clean` when an exit message came first. */
  onClose(info: { code: number; reason: string; clean: boolean }): void
}

export interface TerminalConnection {
  sendInput(data: string): void
  resize(cols: number, rows: number): void
  close(): void
}

const encoder = new TextEncoder()

export function openTerminalConnection(url: string, handlers: TerminalConnectionHandlers): TerminalConnection {
  const socket = new WebSocket(url)
  socket.binaryType = 'arraybuffer'
  let exited = false
  let pendingSize: { cols: number; rows: number } | undefined

  function sendResize(cols: number, rows: number) {
    socket.send(JSON.stringify({ type: 'resize', cols, rows }))
  }

  socket.addEventListener('open', () => {
    // The PTY starts at the size the browser shows, not a default 80×24.
    if (pendingSize) sendResize(pendingSize.cols, pendingSize.rows)
    handlers.onOpen()
  })
  socket.addEventListener('message', (event: MessageEvent<ArrayBuffer | string>) => {
    if (typeof event.data !== 'string') return handlers.onOutput(new Uint8Array(event.data))
    let message: { type?: string }
    try {
      message = JSON.parse(event.data) as { type?: string }
    } catch {
      return
    }
    if (message.type === 'exit') {
      exited = true
      handlers.onExit(message as ControlFromGateway)
    }
  })
  socket.addEventListener('close', (event) => handlers.onClose({ code: event.code, reason: event.reason, clean: exited }))

  return {
    sendInput(data) {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data))
    },
    resize(cols, rows) {
      pendingSize = { cols, rows }
      if (socket.readyState === WebSocket.OPEN) sendResize(cols, rows)
    },
    close() {
      if (socket.readyState === WebSocket.CONNECTING || socket.readyState === WebSocket.OPEN) socket.close(1000, 'closed by the user')
    },
  }
}
