import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import path from 'node:path'

/**
 * Flushes a directory's entries to disk: a rename or a new file is only
 * durable once its directory is, or a power cut can bring back the old name.
 */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Writes through a temporary file: write, fsync the file, rename over the
 * target, fsync the directory. After a crash or a power cut the file holds
 * the old content or the new, never half of one, and a write that returned
 * is on disk.
 */
export function writeFileAtomic(file: string, content: string | Buffer, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', mode)
  try {
    const buffer = typeof content === 'string' ? Buffer.from(content) : content
    for (let off = 0; off < buffer.length; ) off += writeSync(fd, buffer, off)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw err
  }
  closeSync(fd)
  renameSync(tmp, file)
  fsyncDir(path.dirname(file))
}
