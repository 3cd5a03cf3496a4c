import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The package's root folder (the one holding package.json), found by walking up from this module.
 * It works wherever the module runs from: server/ through tsx, or a chunk of a bundle (dist/cli/bundle,
 * dist/test), whose depth differs from the source's.
 */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir)
  return dir
}
