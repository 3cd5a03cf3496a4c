import t from 'tap'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import type { Database } from '../../server/db/schema.js'
import { createGatewayEvents } from '../../server/events/gateway-events.js'
import { createRouteTable } from '../../server/proxy/route-table.js'
import { createPostgresDatabase } from '../lib/databases.js'

/**
 * The proxy's route cache on real PostgreSQL: resolveNow (the synchronous fast path) answers only what
 * resolve has loaded, agrees with it, and forgets with it on every change.
 */
t.test('resolveNow answers what resolve loaded, the same way, and forgets it on a change', async (t) => {
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: await createPostgresDatabase(t), max: 2 }) }) })
  t.teardown(() => db.destroy())
  const events = createGatewayEvents()
  const routes = createRouteTable({ db, events, baseDomain: 'example.test' })
  t.teardown(() => routes.close())
  const device = await db.insertInto('devices').values({ device_id: 'kiosk-1', name: 'Kiosk', subdomain: 'kiosk-1' }).returning('id').executeTakeFirstOrThrow()
  await db.insertInto('exposed_services').values({ device_id: device.id, name: 'web', container_name: 'web', internal_port: 80, auth_required: false }).execute()
  await db.insertInto('exposed_services').values({ device_id: device.id, name: 'api', container_name: 'api', internal_port: 8080, url_path: '/api' }).execute()

  t.same(routes.resolveNow('web.kiosk-1.example.test', '/'), undefined, 'nothing loaded yet: the caller takes the long way')
  t.same(routes.resolveNow('console.other.test', '/'), { kind: 'unknown' }, 'a host outside the base domain needs no load')
  t.same(routes.resolveNow('a.b.kiosk-1.example.test', '/'), { kind: 'unknown' }, 'nor a name no device could have')

  const cases: [string, string][] = [
    ['web.kiosk-1.example.test', '/'],
    ['api.kiosk-1.example.test', '/x'],
    ['nope.kiosk-1.example.test', '/'],
    ['kiosk-1.example.test', '/api/items'],
    ['kiosk-1.example.test', '/apiary'],
  ]
  for (const [host, path] of cases) {
    const loaded = await routes.resolve(host, path)
    t.same(routes.resolveNow(host, path), loaded, `${host}${path}: the same answer without waiting (${loaded.kind})`)
  }
  t.match(routes.resolveNow('kiosk-1.example.test', '/api/items'), { kind: 'route', stripPrefix: '/api' })
  await routes.resolve('ghost.example.test', '/')
  t.same(routes.resolveNow('ghost.example.test', '/'), { kind: 'unknown' }, 'an unknown subdomain, once looked up, is known to be unknown')

  await db.updateTable('exposed_services').set({ enabled: false }).where('name', '=', 'web').execute()
  events.emit('service.changed', { device_uuid: device.id })
  t.same(routes.resolveNow('web.kiosk-1.example.test', '/'), undefined, 'a change forgets what was loaded')
  t.same(await routes.resolve('web.kiosk-1.example.test', '/'), { kind: 'disabled', device: { id: device.id, device_id: 'kiosk-1', subdomain: 'kiosk-1' } })
  t.match(routes.resolveNow('web.kiosk-1.example.test', '/'), { kind: 'disabled' }, 'and the next load is what it answers')
})

t.test('a load still running when the cache is cleared never becomes what resolveNow answers', async (t) => {
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: await createPostgresDatabase(t), max: 2 }) }) })
  t.teardown(() => db.destroy())
  const events = createGatewayEvents()
  const routes = createRouteTable({ db, events, baseDomain: 'example.test' })
  t.teardown(() => routes.close())
  const device = await db.insertInto('devices').values({ device_id: 'kiosk-2', name: 'Kiosk', subdomain: 'kiosk-2' }).returning('id').executeTakeFirstOrThrow()
  await db.insertInto('exposed_services').values({ device_id: device.id, name: 'web', container_name: 'web', internal_port: 80 }).execute()
  const stale = routes.resolve('web.kiosk-2.example.test', '/')
  routes.invalidate()
  t.match(await stale, { kind: 'route' })
  t.same(routes.resolveNow('web.kiosk-2.example.test', '/'), undefined, 'the load from before the change is not kept')
})
