import { createPublicKey, verify, type KeyObject } from 'node:crypto'

/**
 * Signed agent releases, as the gateway publishes them and the agent checks
 * them. The signature covers the manifest's exact bytes (a JSON text carried
 * as a string), so neither side has to agree on a canonical encoding.
 */

export type AgentArch = 'x64' | 'arm64'
export const AGENT_ARCHES: readonly AgentArch[] = ['x64', 'arm64']

/** What a release is: the agent checks the executable it downloads against every field. */
export interface AgentManifest {
  version: string
  arch: AgentArch
  /** Of the executable, lowercase hex. */
  sha512: string
  size: number
  /** The oldest gateway this agent works with. */
  min_gateway_version: string
}

import type { SignedAgentManifest } from './agent-wire.js'
export type { SignedAgentManifest }

/** A release key line: `ed25519:` and the 32-byte public key in base64url (43 characters). */
export const RELEASE_KEY_PATTERN = /^ed25519:[A-Za-z0-9_-]{43}$/
const VERSION_PATTERN = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/

export class ManifestRefusedError extends Error {
  override name = 'ManifestRefusedError'
}

/** The public key of a release key line, or a ManifestRefusedError saying what is wrong with it. */
export function releasePublicKey(line: string): KeyObject {
  if (!RELEASE_KEY_PATTERN.test(line)) throw new ManifestRefusedError('the pinned release key is not an `ed25519:<base64url>` line')
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: line.slice('ed25519:'.length) }, format: 'jwk' })
}

/** The release key line of a public key. */
export function releaseKeyLine(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error('a release key must be ed25519')
  return `ed25519:${jwk.x}`
}

function isManifest(value: unknown): value is AgentManifest {
  const m = value as Record<string, unknown> | null
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof m.version === 'string' &&
    VERSION_PATTERN.test(m.version) &&
    (m.arch === 'x64' || m.arch === 'arm64') &&
    typeof m.sha512 === 'string' &&
    /^[0-9a-f]{128}$/.test(m.sha512) &&
    Number.isSafeInteger(m.size) &&
    (m.size as number) > 0 &&
    typeof m.min_gateway_version === 'string' &&
    VERSION_PATTERN.test(m.min_gateway_version)
  )
}

/**
 * The manifest, once its signature verifies against the pinned release key;
 * otherwise a ManifestRefusedError naming what failed (unsigned, wrong key,
 * not a manifest). Nothing of an unverified manifest is trusted.
 */
export function verifySignedManifest(signed: unknown, releaseKey: string | undefined): AgentManifest {
  if (!releaseKey) throw new ManifestRefusedError('no release key is pinned in agent.yaml (release_key), so no update can be verified')
  const key = releasePublicKey(releaseKey)
  const s = signed as Partial<SignedAgentManifest> | null
  if (typeof s !== 'object' || s === null || typeof s.manifest !== 'string' || s.manifest.length > 4096) {
    throw new ManifestRefusedError('the update carries no manifest')
  }
  if (typeof s.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(s.signature)) {
    throw new ManifestRefusedError('the manifest is unsigned (no ed25519 signature)')
  }
  if (!verify(null, Buffer.from(s.manifest, 'utf8'), key, Buffer.from(s.signature, 'base64'))) {
    throw new ManifestRefusedError('the manifest signature does not verify against the pinned release key')
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(s.manifest)
  } catch {
    throw new ManifestRefusedError('the signed manifest is not JSON')
  }
  if (!isManifest(parsed)) throw new ManifestRefusedError('the signed manifest lacks version, arch, sha512, size or min_gateway_version')
  return parsed
}

/** Orders MAJOR.MINOR.PATCH versions numerically; a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core = '', pre] = v.split(/-(.*)/s, 2)
    return { parts: core.split('.').map((n) => Number(n) || 0), pre }
  }
  const x = parse(a)
  const y = parse(b)
  for (let i = 0; i < 3; i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0)
    if (d !== 0) return Math.sign(d)
  }
  if (x.pre === y.pre) return 0
  if (x.pre === undefined) return 1
  if (y.pre === undefined) return -1
  return x.pre < y.pre ? -1 : 1
}
