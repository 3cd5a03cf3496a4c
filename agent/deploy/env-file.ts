/** Names compose accepts in an env file; anything else is left out rather than written half-valid. */
const namePattern = /^[A-Za-z_][A-Za-z0-9_.-]*$/

/**
 * One env file for compose's `env_file`. Every value is single-quoted, so
 * compose does not interpolate `$` in it; backslash and quote are escaped
 * the way python-dotenv (docker-compose 1.x) reads them back.
 */
export function encodeEnvFile(vars: Record<string, string>): string {
  return Object.keys(vars)
    .filter((name) => namePattern.test(name))
    .sort()
    .map((name) => `${name}='${vars[name]!.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'\n`)
    .join('')
}

/** Env maps are equal when they hold the same names and values, in any order. */
export function sameEnv(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {})
  const kb = Object.keys(b ?? {})
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b ?? {}, k) && b![k] === a![k])
}
