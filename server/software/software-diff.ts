import { createTwoFilesPatch } from 'diff'
import type { EnvCodec, StoredVarSet } from '../env/env-codec.js'
import { SECRET_MASK } from '../env/env-var-schema.js'
import { asSoftwareEnv } from './software-env.js'
import type { SoftwareVersionRow } from './software-store.js'

/**
 * Renders one scope of defaults as `NAME=value` lines. Secrets show as the
 * mask; a secret whose value differs from the other side is marked, so a
 * diff shows that it changed without showing what it is.
 */
function envLines(codec: EnvCodec, set: StoredVarSet | undefined, other: StoredVarSet | undefined): string[] {
  const lines: string[] = []
  const plain = codec.reveal(set)
  const otherPlain = codec.reveal(other)
  for (const name of Object.keys(plain).sort()) {
    const v = plain[name]!
    if (!v.secret) {
      lines.push(`${name}=${v.value}`)
      continue
    }
    const theirs = otherPlain[name]
    const differs = theirs !== undefined && (!theirs.secret || theirs.value !== v.value)
    lines.push(`${name}=${SECRET_MASK}${differs ? ' (secret changed)' : ''} # secret`)
  }
  return lines
}

function envText(codec: EnvCodec, version: SoftwareVersionRow, other: SoftwareVersionRow, markChanges: boolean): string {
  const env = asSoftwareEnv(version.env_vars)
  const otherEnv = asSoftwareEnv(other.env_vars)
  // Only the newer side carries the "changed" mark, so an unchanged line stays identical on both sides.
  const against = (set: StoredVarSet | undefined) => (markChanges ? set : undefined)
  const out = ['# all services', ...envLines(codec, env.vars, against(otherEnv.vars))]
  for (const service of Object.keys(env.services).sort()) {
    out.push(`# service ${service}`, ...envLines(codec, env.services[service], against(otherEnv.services[service])))
  }
  return out.join('\n') + '\n'
}

/**
 * A unified diff between two versions: the compose file, then the default
 * variables (as `NAME=value` lines, secrets masked), each with its own file
 * header as `git diff` would print two files.
 */
export function diffVersions(codec: EnvCodec, a: SoftwareVersionRow, b: SoftwareVersionRow): string {
  // A version imported from git names its commit too, so a diff between commits says which.
  const label = (v: SoftwareVersionRow) => `version ${v.version}${v.commit_sha ? ` (commit ${v.commit_sha.slice(0, 12)})` : ''}`
  const compose = createTwoFilesPatch(`a/docker-compose.yml`, `b/docker-compose.yml`, a.docker_compose_yaml, b.docker_compose_yaml, label(a), label(b))
  const env = createTwoFilesPatch(`a/env`, `b/env`, envText(codec, a, b, false), envText(codec, b, a, true), label(a), label(b))
  // Drop the `===` banner the diff package puts first, and files without hunks, as `git diff` does.
  const strip = (patch: string) => (patch.includes('\n@@ ') ? patch.replace(/^=+\n/, '') : '')
  return strip(compose) + strip(env)
}
