/**
 * Reads OpenSSH certificates (PROTOCOL.certkeys) as a client offers them in
 * publickey authentication. ssh2 1.17 knows no certificates and sshpk is not
 * installed, so this is the one small reader of the wire format; it only
 * reads length-prefixed fields and bounds every read, and whatever does not
 * parse is simply "not a certificate we accept". Signatures are verified with
 * node:crypto (see verifySshSignature).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import ssh2 from 'ssh2'

export interface OpenSshCertificate {
  /** e.g. `ssh-ed25519-cert-v01@openssh.com`. */
  certType: string
  /** The certified key as an OpenSSH public-key blob (`string type, …`). */
  publicKeyBlob: Buffer
  publicKeyType: string
  serial: bigint
  /** 1 = user, 2 = host. */
  kind: number
  keyId: string
  principals: string[]
  validAfter: bigint
  validBefore: bigint
  criticalOptions: string[]
  extensions: string[]
  /** The CA's public-key blob. */
  signatureKey: Buffer
  signature: Buffer
  /** The bytes the CA signed: everything before the signature field. */
  signed: Buffer
}

class Reader {
  #pos = 0
  constructor(readonly buf: Buffer) {}
  get pos() {
    return this.#pos
  }
  get done() {
    return this.#pos === this.buf.length
  }
  #need(n: number) {
    if (n < 0 || this.#pos + n > this.buf.length) throw new Error('truncated')
  }
  u32(): number {
    this.#need(4)
    const v = this.buf.readUInt32BE(this.#pos)
    this.#pos += 4
    return v
  }
  u64(): bigint {
    this.#need(8)
    const v = this.buf.readBigUInt64BE(this.#pos)
    this.#pos += 8
    return v
  }
  bytes(): Buffer {
    const n = this.u32()
    this.#need(n)
    const v = this.buf.subarray(this.#pos, this.#pos + n)
    this.#pos += n
    return v
  }
  text(): string {
    return this.bytes().toString('utf8')
  }
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(body.length)
  return Buffer.concat([len, body])
}

function names(packed: Buffer, withValues: boolean): string[] {
  const r = new Reader(packed)
  const out: string[] = []
  while (!r.done) {
    out.push(r.text())
    if (withValues) r.bytes()
  }
  return out
}

/** Key fields after the nonce, per certificate type, and how they rebuild the plain key's blob. */
const keyLayouts: Record<string, { plain: string; fields: number }> = {
  'ssh-ed25519-cert-v01@openssh.com': { plain: 'ssh-ed25519', fields: 1 },
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': { plain: 'ecdsa-sha2-nistp256', fields: 2 },
  'ecdsa-sha2-nistp384-cert-v01@openssh.com': { plain: 'ecdsa-sha2-nistp384', fields: 2 },
  'ecdsa-sha2-nistp521-cert-v01@openssh.com': { plain: 'ecdsa-sha2-nistp521', fields: 2 },
  // RSA fields are e then n, already in the plain key's order.
  'ssh-rsa-cert-v01@openssh.com': { plain: 'ssh-rsa', fields: 2 },
}

/** True when a publickey algorithm name is an OpenSSH certificate type. */
export function isCertificateAlgorithm(algo: string): boolean {
  return algo.endsWith('-cert-v01@openssh.com')
}

/** Parses a certificate blob; throws on anything malformed or of an unknown type. */
export function parseCertificate(blob: Buffer): OpenSshCertificate {
  const r = new Reader(blob)
  const certType = r.text()
  const layout = keyLayouts[certType]
  if (!layout) throw new Error(`unsupported certificate type ${certType.slice(0, 64)}`)
  r.bytes() // nonce
  const fields: Buffer[] = []
  for (let i = 0; i < layout.fields; i++) fields.push(r.bytes())
  const publicKeyBlob = Buffer.concat([sshString(layout.plain), ...fields.map(sshString)])
  const serial = r.u64()
  const kind = r.u32()
  const keyId = r.text()
  const principals = names(r.bytes(), false)
  const validAfter = r.u64()
  const validBefore = r.u64()
  const criticalOptions = names(r.bytes(), true)
  const extensions = names(r.bytes(), true)
  r.bytes() // reserved
  const signatureKey = r.bytes()
  const signedEnd = r.pos
  const signature = r.bytes()
  if (!r.done) throw new Error('trailing bytes after the certificate')
  return {
    certType,
    publicKeyBlob,
    publicKeyType: layout.plain,
    serial,
    kind,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    signatureKey,
    signature,
    signed: blob.subarray(0, signedEnd),
  }
}

/** A node KeyObject for an OpenSSH public-key blob (through ssh2's parser, its public API). */
export function keyObjectFromBlob(blob: Buffer): KeyObject {
  const type = new Reader(blob).text()
  const parsed = ssh2.utils.parseKey(`${type} ${blob.toString('base64')}`)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error) throw new Error('unparseable public key')
  return createPublicKey(key.getPublicPEM())
}

/** ECDSA's SSH signature is `mpint r, mpint s`; node wants them as fixed-width r||s (IEEE P1363). */
function ecdsaToP1363(sig: Buffer, size: number): Buffer {
  const r = new Reader(sig)
  const fix = (v: Buffer) => {
    const trimmed = v.subarray(Math.max(0, v.length - size))
    return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed])
  }
  return Buffer.concat([fix(r.bytes()), fix(r.bytes())])
}

const ecdsaSizes: Record<string, { hash: string; size: number }> = {
  'ecdsa-sha2-nistp256': { hash: 'sha256', size: 32 },
  'ecdsa-sha2-nistp384': { hash: 'sha384', size: 48 },
  'ecdsa-sha2-nistp521': { hash: 'sha512', size: 66 },
}

/**
 * Verifies an SSH-encoded signature (`string algo, string sig`) over `data`
 * with the key in `keyBlob`. SHA-1 RSA (`ssh-rsa`) signatures are refused,
 * as OpenSSH has refused them by default since 8.8.
 */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, encodedSignature: Buffer): boolean {
  try {
    const keyType = new Reader(keyBlob).text()
    const r = new Reader(encodedSignature)
    const algo = r.text()
    const raw = r.bytes()
    const key = keyObjectFromBlob(keyBlob)
    if (keyType === 'ssh-ed25519' && algo === 'ssh-ed25519') return verify(null, data, key, raw)
    if (keyType === 'ssh-rsa' && (algo === 'rsa-sha2-256' || algo === 'rsa-sha2-512')) return verify(algo === 'rsa-sha2-256' ? 'sha256' : 'sha512', data, key, raw)
    const ec = ecdsaSizes[keyType]
    if (ec && algo === keyType) return verify(ec.hash, data, { key, dsaEncoding: 'ieee-p1363' }, ecdsaToP1363(raw, ec.size))
    return false
  } catch {
    return false
  }
}
