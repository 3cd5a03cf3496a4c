import { readFileSync } from 'node:fs'
import path from 'node:path'
import { packageRoot } from './package-root.js'

let version: string | undefined
/** The package version, read once from package.json. (The agent executable's bundler replaces this module with its version.) */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version
  return version
}
