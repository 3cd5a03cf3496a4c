import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { MANAGED_LABEL } from '../docker/containers.js'
import { writeFileAtomic } from '../identity/identity-store.js'
import { environmentOverride } from './compose-environment.js'
import { composeHash, targetDigest, type CurrentStack, type TargetStack } from './planner.js'
import { createUpdateLocks, LOCK_MOUNT } from './update-lock.js'

export type Release = 'current' | 'previous' | 'next'

export interface StackMeta extends CurrentStack {
  project: string
  digest: string
  /** With `unfinished`: how many deploys of this very release were cut short before this one. */
  interruptions?: number
}

/** Where agents before the override-environment layout kept each service's env file. */
const LEGACY_ENV_DIR = 'env'

const COMPOSE_FILE = 'docker-compose.yml'
const OVERRIDE_FILE = 'edgetainer.override.yml'
/**
 * In a release whose deploy has not finished. Written with the release (as `next`), so it moves with it,
 * and removed once it runs: a release found in `current` with it was cut short (kill, power loss) after
 * it took the place of the one before, which is then still in `previous`; one found in `next` was cut
 * short during its download. It holds how many deploys of the same release were cut short before.
 */
const UNFINISHED_FILE = 'unfinished'

/** Compose project names: lowercase letters, digits and dashes; the id suffix keeps two similar names apart. */
export function projectName(name: string, softwareId: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'software'
  return `et-${slug}-${softwareId.replace(/-/g, '').slice(0, 6)}`
}

/**
 * Stacks on disk, one directory per software with up to three releases:
 * `current` (what runs), `previous` (what ran before, for rollback) and
 * `next` (staged, being validated). Each release holds the compose file as
 * the gateway sent it, a mode-0600 override file that carries each service's
 * merged environment and labels its containers, and meta.json (also 0600:
 * both hold decrypted secrets).
 */
export function createStackStore(deps: { dataDir: string; /** The device id its containers' managed label carries. */ owner: string }) {
  const root = path.join(deps.dataDir, 'stacks')
  const failedFile = path.join(root, 'failed.json')
  mkdirSync(root, { recursive: true, mode: 0o700 })
  const locks = createUpdateLocks({ dataDir: deps.dataDir })

  const dirOf = (softwareId: string, release: Release) => path.join(root, softwareId, release)

  function files(softwareId: string, release: Release): string[] {
    const dir = dirOf(softwareId, release)
    return [path.join(dir, COMPOSE_FILE), path.join(dir, OVERRIDE_FILE)]
  }

  /** The override with the environment and each service's update-lock mount; an older release's env files go, so its layout is the current one. */
  function writeOverride(dir: string, softwareId: string, services: string[], env: Record<string, Record<string, string>>) {
    const volumes = Object.fromEntries(services.map((s) => [s, [`${locks.ensureDir(softwareId, s)}:${LOCK_MOUNT}`]]))
    writeFileAtomic(path.join(dir, OVERRIDE_FILE), environmentOverride(services, env, { [MANAGED_LABEL]: deps.owner }, volumes), 0o600)
    rmSync(path.join(dir, LEGACY_ENV_DIR), { recursive: true, force: true })
  }

  /** Writes a target as a release (normally `next`). `services` are the compose file's services. */
  function write(target: TargetStack, services: string[], release: Release, interruptions = 0): StackMeta {
    const dir = dirOf(target.software_id, release)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileSync(path.join(dir, COMPOSE_FILE), target.compose, { mode: 0o600 })
    writeOverride(dir, target.software_id, services, target.env)
    const meta: StackMeta = {
      software_id: target.software_id,
      name: target.name,
      version: target.version,
      compose_hash: composeHash(target.compose),
      env: target.env,
      services,
      project: projectName(target.name, target.software_id),
      digest: targetDigest(target),
    }
    writeFileAtomic(path.join(dir, UNFINISHED_FILE), String(interruptions), 0o600)
    writeFileAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta), 0o600)
    return meta
  }

  /** Rewrites the override (and meta) of a release in place: an environment-only change. */
  function rewriteEnv(meta: StackMeta, target: TargetStack, release: Release): StackMeta {
    const dir = dirOf(meta.software_id, release)
    writeOverride(dir, meta.software_id, meta.services, target.env)
    const { legacy_env_files: _legacy, unfinished: _unfinished, interruptions: _interruptions, ...rest } = meta
    const updated: StackMeta = { ...rest, env: target.env, digest: targetDigest(target) }
    writeFileAtomic(path.join(dir, 'meta.json'), JSON.stringify(updated), 0o600)
    return updated
  }

  function read(softwareId: string, release: Release): StackMeta | undefined {
    let meta: StackMeta
    try {
      meta = JSON.parse(readFileSync(path.join(dirOf(softwareId, release), 'meta.json'), 'utf8')) as StackMeta
    } catch {
      return undefined
    }
    const dir = dirOf(softwareId, release)
    return {
      ...meta,
      ...(existsSync(path.join(dir, LEGACY_ENV_DIR)) ? { legacy_env_files: true } : {}),
      ...(existsSync(path.join(dir, UNFINISHED_FILE)) ? { unfinished: true, interruptions: Number(readFileSync(path.join(dir, UNFINISHED_FILE), 'utf8')) || 0 } : {}),
    }
  }

  /** Sets how many deploys of an unfinished release were cut short before the one under way. */
  function setInterruptions(softwareId: string, release: Release, interruptions: number) {
    writeFileAtomic(path.join(dirOf(softwareId, release), UNFINISHED_FILE), String(interruptions), 0o600)
  }

  /** The current release's deploy finished: it runs (or was brought back after a failed one). */
  function finished(softwareId: string) {
    rmSync(path.join(dirOf(softwareId, 'current'), UNFINISHED_FILE), { force: true })
  }

  /** Moves one release onto another's place (the old one there is discarded). */
  function move(softwareId: string, from: Release, to: Release) {
    rmSync(dirOf(softwareId, to), { recursive: true, force: true })
    if (existsSync(dirOf(softwareId, from))) renameSync(dirOf(softwareId, from), dirOf(softwareId, to))
  }

  function failed(): Record<string, string> {
    try {
      return JSON.parse(readFileSync(failedFile, 'utf8')) as Record<string, string>
    } catch {
      return {}
    }
  }

  function setFailed(softwareId: string, digest: string | undefined) {
    const all = failed()
    if (digest) all[softwareId] = digest
    else delete all[softwareId]
    writeFileAtomic(failedFile, JSON.stringify(all), 0o600)
  }

  return {
    /** Each service's update lock (update-lock.ts), mounted by the override at /run/edgetainer. */
    locks,
    files,
    write,
    rewriteEnv,
    read,
    setInterruptions,
    finished,
    move,
    /** Every stack's current release: what runs on this device. */
    current(): StackMeta[] {
      return readdirSync(root, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? (read(d.name, 'current') ?? []) : []))
    },
    discard(softwareId: string, release: Release) {
      rmSync(dirOf(softwareId, release), { recursive: true, force: true })
    },
    removeAll(softwareId: string) {
      rmSync(path.join(root, softwareId), { recursive: true, force: true })
      locks.removeAll(softwareId)
      setFailed(softwareId, undefined)
    },
    failed,
    setFailed,
  }
}

export type StackStore = ReturnType<typeof createStackStore>
