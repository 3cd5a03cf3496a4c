import path from 'node:path'
import { GitImportError } from './git-errors.js'

/** One entry of `git ls-tree -l`. */
export interface TreeEntry {
  mode: string
  type: 'blob' | 'tree' | 'commit'
  oid: string
  /** Bytes, for blobs. */
  size: number
}

/** What the reader needs from a fetched repository: one tree entry, and one blob's bytes. */
export interface ObjectSource {
  entry(treePath: string): Promise<TreeEntry | undefined>
  blob(oid: string): Promise<string>
}

export interface RepoFile {
  /** The path the file was read from, after symlinks inside the repository. */
  path: string
  oid: string
  text: string
}

const MAX_SYMLINK_HOPS = 8
const SYMLINK = '120000'
const SUBMODULE = '160000'

/**
 * Reads one file of a commit straight from git's object store (no working
 * tree is ever written, so nothing in the repository can point the gateway
 * at its own files). Symlinks are followed only while they stay inside the
 * repository; one that leaves it, an absolute one, a submodule, a directory
 * or a file over `maxBytes` is refused with a GitImportError naming it.
 * Undefined when the path does not exist.
 */
export async function readRepoFile(source: ObjectSource, wanted: string, maxBytes: number): Promise<RepoFile | undefined> {
  let current = wanted
  for (let hops = 0; ; ) {
    const parts = current.split('/')
    let redirected: string | undefined
    for (let i = 0; i < parts.length; i++) {
      const prefix = parts.slice(0, i + 1).join('/')
      const entry = await source.entry(prefix)
      if (!entry) return undefined
      const last = i === parts.length - 1
      if (entry.mode === SYMLINK) {
        if (++hops > MAX_SYMLINK_HOPS) throw new GitImportError(`${wanted}: more than ${MAX_SYMLINK_HOPS} symlinks deep`)
        const target = (await source.blob(entry.oid)).slice(0, 4096)
        if (target.startsWith('/')) throw new GitImportError(`${prefix} is a symlink to ${target}, outside the repository: refused`)
        const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(prefix), target, ...parts.slice(i + 1)))
        if (resolved === '..' || resolved.startsWith('../')) throw new GitImportError(`${prefix} is a symlink to ${target}, which leaves the repository: refused`)
        if (resolved === '.' || resolved.split('/').some((p) => p.toLowerCase() === '.git')) throw new GitImportError(`${prefix} is a symlink to ${target}, which is not a file of the repository: refused`)
        redirected = resolved
        break
      }
      if (!last) {
        if (entry.type !== 'tree') return undefined
        continue
      }
      if (entry.mode === SUBMODULE) throw new GitImportError(`${prefix} is a submodule, not a file`)
      if (entry.type !== 'blob') throw new GitImportError(`${prefix} is a directory, not a file`)
      if (entry.size > maxBytes) throw new GitImportError(`${prefix} is ${entry.size} bytes, over the limit of ${maxBytes} bytes: refused`)
      const text = await source.blob(entry.oid)
      return { path: prefix, oid: entry.oid, text }
    }
    if (redirected === undefined) return undefined
    current = redirected
  }
}

/** Parses one NUL-terminated record of `git ls-tree -l -z`: `<mode> <type> <oid> <size>\t<path>`. */
export function parseLsTree(record: string): TreeEntry | undefined {
  const m = /^(\d{6}) (blob|tree|commit) ([0-9a-f]{40,64}) +(-|\d+)\t/.exec(record)
  if (!m) return undefined
  return { mode: m[1]!, type: m[2] as TreeEntry['type'], oid: m[3]!, size: m[4] === '-' ? 0 : Number(m[4]) }
}
