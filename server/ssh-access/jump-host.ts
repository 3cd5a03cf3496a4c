import type { Kysely } from 'kysely'
import type { AcceptConnection, RejectConnection, ServerChannel, Session, TcpipRequestInfo } from 'ssh2'
import type { AuditLog } from '../audit/audit-log.js'
import type { LiveAccess } from '../auth/live-access.js'
import { roleAllows } from '../auth/roles.js'
import type { Database } from '../db/schema.js'
import { deviceIdPattern } from '../devices/device-store.js'
import type { Logger } from '../logger.js'
import type { TunnelRegistry } from '../tunnel/tunnel-registry.js'
import type { LocateDevice } from '../cluster/device-channels.js'
import type { Duplex } from 'node:stream'
import { splice } from '../../shared/channel-socket.js'
import type { JumpUser } from './jump-authenticator.js'

/** The only port a jump may reach: the device's own sshd, through the forward its agent holds. */
export const JUMP_PORT = 22
/** ssh_config's `Host *.edgetainer` names arrive with this suffix (docs/admin-access.md). */
const HOST_SUFFIX = '.edgetainer'
const REFUSAL = 'this is a jump host: use ssh -J <login>@<gateway> core@<device_id> (docs/admin-access.md)\r\n'

/**
 * What a person may do once authenticated on the gateway's SSH port: open
 * `direct-tcpip` to `<device_id>:22`, carried to the device's sshd through its
 * tunnel. No shell, exec or subsystem on the gateway itself. Each channel
 * re-reads the account (a disabled or demoted user opens nothing more) and
 * writes an audit row, opened or refused.
 */
export function createJumpHost(deps: {
  db: Kysely<Database>
  registry: TunnelRegistry
  /** Cluster forwarding: a device another gateway node holds is reached through it. */
  locate?: LocateDevice
  auditLog: AuditLog
  logger: Logger
  maxChannels: number
  /** Ends a person's jump connection when their account is disabled, demoted or deleted, as for terminals. */
  liveAccess?: LiveAccess
}) {
  const { db, registry, auditLog } = deps

  function audit(user: JumpUser, ip: string, device: { id: string | null; device_id: string }, port: number, outcome: string) {
    auditLog
      .record({
        actorUserId: user.id,
        actor: user.username,
        action: outcome === 'opened' ? 'ssh.jump' : 'ssh.jump.refused',
        targetType: 'device',
        targetId: device.id,
        ip,
        details: {
          device_id: device.device_id,
          port,
          via: user.via,
          fingerprint: user.fingerprint,
          ...(user.certificate ? { certificate_serial: user.certificate.serial } : {}),
          ...(outcome === 'opened' ? {} : { reason: outcome }),
        },
      })
      .catch((err: unknown) => deps.logger.error({ err }, 'could not audit an ssh jump'))
  }

  async function findDevice(host: string): Promise<{ id: string; device_id: string } | undefined> {
    const name = host.toLowerCase()
    const candidates = [name, ...(name.endsWith(HOST_SUFFIX) ? [name.slice(0, -HOST_SUFFIX.length)] : [])].filter((n) => deviceIdPattern.test(n))
    for (const deviceId of candidates) {
      const row = await db.selectFrom('devices').select(['id', 'device_id']).where('device_id', '=', deviceId).executeTakeFirst()
      if (row) return row
    }
    return undefined
  }

  async function stillAllowed(user: JumpUser): Promise<boolean> {
    const row = await db.selectFrom('users').select(['role', 'disabled']).where('id', '=', user.id).executeTakeFirst()
    return Boolean(row && !row.disabled && roleAllows(row.role, 'operator'))
  }

  /** Handlers for one authenticated person's connection; `end` cuts it (access revoked). */
  function attach(user: JumpUser, ip: string, end: () => void) {
    const log = deps.logger.child({ remote: ip, user: user.username, via: user.via })
    let open = 0
    log.info('jump host login')
    const untrack = deps.liveAccess?.track({
      user: { id: user.id, username: user.username, role: user.role, credentialId: user.fingerprint, via: 'ssh' },
      requiredRole: 'operator',
      async reverify() {
        const row = await db.selectFrom('users').select(['id', 'username', 'role', 'disabled']).where('id', '=', user.id).executeTakeFirst()
        return row && !row.disabled ? { id: row.id, username: row.username, role: row.role, credentialId: user.fingerprint, via: 'ssh' } : undefined
      },
      close(reason) {
        log.info({ reason }, 'jump connection closed')
        end()
      },
    })

    async function openJump(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo) {
      const host = String(info.destIP).slice(0, 255)
      const port = info.destPort
      const device = await findDevice(host)
      const target = device ?? { id: null, device_id: host.slice(0, 80) }
      const refuse = (why: string) => {
        log.warn({ target: JSON.stringify(host.slice(0, 80)), port, why }, 'jump refused')
        audit(user, ip, target, port, why)
        reject()
      }
      if (!(await stillAllowed(user))) return refuse('account disabled or no longer an operator')
      if (!device) return refuse('no such device')
      if (port !== JUMP_PORT) return refuse(`only port ${JUMP_PORT} (the device's sshd) is reachable`)
      if (user.certificate && user.certificate.deviceId !== device.device_id) return refuse(`certificate is for ${user.certificate.deviceId}`)
      if (open >= deps.maxChannels) return refuse('too many open channels')
      const session = registry.get(device.id) ?? (await deps.locate?.(device.id))
      if (!session || session.closed) return refuse('device offline')
      let upstream: Duplex
      try {
        upstream = await session.openSshChannel()
      } catch (err) {
        return refuse(`device sshd unreachable: ${(err as Error).message.slice(0, 120)}`)
      }
      let channel: ServerChannel
      try {
        channel = accept()
      } catch (err) {
        // The person's connection went away while the device's channel was opening: close that one too.
        upstream.destroy()
        throw err
      }
      open++
      channel.once('close', () => open--)
      splice(channel, upstream)
      audit(user, ip, device, port, 'opened')
      log.info({ device: device.device_id, port }, 'jump opened')
    }

    return {
      /** The connection closed on its own. */
      detach() {
        untrack?.()
      },
      tcpip(accept: AcceptConnection<ServerChannel>, reject: RejectConnection, info: TcpipRequestInfo) {
        openJump(accept, reject, info).catch((err: unknown) => {
          log.error({ err }, 'jump channel failed')
          try {
            reject()
          } catch {
            // the connection is already gone
          }
        })
      },
      /** A shell, command or subsystem asked of the gateway gets one line of explanation and exit status 1. */
      session(accept: AcceptConnection<Session>) {
        const session = accept()
        const explain = (acceptRun: () => ServerChannel) => {
          const stream = acceptRun()
          stream.stderr.write(REFUSAL)
          stream.exit(1)
          stream.end()
        }
        session.on('pty', (acceptPty) => acceptPty?.())
        session.on('shell', (acceptShell) => explain(acceptShell))
        session.on('exec', (acceptExec) => explain(acceptExec))
        session.on('subsystem', (acceptSub) => explain(acceptSub))
        for (const other of ['env', 'x11', 'auth-agent', 'signal', 'window-change'] as const) {
          session.on(other as 'env', (_accept, rejectOther) => rejectOther?.())
        }
      },
    }
  }

  return { attach }
}

export type JumpHost = ReturnType<typeof createJumpHost>
