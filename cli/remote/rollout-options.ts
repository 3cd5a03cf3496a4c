import { oneLine, usageError } from './cli-error.js'
import { checkDeviceRef } from './resolve.js'

/**
 * The flags of `rollouts create` and `devices label`, checked here before
 * anything reaches the gateway: each bad value is a usage error naming its
 * flag. The gateway checks everything again (and has the last word on
 * selector grammar); these checks only make the common mistakes cheap.
 * Pure functions, so test/unit/remote-cli-parsing.test.ts covers them.
 */

export const STRATEGIES = ['immediate', 'manual', 'canary', 'rolling'] as const
export const FAILURE_ACTIONS = ['pause', 'rollback', 'continue'] as const
export const ROLLOUT_STATUSES = ['draft', 'running', 'paused', 'completed', 'cancelled', 'failed', 'rolled_back'] as const
/** A watched rollout has nothing more to do in these; every one but `completed` is a failure for scripts. */
export const TERMINAL_STATUSES = ['completed', 'cancelled', 'failed', 'rolled_back'] as const

/** The same patterns as the gateway's (server/devices/label-selector.ts), copied: the remote CLI loads none of the gateway's modules. */
export const labelKeyPattern = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/
export const labelValuePattern = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/
const MAX_LABELS = 64
const MAX_SELECTOR_LENGTH = 2000
/** A version label, as `deploy --version` takes it. */
export const versionLabel = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const shown = (value: string) => `"${oneLine(value, 60)}"`

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw usageError(`${flag} must be one of ${allowed.join(', ')}, not ${shown(value)}`)
  return value as T
}

/** A plain decimal number (no exponent, hex, sign or NaN): what a person types for a percentage. */
function decimal(value: string, flag: string, min: number, max: number, unit = ''): number {
  const text = unit && value.endsWith(unit) ? value.slice(0, -unit.length) : value
  const n = /^\d{1,9}(\.\d{1,6})?$/.test(text) ? Number(text) : NaN
  if (!(n >= min && n <= max)) throw usageError(`${flag} must be a number from ${min} to ${max}, not ${shown(value)}`)
  return n
}

export function percentFlag(value: string, flag: string, min = 1): number {
  return decimal(value, flag, min, 100, '%')
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 }

/** `60`, `60s`, `500ms`, `10m`, `1.5h`, `7d` → seconds (a bare number is seconds). */
export function durationFlag(value: string, flag: string, minSeconds: number, maxSeconds: number): number {
  const m = /^(\d{1,9}(?:\.\d{1,6})?)(ms|s|m|h|d)?$/.exec(value)
  const seconds = m ? Math.round(Number(m[1]) * UNIT_SECONDS[m[2] ?? 's']! * 1000) / 1000 : NaN
  if (!(seconds >= minSeconds && seconds <= maxSeconds)) {
    throw usageError(`${flag} must be a duration from ${minSeconds} s to ${maxSeconds / 86_400} days such as 90s, 10m or 2h, not ${shown(value)}`)
  }
  return seconds
}

/** `--wave-size 5` (devices) or `--wave-size 25%` (of all devices). */
export function waveSizeFlag(value: string): { wave_size: number } | { wave_percent: number } {
  if (value.endsWith('%')) return { wave_percent: percentFlag(value, '--wave-size') }
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > 100_000) {
    throw usageError(`--wave-size must be a number of devices from 1 to 100000, or a share such as 25%, not ${shown(value)}`)
  }
  return { wave_size: Number(value) }
}

/**
 * A selector can only hold what the gateway's grammar is made of; anything
 * else (quotes, newlines, `;`) is refused here with the flag's name. The
 * gateway parses the grammar itself and says where a well-formed-looking
 * selector goes wrong.
 */
export function selectorFlag(value: string): string {
  if (value.length > MAX_SELECTOR_LENGTH) throw usageError(`--selector is at most ${MAX_SELECTOR_LENGTH} characters`)
  const bad = /[^A-Za-z0-9._/\- \t(),=!]/.exec(value)
  if (bad) throw usageError(`--selector: unexpected character ${JSON.stringify(oneLine(bad[0]) || '?')} at position ${bad.index + 1}; a selector looks like 'site=north,hw in (pi4,pi5),!legacy'`)
  return value
}

export function rolloutId(value: string): string {
  if (!uuid.test(value)) throw usageError(`${shown(value)} is not a rollout id; give the id that \`edgetainer rollouts list\` shows`)
  return value.toLowerCase()
}

