import { readFileSync } from 'node:fs'
import os from 'node:os'
import type { Logger } from '../agent-logger.js'
import { createBackoff, sleep } from '../tunnel/backoff.js'
import type { IdentityStore, Registration } from './identity-store.js'

export class RegistrationRefusedError extends Error {
  override name = 'RegistrationRefusedError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

function osVersion(): string {
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]
    if (pretty) return pretty
  } catch {
    // Not Linux, or no os-release: the kernel is the next best answer.
  }
  return `${os.type()} ${os.release()}`
}

function hardwareInfo(): Record<string, unknown> {
  const cpus = os.cpus()
  return { arch: os.arch(), platform: os.platform(), kernel: os.release(), cpus: cpus.length, cpu_model: cpus[0]?.model ?? null, memory_bytes: os.totalmem() }
}

/**
 * Registers the device once: returns the stored registration if there is
 * one; otherwise calls the gateway with the token and the public key,
 * retrying transient failures with backoff. A refusal (bad, used or expired
 * token) is final: retrying cannot fix it.
 */
export async function ensureRegistered(deps: {
  identity: IdentityStore
  serverUrl: string | undefined
  token: string | undefined
  logger: Logger
  signal: AbortSignal
  backoff: { baseMs: number; capMs: number }
}): Promise<Registration | undefined> {
  const { identity, logger } = deps
  const stored = identity.registration()
  if (stored) return stored
  const keys = identity.keyPair()
  if (!deps.serverUrl || !deps.token) throw new RegistrationRefusedError(0, 'NOT_CONFIGURED', 'not registered yet, and server_url or token is missing from the agent config')
  const url = new URL('/api/provision/register', deps.serverUrl)
  const body = JSON.stringify({ token: deps.token, public_key: keys.publicKey, hardware_info: hardwareInfo(), os_version: osVersion(), hostname: os.hostname() })
  const backoff = createBackoff(deps.backoff)
  while (!deps.signal.aborted) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.any([deps.signal, AbortSignal.timeout(30_000)]) })
      const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>
      if (res.ok) {
        const registration = { ...(answer as unknown as Omit<Registration, 'server_url' | 'registered_at'>), server_url: deps.serverUrl, registered_at: new Date().toISOString(), public_key: keys.publicKey }
        identity.saveRegistration(registration)
        logger.info({ device_id: registration.device_id, fleet_id: registration.fleet_id }, 'registered with the gateway')
        return registration
      }
      if (res.status !== 429 && res.status < 500) throw new RegistrationRefusedError(res.status, String(answer.code ?? 'REFUSED'), String(answer.error ?? `registration refused (${res.status})`))
      logger.warn({ status: res.status }, 'registration not accepted yet; retrying')
    } catch (err) {
      if (err instanceof RegistrationRefusedError) throw err
      if (deps.signal.aborted) break
      logger.warn({ err: (err as Error).message }, 'registration failed; retrying')
    }
    await sleep(backoff.next(), deps.signal)
  }
  return undefined
}
