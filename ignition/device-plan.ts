import { ValidationError } from '../server/errors.js'
import { validationErrorFrom } from '../server/api/validation.js'
import { AGENT_BINARY_PATH, AGENT_CONFIG_PATH, AGENT_UNIT_NAME, STATIC_NETWORK_PATH, agentConfigYaml, agentUnit, staticNetworkFile } from './device-files.js'
import { USER_CA_DROPIN_PATH, USER_CA_PATH, userCaDropIn } from './device-files.js'
import { provisioningInput, type ProvisioningInput } from './provisioning-input.js'
import { assertNoPrivateKey } from './private-key-guard.js'

export type PlannedContents = { inline: string } | { source: string; sha512: string }

export interface PlannedFile {
  path: string
  /** Decimal permission bits (384 = 0600). */
  mode: number
  contents: PlannedContents
}

export interface PlannedUnit {
  name: string
  enabled: boolean
  contents: string
}

export interface PlannedUser {
  name: string
  sshAuthorizedKeys: string[]
}

/** What a device gets, independent of the format it is written in (Ignition JSON or Butane YAML). */
export interface DevicePlan {
  files: PlannedFile[]
  units: PlannedUnit[]
  users: PlannedUser[]
}

const MODE_0600 = 0o600
const MODE_0644 = 0o644
const MODE_0755 = 0o755

/**
 * Validates the input and lays out the device's files, unit and user. Both
 * renderers start from this one plan, so the JSON and the Butane export
 * cannot drift apart.
 */
export function planDevice(raw: ProvisioningInput): DevicePlan {
  const parsed = provisioningInput.safeParse(raw)
  if (!parsed.success) throw validationErrorFrom(parsed.error)
  const input = parsed.data

  const files: PlannedFile[] = [
    ...(input.hostname ? [{ path: '/etc/hostname', mode: MODE_0644, contents: { inline: `${input.hostname}\n` } }] : []),
    // 0600: the token inside is the device's credential until it has registered.
    { path: AGENT_CONFIG_PATH, mode: MODE_0600, contents: { inline: agentConfigYaml(input) } },
    { path: AGENT_BINARY_PATH, mode: MODE_0755, contents: { source: input.agentExecutable.url, sha512: input.agentExecutable.sha512 } },
  ]
  if (!('dhcp' in input.network)) {
    files.push({ path: STATIC_NETWORK_PATH, mode: MODE_0644, contents: { inline: staticNetworkFile(input.network) } })
  }
  if (input.gateway.userCaPublicKey) {
    const ca = `${input.gateway.userCaPublicKey.split(' ').slice(0, 2).join(' ')} edgetainer-user-ca\n`
    files.push({ path: USER_CA_PATH, mode: MODE_0644, contents: { inline: ca } }, { path: USER_CA_DROPIN_PATH, mode: MODE_0644, contents: { inline: userCaDropIn() } })
  }
  const taken = new Set(files.map((f) => f.path))
  for (const [i, extra] of input.extraFiles.entries()) {
    // Ignition refuses two entries for one path; say which input caused it instead.
    if (taken.has(extra.path)) throw new ValidationError(`extraFiles.${i}.path`, `${extra.path} is written by the gateway itself`)
    taken.add(extra.path)
    files.push({ path: extra.path, mode: extra.mode, contents: { inline: extra.contents } })
  }

  // Ignition wants every key once; the terminal key first, so it is easy to spot.
  const keys = [`${input.gateway.terminalPublicKey.split(' ').slice(0, 2).join(' ')} edgetainer-terminal`]
  for (const key of input.sshAuthorizedKeys) {
    const blob = key.split(' ').slice(0, 2).join(' ')
    if (!keys.some((k) => k.startsWith(`${blob} `) || k === blob)) keys.push(key)
  }

  const plan: DevicePlan = {
    files,
    units: [{ name: AGENT_UNIT_NAME, enabled: true, contents: agentUnit() }],
    users: [{ name: input.user, sshAuthorizedKeys: keys }],
  }
  assertNoPrivateKey(plan)
  return plan
}
