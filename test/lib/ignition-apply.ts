import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fromDataUrl } from '../../ignition/data-url.js'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'

export interface AppliedConfig {
  /** Unit names Ignition enabled, with the target that wants them. */
  enabled: { unit: string; wantedBy: string }[]
  /** Paths written, relative to the root, for the test's own checks. */
  written: string[]
}

/** Inside `root`, never outside it: a config path with `..` would be a bug worth failing on. */
function under(root: string, absolute: string): string {
  const full = path.resolve(root, `.${absolute}`)
  if (!full.startsWith(root + path.sep)) throw new Error(`config path escapes the root: ${absolute}`)
  return full
}

async function contentsOf(source: string, hash: string | undefined): Promise<Buffer> {
  if (source.startsWith('data:')) return fromDataUrl(source)
  if (!/^https?:\/\//.test(source)) throw new Error(`unsupported source scheme: ${source}`)
  const res = await fetch(source)
  if (!res.ok) throw new Error(`GET ${source}: ${res.status}`)
  const bytes = Buffer.from(await res.arrayBuffer())
  if (hash) {
    const [type, expected] = hash.split('-', 2)
    const actual = createHash(type!).update(bytes).digest('hex')
    if (actual !== expected) throw new Error(`${source}: ${type} ${actual} does not match the config's ${expected}`)
  }
  return bytes
}

/**
 * Plays Ignition's files, systemd and passwd stages against a directory
 * instead of a disk, doing only what the config says: every file from its
 * source (data URLs decoded, http(s) downloaded and checked against
 * verification.hash) with its mode, every unit written to
 * /etc/systemd/system and, when enabled, linked from the target its
 * [Install] section names, and each user's keys where Ignition puts them.
 */
export async function applyIgnition(config: IgnitionConfig, root: string): Promise<AppliedConfig> {
  if (config.ignition.version !== '3.3.0') throw new Error(`unexpected Ignition version ${config.ignition.version}`)
  const written: string[] = []
  for (const file of config.storage?.files ?? []) {
    const target = under(root, file.path)
    mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 })
    writeFileSync(target, await contentsOf(file.contents.source, file.contents.verification?.hash))
    chmodSync(target, file.mode ?? 0o644)
    written.push(file.path)
  }

  const enabled: AppliedConfig['enabled'] = []
  const unitDir = under(root, '/etc/systemd/system')
  for (const unit of config.systemd?.units ?? []) {
    mkdirSync(unitDir, { recursive: true })
    writeFileSync(path.join(unitDir, unit.name), unit.contents, { mode: 0o644 })
    written.push(`/etc/systemd/system/${unit.name}`)
    if (!unit.enabled) continue
    const install = /^\[Install\]$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(unit.contents)?.[1] ?? ''
    const targets = /^WantedBy=(.+)$/m.exec(install)?.[1]?.trim().split(/\s+/) ?? []
    if (!targets.length) throw new Error(`${unit.name} is enabled but has no [Install] WantedBy=`)
    for (const wantedBy of targets) {
      const wants = path.join(unitDir, `${wantedBy}.wants`)
      mkdirSync(wants, { recursive: true })
      symlinkSync(`/etc/systemd/system/${unit.name}`, path.join(wants, unit.name))
      enabled.push({ unit: unit.name, wantedBy })
    }
  }

  for (const user of config.passwd?.users ?? []) {
    // Ignition's key fragment for the user (spec 3.3.0: .ssh/authorized_keys.d/ignition in the home directory).
    const fragment = under(root, `/home/${user.name}/.ssh/authorized_keys.d/ignition`)
    mkdirSync(path.dirname(fragment), { recursive: true, mode: 0o700 })
    writeFileSync(fragment, user.sshAuthorizedKeys.map((k) => `${k}\n`).join(''), { mode: 0o600 })
    written.push(`/home/${user.name}/.ssh/authorized_keys.d/ignition`)
  }
  return { enabled, written }
}

/** The argv of a unit's ExecStart= (plain words; the units the renderer writes use no quoting). */
export function execStartOf(unitContents: string): string[] {
  const line = /^ExecStart=(.+)$/m.exec(unitContents)?.[1]
  if (!line) throw new Error('the unit has no ExecStart=')
  return line.trim().split(/\s+/)
}
