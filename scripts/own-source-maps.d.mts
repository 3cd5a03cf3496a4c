// Types for own-source-maps.mjs (a plain script, so bundle.mjs runs it before anything is compiled).
export interface SourceMapV3 {
  version: 3
  sources: string[]
  names: string[]
  mappings: string
}
export function ownCodeMap(map: SourceMapV3): SourceMapV3 | undefined
export function trimSourceMaps(dir: string): void
