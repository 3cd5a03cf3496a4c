import type { Kysely, Transaction } from 'kysely'
import type { Database } from '../db/schema.js'
import type { EnvCodec, StoredVarSet, VarChange } from './env-codec.js'
import type { EnvVarSetInput } from './env-var-schema.js'
import { inTransaction } from '../db/in-transaction.js'

export type EnvLevel = 'fleet' | 'device'

export interface ContainerChange {
  container: string
  changes: VarChange[]
}

// Both tables have the same shape and differ only in the owner column. Queries
// are typed against fleet_env_vars; the names below pick the real table at run time.
const tables = {
  fleet: { table: 'fleet_env_vars', owner: 'fleet_id' },
  device: { table: 'device_env_vars', owner: 'device_id' },
} as const

type Db = Kysely<Database> | Transaction<Database>

/** Fleet and device variables, one JSONB set per owner and container, secrets sealed. */
export function createEnvStore(deps: { db: Kysely<Database>; codec: EnvCodec }) {
  const { db, codec } = deps

  function from(level: EnvLevel) {
    return { table: tables[level].table as 'fleet_env_vars', owner: tables[level].owner as 'fleet_id' }
  }

  async function list(level: EnvLevel, ownerId: string, tx: Db = db): Promise<Record<string, StoredVarSet>> {
    const { table, owner } = from(level)
    const rows = await tx.selectFrom(table).select(['container_name', 'env_vars']).where(owner, '=', ownerId).orderBy('container_name').execute()
    const out: Record<string, StoredVarSet> = {}
    for (const row of rows) out[row.container_name] = row.env_vars as StoredVarSet
    return out
  }

  async function get(level: EnvLevel, ownerId: string, container: string, tx: Db = db, lock = false): Promise<StoredVarSet | undefined> {
    const { table, owner } = from(level)
    let q = tx.selectFrom(table).select('env_vars').where(owner, '=', ownerId).where('container_name', '=', container)
    if (lock) q = q.forUpdate()
    const row = await q.executeTakeFirst()
    return row?.env_vars as StoredVarSet | undefined
  }

  /** Replaces one container's set. An empty set removes the row: empty and absent mean the same. */
  async function write(tx: Transaction<Database>, level: EnvLevel, ownerId: string, container: string, input: EnvVarSetInput, field: string) {
    const { table, owner } = from(level)
    const before = await get(level, ownerId, container, tx, true)
    const after = codec.seal(input, before, field)
    if (Object.keys(after).length === 0) {
      await tx.deleteFrom(table).where(owner, '=', ownerId).where('container_name', '=', container).execute()
    } else {
      const json = JSON.stringify(after)
      await tx
        .insertInto(table)
        .values({ [owner]: ownerId, container_name: container, env_vars: json } as { fleet_id: string; container_name: string; env_vars: string })
        .onConflict((oc) => oc.columns([owner, 'container_name']).doUpdateSet({ env_vars: json, updated_at: new Date() }))
        .execute()
    }
    return { container, changes: codec.changes(before, after), after }
  }

  async function put(level: EnvLevel, ownerId: string, container: string, input: EnvVarSetInput) {
    return inTransaction(db, (tx) => write(tx, level, ownerId, container, input, 'vars'))
  }

  async function remove(level: EnvLevel, ownerId: string, container: string): Promise<ContainerChange | undefined> {
    const { table, owner } = from(level)
    const row = await db
      .deleteFrom(table)
      .where(owner, '=', ownerId)
      .where('container_name', '=', container)
      .returning('env_vars')
      .executeTakeFirst()
    if (!row) return undefined
    return { container, changes: codec.changes(row.env_vars as StoredVarSet, undefined) }
  }

  /** Replaces each named container's set, all or nothing. Containers not named are left alone. */
  async function importSets(level: EnvLevel, ownerId: string, containers: Record<string, EnvVarSetInput>): Promise<ContainerChange[]> {
    return inTransaction(db, async (tx) => {
      const out: ContainerChange[] = []
      for (const [container, vars] of Object.entries(containers)) {
        const { changes } = await write(tx, level, ownerId, container, vars, `containers.${container}.vars`)
        out.push({ container, changes })
      }
      return out
    })
  }

  return { list, get, put, remove, importSets }
}

export type EnvStore = ReturnType<typeof createEnvStore>
