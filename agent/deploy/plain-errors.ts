/**
 * Deploy failures in plain words. Compose prints progress bars, per-service
 * prefixes and the daemon's error chain; an admin needs which image or
 * container and why, in one line.
 */

const MAX_REASON = 200

/** Causes of a failed pull people recognise, from the daemon's and registries' wording. */
const PULL_CAUSES: [RegExp, string][] = [
  [/manifest unknown|manifest for .* not found|not found: manifest|repository does not exist|no such image/i, 'not found'],
  [/pull access denied|unauthorized|authentication required|denied: /i, 'access denied (it does not exist, or the registry needs a login)'],
  [/no space left on device/i, 'no space left on the device'],
  [/no such host|dial tcp|i\/o timeout|connection refused|network is unreachable|TLS handshake timeout|server misbehaving/i, 'the registry could not be reached'],
  [/toomanyrequests|rate limit/i, 'the registry refused: too many requests'],
]

/** The last line that says something, without compose's and the daemon's prefixes. */
export function lastReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim())
    .filter((l) => l && !/^(Pulling|Pulled|Waiting|Downloading|Extracting|Verifying|Download complete|Pull complete|Already exists)\b/i.test(l) && !/^[a-f0-9]{12}[: ]/.test(l))
  const last = lines.at(-1) ?? ''
  const cleaned = last
    .replace(/^ERROR:\s*(for \S+\s+)?/, '')
    .replace(/^(\S+\s+)?Error(:| response from daemon:)\s*/i, '')
    .replace(/^Error response from daemon:\s*/i, '')
    .trim()
  return cleaned.length > MAX_REASON ? `${cleaned.slice(0, MAX_REASON - 1)}…` : cleaned
}

/**
 * "image `foo:1` could not be pulled: not found". `images` maps each service
 * that was pulled to its image; the failed one is the service compose names
 * in its error (v1: `ERROR: for web`, v2: `web Error`), else all of them.
 */
export function pullFailure(stderr: string, images: Record<string, string>, timedOut = false): string {
  const services = Object.keys(images)
  const named = services.filter((s) => new RegExp(`(ERROR: for ${escape(s)}\\b)|(^\\s*${escape(s)}\\s+Error\\b)`, 'm').test(stderr))
  const failed = named.length ? named : services
  const which = failed.map((s) => `\`${images[s]}\``).join(', ')
  const noun = failed.length === 1 ? 'image' : 'images'
  if (timedOut) return `${noun} ${which} could not be pulled: it took too long`
  const cause = PULL_CAUSES.find(([pattern]) => pattern.test(stderr))?.[1] ?? (lastReason(stderr) || 'the pull failed')
  return `${noun} ${which} could not be pulled: ${cause}`
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** "container `web` exited with code 1" */
export function containerExited(service: string, code: number | null): string {
  return `container \`${service}\` exited with code ${code ?? '?'}`
}
