import { stringify } from 'yaml'
import { planDevice, type PlannedFile } from './device-plan.js'
import type { ProvisioningInput } from './provisioning-input.js'

/** Butane's Flatcar variant 1.0.0 is the one that translates to Ignition 3.3.0. */
export const BUTANE_VARIANT = 'flatcar'
export const BUTANE_VERSION = '1.0.0'

function butaneFile(file: PlannedFile) {
  const contents =
    'inline' in file.contents
      ? { inline: file.contents.inline }
      : { source: file.contents.source, verification: { hash: `sha512-${file.contents.sha512}` } }
  return { path: file.path, overwrite: true, mode: file.mode, contents }
}

/**
 * The same device as Butane YAML, for admins who keep configs in git and run
 * `butane` themselves. Text stays inline (readable in a diff); modes stay
 * decimal, which Butane reads as they are, so nobody has to wonder whether a
 * leading zero means octal.
 */
export function renderButane(input: ProvisioningInput): string {
  const plan = planDevice(input)
  const doc = {
    variant: BUTANE_VARIANT,
    version: BUTANE_VERSION,
    storage: { files: plan.files.map(butaneFile) },
    systemd: { units: plan.units.map((u) => ({ name: u.name, enabled: u.enabled, contents: u.contents })) },
    passwd: { users: plan.users.map((u) => ({ name: u.name, ssh_authorized_keys: u.sshAuthorizedKeys })) },
  }
  const header = '# Edgetainer device config (Butane). Translate with: butane --strict device.bu > device.ign\n'
  return header + stringify(doc, { lineWidth: 0, blockQuote: 'literal' })
}
