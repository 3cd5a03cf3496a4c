import { existsSync } from 'node:fs'
import path from 'node:path'

/**
 * The checkout's root, found by walking up to the Makefile next to package.json: the same whether a test
 * runs from its TypeScript source (test/…, through tsx) or compiled (dist/test/…, as `make test` runs it).
 */
function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'Makefile'))) return dir
    if (path.dirname(dir) === dir) throw new Error(`no checkout root (package.json and Makefile) above ${from}`)
  }
}

export const repoRoot = findRoot(import.meta.dirname)
