import { toDataUrl } from './data-url.js'
import { planDevice, type PlannedFile } from './device-plan.js'
import type { ProvisioningInput } from './provisioning-input.js'

/** Every current Flatcar release reads 3.3.0, and Debian's ignition-validate 2.14 accepts 3.0–3.3 (not 3.4). */
export const IGNITION_SPEC_VERSION = '3.3.0'

export interface IgnitionFile {
  path: string
  overwrite: boolean
  mode: number
  contents: { source: string; verification?: { hash: string } }
}

export interface IgnitionConfig {
  ignition: { version: string }
  storage: { files: IgnitionFile[] }
  systemd: { units: { name: string; enabled: boolean; contents: string }[] }
  passwd: { users: { name: string; sshAuthorizedKeys: string[] }[] }
}

function ignitionFile(file: PlannedFile): IgnitionFile {
  const contents =
    'inline' in file.contents
      ? { source: toDataUrl(file.contents.inline) }
      : { source: file.contents.source, verification: { hash: `sha512-${file.contents.sha512}` } }
  // overwrite: Flatcar ships /etc/hostname, and a reprovisioned disk may hold an older agent.
  return { path: file.path, overwrite: true, mode: file.mode, contents }
}

/**
 * Renders a device's Ignition config (spec 3.3.0). Pure: the same input gives
 * the same object, and nothing is fetched or read from disk.
 */
export function renderIgnition(input: ProvisioningInput): IgnitionConfig {
  const plan = planDevice(input)
  return {
    ignition: { version: IGNITION_SPEC_VERSION },
    storage: { files: plan.files.map(ignitionFile) },
    systemd: { units: plan.units.map((u) => ({ name: u.name, enabled: u.enabled, contents: u.contents })) },
    passwd: { users: plan.users.map((u) => ({ name: u.name, sshAuthorizedKeys: u.sshAuthorizedKeys })) },
  }
}