export interface CreateFlags {
  fleet?: string
  selector?: string
  device?: string[]
  strategy?: string
  canaryPercent?: string
  waveSize?: string
  doubling?: boolean
  successPercent?: string
  errorThreshold?: string
  onFailure?: string
  soak?: string
  deadline?: string
  start?: boolean
}

/**
 * The settings part of `POST /api/rollouts` from the flags; a flag left out is
 * left out of the body, so the gateway's defaults apply (docs/rollouts.md).
 * Targets (fleet or devices) are resolved by the command, which needs the API.
 */
export function rolloutSettingsBody(flags: CreateFlags): Record<string, unknown> {
  const devices = flags.device ?? []
  if ((flags.fleet === undefined) === (devices.length === 0)) throw usageError('give a target: --fleet F (optionally with --selector), or one or more --device D, not both')
  if (flags.selector !== undefined && flags.fleet === undefined) throw usageError('--selector narrows a fleet: give --fleet with it')
  if (devices.length > 10_000) throw usageError('at most 10000 --device flags; target a fleet with --selector instead')
  devices.forEach(checkDeviceRef)
  const strategy = flags.strategy === undefined ? undefined : oneOf(flags.strategy, STRATEGIES, '--strategy')
  const effective = strategy ?? 'canary'
  const body: Record<string, unknown> = {}
  if (strategy) body.strategy = strategy
  if (flags.selector !== undefined) body.selector = selectorFlag(flags.selector)
  if (flags.canaryPercent !== undefined) {
    if (effective !== 'canary') throw usageError(`--canary-percent only applies to --strategy canary, not ${effective}`)
    body.canary_percent = percentFlag(flags.canaryPercent, '--canary-percent')
  }
  if (flags.waveSize !== undefined) {
    if (effective === 'immediate') throw usageError('--wave-size does not apply to --strategy immediate: it sends every device at once')
    Object.assign(body, waveSizeFlag(flags.waveSize))
  }
  if (flags.doubling) {
    if (effective === 'immediate') throw usageError('--doubling does not apply to --strategy immediate: it sends every device at once')
    body.doubling = true
  }
  if (flags.successPercent !== undefined) body.success_percent = percentFlag(flags.successPercent, '--success-percent')
  if (flags.errorThreshold !== undefined) body.error_threshold_percent = percentFlag(flags.errorThreshold, '--error-threshold', 0)
  if (flags.onFailure !== undefined) body.failure_action = oneOf(flags.onFailure, FAILURE_ACTIONS, '--on-failure')
  if (flags.soak !== undefined) body.soak_seconds = durationFlag(flags.soak, '--soak', 0, 7 * 86_400)
  if (flags.deadline !== undefined) body.deadline_seconds = durationFlag(flags.deadline, '--deadline', 0.1, 30 * 86_400)
  if (flags.start) body.start = true
  return body
}

/** `key=value` (value may be empty) for `devices label`. */
export function parseLabel(arg: string): [string, string] {
  const at = arg.indexOf('=')
  if (at < 0) throw usageError(`${shown(arg)} is not key=value; remove a label with --remove ${labelKeyPattern.test(arg) ? arg : 'KEY'}`)
  const key = arg.slice(0, at)
  const value = arg.slice(at + 1)
  checkLabelKey(key, shown(arg))
  if (!labelValuePattern.test(value)) throw usageError(`label value ${shown(value)} of ${shown(key)}: at most 63 letters, digits, dot, dash or underscore, starting and ending with a letter or digit (or empty)`)
  return [key, value]
}

function checkLabelKey(key: string, where: string): string {
  if (!labelKeyPattern.test(key)) throw usageError(`label key ${shown(key)} in ${where}: 1-63 letters, digits, dot, dash, underscore or slash, starting and ending with a letter or digit`)
  return key
}

/** The labels a device ends up with: its own, with `set` applied and `remove` taken away. */
export function applyLabels(current: Record<string, string>, set: string[], remove: string[]): Record<string, string> {
  const next = { ...current }
  const pairs = set.map(parseLabel)
  for (const key of remove) {
    checkLabelKey(key, '--remove')
    if (pairs.some(([k]) => k === key)) throw usageError(`label ${shown(key)} is both set and given to --remove`)
    delete next[key]
  }
  for (const [k, v] of pairs) next[k] = v
  if (Object.keys(next).length > MAX_LABELS) throw usageError(`a device has at most ${MAX_LABELS} labels`)
  return next
}

/** For a version argument: the same rule as the gateway's. */
export function checkVersion(value: string): string {
  if (!versionLabel.test(value)) throw usageError(`${shown(value)} is not a version label (letters, digits, dot, dash, plus, underscore)`)
  return value
}
