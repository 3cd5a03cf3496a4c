import { timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../agent-logger.js'
import { asSocketLike } from '../../shared/channel-socket.js'
import { CONTROL_KEY_HEADER, CONTROL_PATHS, type CommandResult, type ControlContainerRequest, type ControlContainerResult } from '../../shared/agent-wire.js'
import { ContainerActionRefusal } from './container-actions.js'
import { isAllowed } from './allowlist.js'

/** How a host reboot is asked for; it runs only if the allow-list permits exactly this. */
export const REBOOT_COMMAND = ['systemctl', 'reboot']

const MAX_BODY = 64 * 1024

export interface ControlActions {
  runCommand(argv: string[], timeoutMs: number): Promise<CommandResult>
  restartStacks(): Promise<unknown>
  sync(): void
  container(request: ControlContainerRequest): Promise<ControlContainerResult>
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) return reject(new Refusal(413, 'BODY_TOO_LARGE', 'request body is too large'))
      chunks.push(c)
    })
    req.on('end', () => {
      try {
        const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown
        resolve(value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {})
      } catch {
        reject(new Refusal(400, 'INVALID_JSON', 'request body is not valid JSON'))
      }
    })
    req.on('error', reject)
  })
}

/**
 * The agent's control API: what the gateway sends through the control
 * forward. It never listens on a port; the tunnel feeds it channels. The
 * allow-list is enforced here, on the device, whatever the gateway asks.
 */
export function createControlServer(deps: { allowlist: string[][]; controlKey: () => string | undefined; actions: ControlActions; logger: Logger }) {
  const { logger } = deps

  function checkKey(req: http.IncomingMessage) {
    const expected = deps.controlKey()
    const given = req.headers[CONTROL_KEY_HEADER]
    if (!expected || typeof given !== 'string' || given.length !== expected.length || !timingSafeEqual(Buffer.from(given), Buffer.from(expected))) {
      throw new Refusal(401, 'CONTROL_KEY_INVALID', 'control requests come from the gateway only')
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    checkKey(req)
    if (req.method !== 'POST') throw new Refusal(405, 'METHOD_NOT_ALLOWED', 'use POST')
    const body = await readJson(req)
    switch (req.url) {
      case CONTROL_PATHS.command: {
        const argv = body.command
        if (!Array.isArray(argv) || !argv.length || !argv.every((a) => typeof a === 'string')) throw new Refusal(400, 'VALIDATION_FAILED', 'command: must be a non-empty argv array')
        const timeout = typeof body.timeout_seconds === 'number' && body.timeout_seconds > 0 ? Math.min(body.timeout_seconds, 600) : 30
        if (!isAllowed(deps.allowlist, argv as string[])) {
          logger.warn({ command: argv[0] }, 'command refused: not on the allow-list')
          throw new Refusal(403, 'COMMAND_NOT_ALLOWED', `${String(argv[0])}: not allowed by this device's command allow-list`)
        }
        logger.info({ command: argv[0], args: argv.length - 1 }, 'running a command for the gateway')
        return send(res, 200, await deps.actions.runCommand(argv as string[], timeout * 1000))
      }
      case CONTROL_PATHS.restart: {
        if (body.target === 'host') {
          if (!isAllowed(deps.allowlist, REBOOT_COMMAND)) throw new Refusal(403, 'COMMAND_NOT_ALLOWED', `rebooting needs "${REBOOT_COMMAND.join(' ')}" on the device's allow-list`)
          send(res, 202, { target: 'host', rebooting: true })
          logger.warn('rebooting the host as the gateway asked')
          return void deps.actions.runCommand(REBOOT_COMMAND, 60_000)
        }
        if (body.target !== undefined && body.target !== 'stacks') throw new Refusal(400, 'VALIDATION_FAILED', 'target: must be stacks or host')
        return send(res, 202, { target: 'stacks', stacks: await deps.actions.restartStacks() })
      }
      case CONTROL_PATHS.container:
        return send(res, 200, await deps.actions.container(body as unknown as ControlContainerRequest))
      case CONTROL_PATHS.sync:
        deps.actions.sync()
        return send(res, 200, { ok: true })
      default:
        throw new Refusal(404, 'NOT_FOUND', 'no such control path')
    }
  }

  function send(res: http.ServerResponse, status: number, value: unknown) {
    if (res.headersSent) return
    const body = JSON.stringify(value)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (err instanceof Refusal || err instanceof ContainerActionRefusal) return send(res, err.status, { error: err.message, code: err.code })
      logger.error({ err }, 'control request failed')
      send(res, 500, { error: 'internal error', code: 'INTERNAL' })
    })
  })

  return {
    /** Takes a forwarded channel from the gateway. */
    handle(channel: Duplex): void {
      channel.on('error', () => channel.destroy())
      server.emit('connection', asSocketLike(channel))
    },
    close(): void {
      server.closeAllConnections()
    },
  }
}

export type ControlServer = ReturnType<typeof createControlServer>
