import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import ssh2 from 'ssh2'
import { loadOrCreateHostKey } from '../tunnel/host-key.js'
import { parseCertificate, verifySshSignature, type OpenSshCertificate } from './openssh-certificate.js'

/** The critical option every certificate carries: usable only from the device's loopback, i.e. through its tunnel. */
export const CERT_SOURCE_ADDRESS = '127.0.0.1,::1'
const KEY_ID_PREFIX = 'edgetainer'

export interface IssuedCertificate {
  /** One OpenSSH certificate line (`ssh-ed25519-cert-v01@openssh.com AAAA… comment`). */
  certificate: string
  valid_before: Date
  serial: string
  key_id: string
}

export interface CertificateRequest {
  /** Normalised public-key line (already validated). */
  publicKey: string
  user: { id: string; username: string }
  deviceId: string
  /** The device account the certificate logs in as (its only principal). */
  principal: string
  validSeconds: number
  /** Test hook: the signing clock. */
  now?: Date
}

/** What a certificate says about who may use it for what, once the gateway's CA signature is verified. */
export interface CertificateGrant {
  userId: string
  username: string
  deviceId: string
}

/** `YYYYMMDDHHMMSSZ`, the UTC form `ssh-keygen -V` reads. */
function keygenTime(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`
}

/**
 * The gateway's SSH user CA: an ed25519 key generated into the data dir on
 * first start and kept there 0600, next to the SSH host key (same reasoning:
 * the data dir is the gateway's identity; several gateway nodes share it or
 * their keys). Certificates are signed by Debian's `ssh-keygen -s` (sshpk is
 * not installed here; the reference implementation of the format is the one
 * every device's sshd also uses), with the key file given directly.
 */
export function createUserCa(deps: { dataDir: string }) {
  const pair = loadOrCreateHostKey(deps.dataDir, 'ssh_user_ca_ed25519_key')
  const keyFile = path.join(deps.dataDir, 'ssh_user_ca_ed25519_key')
  const parsed = ssh2.utils.parseKey(pair.publicKey)
  const caKey = Array.isArray(parsed) ? parsed[0] : parsed
  if (!caKey || caKey instanceof Error) throw new Error('the SSH user CA key cannot be parsed')
  const caBlob = caKey.getPublicSSH()

  async function sign(request: CertificateRequest): Promise<IssuedCertificate> {
    const now = request.now ?? new Date()
    // Five minutes back for clocks that run slow; the end is exact.
    const validAfter = new Date(now.getTime() - 5 * 60_000)
    const validBefore = new Date(now.getTime() + request.validSeconds * 1000)
    const serial = randomBytes(8).readBigUInt64BE() >> 1n
    const keyId = `${KEY_ID_PREFIX}:${request.user.id}:${request.deviceId}:${request.user.username}`
    const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-cert-'))
    try {
      const input = path.join(dir, 'key.pub')
      writeFileSync(input, `${request.publicKey} ${request.user.username}\n`, { mode: 0o600 })
      const args = ['-q', '-s', keyFile, '-I', keyId, '-n', request.principal, '-V', `${keygenTime(validAfter)}:${keygenTime(validBefore)}`, '-z', String(serial)]
      // Only what an interactive login and `-L`/`-R` need: no agent or X11 forwarding.
      args.push('-O', 'clear', '-O', 'permit-pty', '-O', 'permit-port-forwarding', '-O', `source-address=${CERT_SOURCE_ADDRESS}`, input)
      await execa('ssh-keygen', args, { stdin: 'ignore', timeout: 10_000 })
      const certificate = readFileSync(path.join(dir, 'key-cert.pub'), 'utf8').trim()
      return { certificate, valid_before: validBefore, serial: String(serial), key_id: keyId }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /**
   * The grant in a certificate blob, or a reason it is refused: not ours, not
   * a user certificate, outside its validity, or with options we did not set.
   */
  function check(blob: Buffer, now = new Date()): { grant: CertificateGrant; cert: OpenSshCertificate } | { refused: string } {
    let cert: OpenSshCertificate
    try {
      cert = parseCertificate(blob)
    } catch (err) {
      return { refused: `malformed certificate (${(err as Error).message})` }
    }
    if (!cert.signatureKey.equals(caBlob)) return { refused: 'certificate not signed by this gateway' }
    if (!verifySshSignature(cert.signatureKey, cert.signed, cert.signature)) return { refused: 'certificate signature does not verify' }
    if (cert.kind !== 1) return { refused: 'not a user certificate' }
    const seconds = BigInt(Math.floor(now.getTime() / 1000))
    if (seconds < cert.validAfter) return { refused: 'certificate not yet valid' }
    if (seconds >= cert.validBefore) return { refused: 'certificate expired' }
    if (cert.criticalOptions.some((o) => o !== 'source-address')) return { refused: 'certificate carries an unknown critical option' }
    const [prefix, userId, deviceId, ...rest] = cert.keyId.split(':')
    if (prefix !== KEY_ID_PREFIX || !userId || !deviceId || !rest.length) return { refused: 'certificate key id is not one of ours' }
    return { grant: { userId, deviceId, username: rest.join(':') }, cert }
  }

  return { publicKey: pair.publicKey, sign, check }
}

export type UserCa = ReturnType<typeof createUserCa>
