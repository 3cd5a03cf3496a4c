import { startTestGateway } from '../test/lib/test-gateway.js'
const teardowns: (() => unknown)[] = []
const t = { teardown: (fn: () => unknown) => teardowns.push(fn) }
for (const dialect of ['postgres', 'postgres', 'pglite', 'pglite', 'postgres'] as const) {
  const u0 = process.cpuUsage(); const s = Date.now()
  const gw = await startTestGateway(t, dialect)
  const u1 = process.cpuUsage(u0)
  for (const fn of teardowns.splice(0).reverse()) await fn()
  const u2 = process.cpuUsage(u0)
  console.log(dialect, 'start', ((u1.user + u1.system) / 1e6).toFixed(2), 'start+close', ((u2.user + u2.system) / 1e6).toFixed(2), 'wall', Date.now() - s)
}
