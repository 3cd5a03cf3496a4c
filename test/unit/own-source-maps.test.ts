import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { decode, encode } from '@jridgewell/sourcemap-codec'
import t from 'tap'
import { ownCodeMap, trimSourceMaps } from '../../scripts/own-source-maps.mjs'

const dependency = '../../../node_modules/dep/src/index.ts'
const own = '../../server/thing.ts'

t.test("a test bundle's map keeps our code's mappings only, with sources and names renumbered", async (t) => {
  const map = {
    version: 3 as const,
    sources: [dependency, own],
    names: ['depName', 'ownName'],
    mappings: encode([
      // A line that starts in a dependency and goes on in our code.
      [[0, 0, 0, 0, 0], [10, 1, 5, 2, 1]],
      [[0, 1, 6, 0]],
      // Dependency code only: nothing of it is left.
      [[0, 0, 1, 0], [4, 0, 1, 4]],
      // Our code, then a dependency's: the dependency's columns become unmapped rather than ours.
      [[0, 1, 7, 0], [8, 0, 2, 0], [12, 0, 2, 4]],
    ]),
  }
  const trimmed = ownCodeMap(map)
  t.ok(trimmed)
  t.same(trimmed!.sources, [own])
  t.same(trimmed!.names, ['ownName'])
  t.same(decode(trimmed!.mappings), [[[10, 0, 5, 2, 0]], [[0, 0, 6, 0]], [], [[0, 0, 7, 0], [8]]])
  t.equal(ownCodeMap({ version: 3, sources: [dependency], names: [], mappings: encode([[[0, 0, 0, 0]]]) }), undefined, 'nothing of ours: no map')
})

t.test('on disk: a bundle of dependencies only loses its map and its sourceMappingURL; ours is rewritten', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-maps-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'deps.js'), 'export const a = 1\n//# sourceMappingURL=deps.js.map\n')
  writeFileSync(path.join(dir, 'deps.js.map'), JSON.stringify({ version: 3, sources: [dependency], names: [], mappings: encode([[[0, 0, 0, 0]]]) }))
  writeFileSync(path.join(dir, 'ours.js'), 'export const b = 2\n//# sourceMappingURL=ours.js.map\n')
  writeFileSync(path.join(dir, 'ours.js.map'), JSON.stringify({ version: 3, sources: [dependency, own], names: [], mappings: encode([[[0, 0, 0, 0], [7, 1, 0, 0]]]) }))
  trimSourceMaps(dir)
  t.notOk(existsSync(path.join(dir, 'deps.js.map')))
  t.equal(readFileSync(path.join(dir, 'deps.js'), 'utf8'), 'export const a = 1\n', 'no pointer to a map that is gone')
  t.equal(readFileSync(path.join(dir, 'ours.js'), 'utf8'), 'export const b = 2\n//# sourceMappingURL=ours.js.map\n')
  const ours = JSON.parse(readFileSync(path.join(dir, 'ours.js.map'), 'utf8'))
  t.same(ours.sources, [own])
  t.same(decode(ours.mappings), [[[7, 0, 0, 0]]])
})

t.test("a stack trace in this file still names this file's TypeScript source and line", async (t) => {
  // Compiled (make test: a bundle, trimmed maps, --enable-source-maps) or from source (tsx): either way.
  const line = Number(new Error('here').stack!.split('\n')[1]!.match(/own-source-maps\.test\.ts:(\d+):\d+/)?.[1])
  t.equal(line, 52, 'the frame is this line of this file')
})
