import { stringify, type ScalarTag } from 'yaml'

/** Names compose accepts as environment keys; anything else is left out rather than written half-valid. */
const namePattern = /^[A-Za-z_][A-Za-z0-9_.-]*$/

/** A value no process environment can carry (the gateway refuses these; this is the agent's own guard). */
export class EnvValueError extends Error {
  override name = 'EnvValueError'
}

/**
 * `$` starts an interpolation in every compose file, overrides included:
 * docker-compose v1 runs values through python's `string.Template` (its
 * `TemplateWithDefaults`), compose v2 through compose-go's `template`
 * package. In both, `$$` is the escape that reads back as one literal `$`,
 * and once every `$` is doubled no other pattern can match.
 */
export function escapeInterpolation(value: string): string {
  return value.replaceAll('$', () => '$$')
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0')

/**
 * A YAML double-quoted scalar in printable ASCII only. The `yaml` library's
 * own double-quoted form is JSON's, which leaves DEL, C1 controls, NEL, LS
 * and PS raw: PyYAML (docker-compose v1) and go-yaml v3 (compose v2 until it
 * moved to yaml v4) refuse DEL and C1 outright, and libyaml-derived scanners
 * fold NEL/LS/PS as line breaks. The `\x`, `\u` and `\U` escapes mean the
 * same in YAML 1.1 and 1.2 and in all of those parsers; a surrogate pair is
 * written as one `\U` (go-yaml refuses `\uD8xx` escapes). A lone surrogate
 * cannot be UTF-8 at all and becomes U+FFFD, as any UTF-8 write would make it.
 */
export function asciiDoubleQuoted(value: string): string {
  let out = '"'
  for (const ch of value) {
    const cp = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') out += `\\${ch}`
    else if (cp >= 0x20 && cp <= 0x7e) out += ch
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd'
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`
    else out += `\\U${hex(cp, 8)}`
  }
  return `${out}"`
}

/** The core schema's string tag, written by `asciiDoubleQuoted`: every string of the document, keys included. */
const asciiStringTag: ScalarTag = {
  identify: (value) => typeof value === 'string',
  default: true,
  tag: 'tag:yaml.org,2002:str',
  resolve: (source) => source,
  stringify: (item) => asciiDoubleQuoted(String(item.value)),
}

/**
 * One service's `environment:` mapping: valid names only, sorted, values
 * escaped for interpolation. A NUL byte fails the whole deploy, by name,
 * rather than reaching the container cut short.
 */
export function composeEnvironment(service: string, vars: Record<string, string>): Record<string, string> {
  const names = Object.keys(vars)
    .filter((name) => namePattern.test(name))
    .sort()
  for (const name of names) {
    if (vars[name]!.includes('\0')) throw new EnvValueError(`environment variable ${name} of service ${service} holds a NUL byte, which no process environment can carry`)
  }
  return Object.fromEntries(names.map((name) => [name, escapeInterpolation(vars[name]!)]))
}

/**
 * The compose override a release runs with: per service, its merged
 * environment as an `environment:` mapping (which wins over the compose
 * file's own `environment:` and `env_file:`), the labels the agent finds
 * its containers by, and the agent's own mounts (the update-lock directory). Values live here rather than in env files because
 * docker-compose v1 (python-dotenv) and compose v2 (compose-go's dotenv)
 * read env-file quoting differently; YAML double-quoted scalars and `$$`
 * mean the same to both. The result holds secrets: write it 0600, never log it.
 */
export function environmentOverride(
  services: string[],
  env: Record<string, Record<string, string>>,
  labels: Record<string, string>,
  /** Per service, bind mounts (`host:container`) the agent adds: the update-lock directory. */
  volumes: Record<string, string[]> = {},
): string {
  const doc = {
    services: Object.fromEntries(
      services.map((s) => [s, { labels, environment: composeEnvironment(s, env[s] ?? {}), ...(volumes[s]?.length ? { volumes: volumes[s] } : {}) }]),
    ),
  }
  return stringify(doc, { customTags: (tags) => tags.map((t) => (typeof t === 'object' && t.tag === asciiStringTag.tag ? asciiStringTag : t)), lineWidth: 0 })
}

/** Env maps are equal when they hold the same names and values, in any order. */
export function sameEnv(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {})
  const kb = Object.keys(b ?? {})
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b ?? {}, k) && b![k] === a![k])
}
