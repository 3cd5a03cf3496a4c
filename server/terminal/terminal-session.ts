import ssh2, { type ClientChannel } from 'ssh2'
import type { WebSocket, RawData } from 'ws'
import type { DeviceChannels } from '../cluster/device-channels.js'
import { deviceIdPattern } from '../devices/device-store.js'

export interface TerminalOptions {
  user: string
  privateKey: string
  /** Open a shell in this container instead of on the host. Already validated. */
  container?: string
  /** The device's id, which its agent's container label holds. */
  deviceId?: string
  cols: number
  rows: number
  idleSeconds: number
  pingSeconds: number
  /** Aborting ends the terminal; the abort reason is sent as the exit message's reason. */
  signal?: AbortSignal
}

/**
 * The device-side command for a shell in a container named by its compose
 * service (`web`): compose names the container `et-…-web-1`, so the running
 * container carrying the agent's label and that service label is looked up
 * on the device; a name that is no service of the agent's is taken as a
 * container name. The label holds the device id (`owner`), or `true` from
 * earlier agents: another agent sharing the dockerd has a `web` of its own.
 * `name` is validated by the bridge (letters, digits, `_.-`) and `owner`
 * here, so neither needs quoting. bash first, where the image has it.
 */
export function containerShellCommand(name: string, owner?: string): string {
  const running = (label: string) => `docker ps -q --filter label=${label} --filter label=com.docker.compose.service=${name} --filter status=running | head -n 1`
  const find =
    owner && deviceIdPattern.test(owner)
      ? `c=$(${running(`io.edgetainer.managed=${owner}`)}); [ -n "$c" ] || c=$(${running('io.edgetainer.managed=true')})`
      : `c=$(${running('io.edgetainer.managed')})`
  return `${find}; exec docker exec -it "\${c:-${name}}" sh -c 'command -v bash >/dev/null && exec bash || exec sh'`
}

export interface TerminalEnd {
  code: number
  reason: string
}

/**
 * One browser terminal: an SSH client session to the device's sshd, carried
 * inside the device's tunnel, bridged to a WebSocket. Binary frames carry
 * terminal bytes both ways; text frames carry JSON control messages.
 */
export function runTerminal(ws: WebSocket, device: DeviceChannels, options: TerminalOptions): Promise<TerminalEnd> {
  return new Promise((resolve) => {
    const client = new ssh2.Client()
    let stream: ClientChannel | undefined
    let ended = false
    let idleTimer: NodeJS.Timeout | undefined
    let alive = true
    // Keystrokes and resizes that arrive before the shell is open are kept, not dropped.
    const pendingInput: Buffer[] = []
    let pendingSize: { cols: number; rows: number } | undefined

    const finish = (end: TerminalEnd) => {
      if (ended) return
      ended = true
      clearTimeout(idleTimer)
      clearInterval(pinger)
      options.signal?.removeEventListener('abort', onAbort)
      if (ws.readyState === ws.OPEN) {
        ws.send(JSON.stringify({ type: 'exit', code: end.code, reason: end.reason }))
        ws.close(1000, end.reason.slice(0, 120))
      }
      client.end()
      resolve(end)
    }

    const touch = () => {
      // Output can trail the shell's exit; re-arming then would leave a 30-minute timer behind a closed terminal.
      if (ended) return
      clearTimeout(idleTimer)
      idleTimer = setTimeout(() => finish({ code: 0, reason: `closed after ${Math.round(options.idleSeconds / 60)} minutes without activity` }), options.idleSeconds * 1000)
    }

    // Pings keep proxies from dropping an idle terminal and reveal a browser that vanished.
    const pinger = setInterval(() => {
      if (!alive) return finish({ code: 0, reason: 'browser stopped answering' })
      alive = false
      ws.ping()
    }, options.pingSeconds * 1000)
    ws.on('pong', () => (alive = true))
    const onAbort = () => finish({ code: 1, reason: String(options.signal?.reason ?? 'closed by the gateway') })
    if (options.signal?.aborted) queueMicrotask(onAbort)
    else options.signal?.addEventListener('abort', onAbort, { once: true })
    ws.on('close', () => finish({ code: 0, reason: 'browser closed the terminal' }))
    ws.on('error', () => finish({ code: 0, reason: 'browser connection failed' }))

    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        touch()
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)
        if (stream) stream.write(bytes)
        else if (pendingInput.length < 1024) pendingInput.push(bytes)
        return
      }
      let message: { type?: string; cols?: unknown; rows?: unknown }
      try {
        message = JSON.parse(String(data))
      } catch {
        return
      }
      if (message.type === 'resize' && Number.isInteger(message.cols) && Number.isInteger(message.rows)) {
        const cols = Math.min(Math.max(message.cols as number, 2), 1000)
        const rows = Math.min(Math.max(message.rows as number, 2), 1000)
        if (stream) stream.setWindow(rows, cols, 0, 0)
        else pendingSize = { cols, rows }
      }
    })

    client.on('ready', () => {
      const pty = { term: 'xterm-256color', cols: pendingSize?.cols ?? options.cols, rows: pendingSize?.rows ?? options.rows }
      pendingSize = undefined
      const open = (err: Error | undefined, channel: ClientChannel) => {
        if (err) return finish({ code: 1, reason: `could not open a shell: ${err.message}` })
        stream = channel
        touch()
        if (pendingSize) channel.setWindow(pendingSize.rows, pendingSize.cols, 0, 0)
        for (const bytes of pendingInput.splice(0)) channel.write(bytes)
        channel.on('data', (chunk: Buffer) => {
          touch()
          if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true })
        })
        channel.stderr.on('data', (chunk: Buffer) => ws.readyState === ws.OPEN && ws.send(chunk, { binary: true }))
        channel.on('exit', (code: number | null, signal?: string) => {
          finish({ code: code ?? 1, reason: signal ? `shell ended by signal ${signal}` : 'shell exited' })
        })
        channel.on('close', () => finish({ code: 0, reason: 'shell closed' }))
      }
      if (options.container) client.exec(containerShellCommand(options.container, options.deviceId), { pty }, open)
      else client.shell(pty, open)
    })
    client.on('error', (err) => finish({ code: 1, reason: `SSH to the device failed: ${err.message}` }))
    client.on('close', () => finish({ code: 0, reason: device.closed ? 'the device disconnected' : 'connection to the device closed' }))

    device.openSshChannel().then(
      (channel) =>
        client.connect({
          sock: channel,
          username: options.user,
          privateKey: options.privateKey,
          // The channel runs inside the device's key-authenticated tunnel; that is what identifies the device.
          hostVerifier: () => true,
          readyTimeout: 20_000,
          keepaliveInterval: 0,
        }),
      (err: Error) => finish({ code: 1, reason: err.message }),
    )
  })
}
