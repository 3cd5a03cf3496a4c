/**
 * API errors as sentences a person can act on. The API answers `{error, code, field}`; its
 * `error` is written for developers ("name: Too small: expected string to have >=1 characters"),
 * so the console says known codes and validator messages in plain words, and keeps the code
 * for a tooltip.
 */

const codeSentences: Record<string, string> = {
  INVALID_CREDENTIALS: 'The user name or password is wrong.',
  UNAUTHORIZED: 'Your session has ended. Sign in again.',
  FORBIDDEN: 'Your role does not allow this. Ask an admin.',
  CSRF_CHECK_FAILED: 'This request did not come from the console page, so the gateway refused it. Reload the page and try again.',
  TOO_MANY_REQUESTS: 'Too many attempts. Wait a minute, then try again.',
  NETWORK: 'Cannot reach the gateway. Check your connection and try again.',
  DATABASE_UNAVAILABLE: 'The gateway cannot reach its database right now. Try again in a moment.',
  LAST_ADMIN: 'This is the last admin. Make another user an admin first.',
  SELF_DELETE: 'You cannot delete your own account.',
  PORT_RANGE_EXHAUSTED: 'Every port in the configured range is taken. Widen the range in the gateway configuration.',
  SOFTWARE_DEPLOYED: 'This software is still deployed. Remove its deployments first.',
  SOFTWARE_HAS_NO_VERSION: 'Upload a version of this software before deploying it.',
  DEVICE_OFFLINE: 'The device is offline. Try again when it reconnects.',
  AGENT_NOT_CONNECTED: 'The device agent is not connected. Try again when the device is online.',
  AGENT_TIMEOUT: 'The device agent did not answer in time.',
  AGENT_UNREACHABLE: 'The device agent could not be reached.',
  BODY_TOO_LARGE: 'This is too large to upload.',
  LIMIT_FILE_SIZE: 'This file is too large to upload.',
  UNSUPPORTED_MEDIA_TYPE: 'The gateway does not accept this kind of upload.',
  TLS_DISABLED: 'TLS is not configured on this gateway.',
  ROLLOUT_NO_DEVICES: 'No device matches this rollout: check its fleet, selector or devices, then start it again.',
}

/** Codes whose API message carries facts worth keeping (which rollout, which state), said in plain words. */
const messageSentences: Record<string, (message: string) => string | undefined> = {
  // "rollout 5f0c… of this software to this fleet is still running: finish, cancel or roll it back first"
  ROLLOUT_ACTIVE: (m) => {
    const match = /^rollout \S+ of this software to (this fleet|one of these devices) is still (\w+)/.exec(m)
    const where = match?.[1] === 'this fleet' ? 'this fleet' : 'some of these devices'
    const state = match?.[2] === 'draft' ? 'waiting as a draft' : (match?.[2] ?? 'active')
    return `Another rollout of this software to ${where} is still ${state}. Finish, cancel or roll it back first.`
  },
  // "cannot pause a rollout that is completed"
  ROLLOUT_STATE: (m) => {
    const match = /^cannot (\w+) a rollout that is (.+)$/.exec(m)
    if (!match) return undefined
    const verb: Record<string, string> = { start: 'started', pause: 'paused', resume: 'resumed', cancel: 'cancelled', rollback: 'rolled back', retry: 'retried', advance: 'moved to its next wave' }
    return `This rollout is ${match[2]}, so it cannot be ${verb[match[1]!] ?? match[1]} now. The page shows its current state.`
  },
}

/** The id of the other active rollout a ROLLOUT_ACTIVE error names, so the console can link to it. */
export function activeRolloutId(message: string): string | undefined {
  return /^rollout ([0-9a-f-]{36}) /.exec(message)?.[1]
}

/** Validator messages, zod's wording, turned into instructions. */
const validatorSentences: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^Too small: expected string to have >=1 characters?$/i, () => 'Fill this in.'],
  [/^Too small: expected string to have >=(\d+) characters?$/i, (m) => `Use at least ${m[1]} characters.`],
  [/^Too big: expected string to have <=(\d+) characters?$/i, (m) => `Use at most ${m[1]} characters.`],
  [/^Too small: expected number to be >=?(-?[\d.]+)$/i, (m) => `Enter ${m[1]} or more.`],
  [/^Too big: expected number to be <=?(-?[\d.]+)$/i, (m) => `Enter ${m[1]} or less.`],
  [/^Too small: expected array to have >=(\d+) items?$/i, (m) => `Choose at least ${m[1]}.`],
  [/^Invalid input: expected (\w+), received undefined$/i, () => 'Fill this in.'],
  [/^Invalid input: expected number, received \w+$/i, () => 'Enter a number.'],
  [/^Invalid input: expected (\w+), received \w+$/i, (m) => `Enter a ${m[1]}.`],
  [/^Invalid (email|e-mail)( address)?$/i, () => 'Enter an email address like name@example.com.'],
  [/^Invalid URL$/i, () => 'Enter a full URL, like https://example.com.'],
  [/^Invalid UUID$/i, () => 'Choose an item from the list.'],
  [/^Invalid option: expected one of (.+)$/i, (m) => `Choose one of ${m[1]!.replace(/"/g, '').replace(/\|/g, ', ')}.`],
  [/^unknown field$/i, () => 'The gateway does not know this field.'],
]

function sentence(text: string): string {
  const trimmed = text.trim()
  if (!trimmed) return trimmed
  // A message that starts with a name (`services.web.image: …`) keeps the name as written.
  const startsWithName = /^[^\s:]*[._/][^\s:]*:/.test(trimmed)
  const capital = startsWithName ? trimmed : trimmed.charAt(0).toUpperCase() + trimmed.slice(1)
  return /[.!?]$/.test(capital) ? capital : `${capital}.`
}

/** A validator message for one field, without the `body.name:` prefix the API puts before it. */
export function fieldSentence(message: string, field: string): string {
  const prefix = new RegExp(`^(body\\.)?${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\s*`)
  const text = message.replace(prefix, '')
  for (const [pattern, say] of validatorSentences) {
    const match = pattern.exec(text)
    if (match) return say(match)
  }
  return sentence(text)
}

/** The sentence for an API error; `field` errors name the field in words when shown away from it. */
export function errorSentence(code: string | undefined, message: string, field?: string): string {
  if (code && codeSentences[code]) return codeSentences[code]!
  const said = code ? messageSentences[code]?.(message) : undefined
  if (said) return said
  if (code === 'VALIDATION_FAILED' || field) {
    const what = field?.split('.').pop()?.replace(/_/g, ' ')
    const said = fieldSentence(message, field ?? '')
    if (what && said === 'Fill this in.') return `Fill in the ${what}.`
    return what ? `${what.charAt(0).toUpperCase()}${what.slice(1)}: ${said.charAt(0).toLowerCase()}${said.slice(1)}` : said
  }
  if (code?.endsWith('_NOT_FOUND')) {
    const what = code.slice(0, -'_NOT_FOUND'.length).toLowerCase().replace(/_/g, ' ')
    return what === 'route' ? 'This gateway does not offer that yet.' : `This ${what} no longer exists. It may have been deleted.`
  }
  return sentence(message)
}
