import { PGlite } from '@electric-sql/pglite'
import { readFileSync } from 'node:fs'
const seedBytes = readFileSync(process.argv[2])
const share = process.argv[3] === 'share'
const mod = share ? await WebAssembly.compile(readFileSync('node_modules/@electric-sql/pglite/dist/pglite.wasm')) : undefined
const fsBundle = share ? new Blob([readFileSync('node_modules/@electric-sql/pglite/dist/pglite.data')]) : undefined
for (let i = 0; i < 4; i++) {
  const u0 = process.cpuUsage(); const s = Date.now()
  const db = await PGlite.create({ loadDataDir: new Blob([seedBytes]), pgliteWasmModule: mod, fsBundle })
  await db.query('select count(*) from devices')
  const u = process.cpuUsage(u0)
  console.log(share ? 'shared' : 'fresh', i, ((u.user + u.system) / 1e6).toFixed(2), Date.now() - s)
  await db.close()
}
