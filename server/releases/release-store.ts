import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createWriteStream } from 'node:fs'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { NotFoundError } from '../errors.js'
import { AgentExecutableUnavailableError, type AgentExecutable } from '../provision/agent-executable.js'
import type { AgentArch, AgentManifest, SignedAgentManifest } from '../../shared/agent-release.js'
import type { ReleaseKey } from './release-key.js'

export interface AgentRelease {
  sha512: string
  version: string
  arch: AgentArch
  size: number
  min_gateway_version: string
  created_at: Date
}

const VERSION_PATTERN = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/

/**
 * Every agent executable the gateway has served, content-addressed by sha512
 * in `<data dir>/agent-releases/`, each with a manifest signed by the release
 * key. A build in dist/agent is imported the first time it is asked for, and
 * never removed: an Ignition file pins one sha512, and it must still boot the
 * day after `make agent` has built another.
 */
export function createReleaseStore(deps: { db: Kysely<Database>; dir: string; builds: Record<AgentArch, AgentExecutable>; key: ReleaseKey }) {
  const { db } = deps
  // Per architecture, the sha512 last imported: a render does not touch the database when nothing was rebuilt.
  const imported = new Map<AgentArch, string>()
  // Imports under way, by sha512: requests that ask at once (two consoles, right after a build) share one.
  const importing = new Map<string, Promise<void>>()

  const fileOf = (sha512: string) => path.join(deps.dir, sha512)

  /** Copies into the store through a temporary name and fsync, so the store never holds half a file. */
  async function copyIn(handle: FileHandle, sha512: string): Promise<void> {
    const target = fileOf(sha512)
    if (existsSync(target)) return
    mkdirSync(deps.dir, { recursive: true })
    // Unique per copy: the workers of `--workers N` share the data dir.
    const tmp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
    try {
      await pipeline(handle.createReadStream({ start: 0, autoClose: false }), createWriteStream(tmp, { mode: 0o644 }))
      const fd = openSync(tmp, 'r')
      fsyncSync(fd)
      closeSync(fd)
      renameSync(tmp, target)
    } finally {
      rmSync(tmp, { force: true })
    }
  }

  /** Copies the executable in, then records and signs its manifest (once: a second import finds both done). */
  async function importRelease(handle: FileHandle, manifest: AgentManifest): Promise<void> {
    await copyIn(handle, manifest.sha512)
    const text = JSON.stringify(manifest)
    await db
      .insertInto('agent_releases')
      .values({ ...manifest, manifest: text, signature: deps.key.sign(text) })
      .onConflict((oc) => oc.column('sha512').doNothing())
      .execute()
  }

  /** The build for `arch` in dist/agent, imported (copied, signed, recorded) if it is new; throws the build's 503 when there is none. */
  async function current(arch: AgentArch = 'x64'): Promise<{ sha512: string; size: number; version: string }> {
    const build = deps.builds[arch]
    const opened = await build.open()
    try {
      let described: Partial<AgentManifest>
      try {
        described = JSON.parse(await readFile(`${build.file}.json`, 'utf8')) as Partial<AgentManifest>
      } catch {
        throw new AgentExecutableUnavailableError(`the agent executable has no readable ${path.basename(build.file)}.json next to it: run \`make agent\` on the gateway host`)
      }
      const version = String(described.version ?? '')
      const minGateway = String(described.min_gateway_version ?? '')
      if (!VERSION_PATTERN.test(version) || !VERSION_PATTERN.test(minGateway) || described.sha512 !== opened.sha512) {
        throw new AgentExecutableUnavailableError(`${path.basename(build.file)}.json does not describe the executable next to it: run \`make agent\` on the gateway host`)
      }
      if (imported.get(arch) !== opened.sha512) {
        let job = importing.get(opened.sha512)
        if (!job) {
          const manifest: AgentManifest = { version, arch, sha512: opened.sha512, size: opened.size, min_gateway_version: minGateway }
          job = importRelease(opened.handle, manifest).finally(() => importing.delete(manifest.sha512))
          importing.set(opened.sha512, job)
        }
        // The first asker's handle stays open until this settles: it awaits the same job in this very block.
        await job
        imported.set(arch, opened.sha512)
      }
      return { sha512: opened.sha512, size: opened.size, version }
    } finally {
      await opened.handle.close()
    }
  }

  /** Imports whatever is built, quietly skipping an architecture that is not. */
  async function importBuilds(): Promise<void> {
    for (const arch of Object.keys(deps.builds) as AgentArch[]) {
      await current(arch).catch((err: unknown) => {
        if (!(err instanceof AgentExecutableUnavailableError)) throw err
      })
    }
  }

  const toRelease = (r: { sha512: string; version: string; arch: string; size: string | number; min_gateway_version: string; created_at: Date }): AgentRelease => ({
    sha512: r.sha512,
    version: r.version,
    arch: r.arch as AgentArch,
    size: Number(r.size),
    min_gateway_version: r.min_gateway_version,
    created_at: r.created_at,
  })

  async function list(): Promise<AgentRelease[]> {
    await importBuilds()
    const rows = await db.selectFrom('agent_releases').select(['sha512', 'version', 'arch', 'size', 'min_gateway_version', 'created_at']).orderBy('created_at', 'desc').execute()
    return rows.map(toRelease)
  }

  /** The newest release of `version` for `arch`, with its signed manifest. */
  async function signedFor(version: string, arch: AgentArch): Promise<(AgentRelease & SignedAgentManifest) | undefined> {
    const row = await db.selectFrom('agent_releases').selectAll().where('version', '=', version).where('arch', '=', arch).orderBy('created_at', 'desc').limit(1).executeTakeFirst()
    return row && { ...toRelease(row), manifest: row.manifest, signature: row.signature }
  }

  async function hasVersion(version: string): Promise<boolean> {
    await importBuilds()
    return Boolean(await db.selectFrom('agent_releases').select('sha512').where('version', '=', version).executeTakeFirst())
  }

  /**
   * Opens a stored release by sha512. Not re-hashed here: the file was hashed on
   * import, and whoever downloads it (Ignition, the agent) checks the sha512 itself.
   */
  async function openRelease(sha512: string): Promise<{ handle: FileHandle; release: AgentRelease }> {
    const row = await db.selectFrom('agent_releases').select(['sha512', 'version', 'arch', 'size', 'min_gateway_version', 'created_at']).where('sha512', '=', sha512).executeTakeFirst()
    if (!row) throw new NotFoundError('AGENT_RELEASE_NOT_FOUND', 'agent release')
    let handle: FileHandle
    try {
      handle = await open(fileOf(sha512), 'r')
    } catch {
      throw new AgentExecutableUnavailableError(`the agent release ${sha512.slice(0, 16)}… is recorded but its file is missing from the gateway's data dir`)
    }
    return { handle, release: toRelease(row) }
  }

  return { current, importBuilds, list, signedFor, hasVersion, openRelease, dir: deps.dir }
}

export type ReleaseStore = ReturnType<typeof createReleaseStore>
