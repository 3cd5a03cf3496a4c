// Trims the test bundles' source maps to our own code (scripts/bundle.mjs tests calls it).
//
// Why: under `node --enable-source-maps` every process reads and parses the map of each chunk it loads,
// and the first stack trace that crosses a chunk decodes all of that chunk's mappings. Most of those
// mappings were tap's, fast-check's and other dependencies' (esbuild even chains their own maps back to
// their TypeScript), and tap takes a stack at every test. Measured on a unit test file: 0.75 CPU-s with
// the full maps, 0.54 with none. A failure in our code still names test/… and server/… lines; a frame
// inside a dependency names its bundle line, which is what it was before the bundle anyway (node_modules).
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { decode, encode } from '@jridgewell/sourcemap-codec'

const isDependency = (source) => /(^|\/)node_modules\//.test(source)

/** The map with only our sources' mappings, or undefined when nothing of ours is left in it. */
export function ownCodeMap(map) {
  const keptSources = new Map()
  const keptNames = new Map()
  const sources = []
  const names = []
  const index = (kept, list, value, original) => {
    if (!kept.has(original)) {
      kept.set(original, list.length)
      list.push(value)
    }
    return kept.get(original)
  }
  const lines = decode(map.mappings).map((segments) =>
    segments.map((segment) => {
      if (segment.length === 1 || isDependency(map.sources[segment[1]])) return [segment[0]]
      const mapped = [segment[0], index(keptSources, sources, map.sources[segment[1]], segment[1]), segment[2], segment[3]]
      if (segment.length === 5) mapped.push(index(keptNames, names, map.names[segment[4]], segment[4]))
      return mapped
    }),
  )
  if (!sources.length) return undefined
  // A run of unmapped segments says no more than the first of them.
  const compact = lines.map((segments) => segments.filter((s, i) => !(s.length === 1 && (i === 0 || segments[i - 1].length === 1))))
  return { version: 3, sources, names, mappings: encode(compact) }
}

/** Rewrites every `.js.map` under `dir`; a bundle left with no map of ours loses its map and its sourceMappingURL. */
export function trimSourceMaps(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js.map')) continue
    const mapFile = path.join(entry.parentPath ?? entry.path, entry.name)
    const trimmed = ownCodeMap(JSON.parse(readFileSync(mapFile, 'utf8')))
    if (trimmed) {
      writeFileSync(mapFile, JSON.stringify(trimmed))
      continue
    }
    rmSync(mapFile)
    const jsFile = mapFile.slice(0, -'.map'.length)
    const js = readFileSync(jsFile, 'utf8')
    writeFileSync(jsFile, js.replace(/\n\/\/# sourceMappingURL=[^\n]*\n?$/, '\n'))
  }
}
