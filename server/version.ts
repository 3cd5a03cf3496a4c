import { createRequire } from 'node:module'

/** The package version, read once from package.json. */
export function packageVersion(): string {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version
  } catch {
    return createRequire(import.meta.url)('../package.json').version
  }
}
