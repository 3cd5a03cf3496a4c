import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { fromDataUrl } from '../../ignition/data-url.js'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import type { ProvisioningInput } from '../../ignition/provisioning-input.js'
import { newKeyPair } from './keys.js'

const run = promisify(execFile)

/** A complete, realistic renderer input with real ed25519 public keys. */
export function sampleInput(overrides: Partial<ProvisioningInput> = {}): ProvisioningInput {
  return {
    gateway: {
      url: 'https://gw.example.com',
      sshHost: 'gw.example.com',
      sshPort: 2222,
      hostKey: newKeyPair('gateway').publicKey,
      terminalPublicKey: newKeyPair('terminal').publicKey,
    },
    token: 'etr_' + 'A1b2C3d4'.repeat(5),
    agentExecutable: { url: 'https://gw.example.com/api/provision/agent/linux-x64', sha512: 'ab'.repeat(64) },
    hostname: 'pump-7',
    ...overrides,
  }
}

export interface WrittenFile {
  mode: number
  overwrite: boolean
  /** Decoded contents of a data URL. */
  text?: string
  /** A remote source and the hash Ignition checks it against. */
  source?: string
  hash?: string
}

/** The config's files by path, data URLs decoded, as Ignition would see them. */
export function filesOf(config: IgnitionConfig): Map<string, WrittenFile> {
  const files = new Map<string, WrittenFile>()
  for (const f of config.storage.files) {
    const { source } = f.contents
    const entry: WrittenFile = { mode: f.mode, overwrite: f.overwrite }
    if (source.startsWith('data:')) entry.text = fromDataUrl(source).toString('utf8')
    else Object.assign(entry, { source, hash: f.contents.verification?.hash })
    files.set(f.path, entry)
  }
  return files
}

const privateMarkers = ['PRIVATE KEY', 'BEGIN OPENSSH', 'PuTTY-User-Key-File']

/** Every place in the config, data URLs decoded, that looks like private key material. */
export function privateKeyMarkers(config: unknown): string[] {
  const texts = [JSON.stringify(config)]
  const visit = (v: unknown) => {
    if (typeof v === 'string' && v.startsWith('data:')) texts.push(fromDataUrl(v).toString('utf8'))
    else if (v && typeof v === 'object') Object.values(v).forEach(visit)
  }
  visit(config)
  return texts.flatMap((text) => privateMarkers.filter((m) => text.includes(m)))
}

/** Runs Debian's `ignition-validate` on the config; its report, empty when it has nothing to say. */
export async function ignitionValidate(config: unknown): Promise<{ ok: boolean; report: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-ign-'))
  try {
    const file = path.join(dir, 'device.ign')
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config))
    try {
      const { stdout, stderr } = await run('ignition-validate', [file])
      return { ok: true, report: (stdout + stderr).trim() }
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string }
      return { ok: false, report: ((e.stdout ?? '') + (e.stderr ?? '') || e.message).trim() }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
