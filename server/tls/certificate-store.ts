import { sql, type Kysely } from 'kysely'
import type { Database, TlsCertificateRow } from '../db/schema.js'
import type { SecretBox } from '../secrets/secret-box.js'
import type { CertificateInfo } from './certificate-info.js'

export interface StoredAccount {
  accountUrl: string
  keyPem: string
  email: string | null
}

export interface IssuedCertificate {
  hosts: string[]
  directoryUrl: string
  certPem: string
  keyPem: string
  info: CertificateInfo
  renewAfter: Date
}

/** A row without the sealed key: what listings and scheduling read. */
export type CertificateSummary = Omit<TlsCertificateRow, 'key_sealed' | 'cert_pem'> & { has_certificate: boolean }

const summaryColumns = [
  'name',
  'hosts',
  'directory_url',
  'serial',
  'issuer',
  'not_before',
  'not_after',
  'renew_after',
  'ari_next_check',
  'failures',
  'last_error',
  'next_attempt_at',
  'lease_owner',
  'lease_until',
  'created_at',
  'updated_at',
] as const

/**
 * ACME accounts and certificates in the database. Private keys are sealed
 * with the gateway's master key before they are written and opened only here.
 */
export function createCertificateStore(deps: { db: Kysely<Database>; secretBox: SecretBox; owner: string }) {
  const { db, secretBox, owner } = deps
  const json = (value: unknown) => JSON.stringify(value)

  async function getAccount(directoryUrl: string): Promise<StoredAccount | undefined> {
    const row = await db.selectFrom('acme_accounts').selectAll().where('directory_url', '=', directoryUrl).executeTakeFirst()
    return row && { accountUrl: row.account_url, keyPem: secretBox.open(row.key_sealed), email: row.email }
  }

  /** Stores a new account unless another gateway stored one first; returns the one that is stored. */
  async function saveAccount(directoryUrl: string, account: StoredAccount): Promise<StoredAccount> {
    await db
      .insertInto('acme_accounts')
      .values({ directory_url: directoryUrl, account_url: account.accountUrl, email: account.email, key_sealed: secretBox.seal(account.keyPem) })
      .onConflict((oc) => oc.column('directory_url').doNothing())
      .execute()
    return (await getAccount(directoryUrl))!
  }

  async function setAccountEmail(directoryUrl: string, email: string | null): Promise<void> {
    await db.updateTable('acme_accounts').set({ email, updated_at: sql`now()` as never }).where('directory_url', '=', directoryUrl).execute()
  }

  function get(name: string): Promise<TlsCertificateRow | undefined> {
    return db.selectFrom('tls_certificates').selectAll().where('name', '=', name).executeTakeFirst()
  }

  function openKey(row: Pick<TlsCertificateRow, 'key_sealed'>): string {
    if (!row.key_sealed) throw new Error('certificate has no key')
    return secretBox.open(row.key_sealed)
  }

  async function summaries(): Promise<CertificateSummary[]> {
    const rows = await db
      .selectFrom('tls_certificates')
      .select([...summaryColumns, sql<boolean>`cert_pem is not null`.as('has_certificate')])
      .orderBy('name')
      .execute()
    return rows
  }

  /** Rows with a certificate written at or after `since` (database clock), for syncing the in-memory cache. */
  function changedSince(since: Date | undefined): Promise<TlsCertificateRow[]> {
    let q = db.selectFrom('tls_certificates').selectAll().where('cert_pem', 'is not', null)
    if (since) q = q.where('updated_at', '>=', since)
    return q.execute()
  }

  /**
   * Takes the lease on a name so that gateways sharing the database do not
   * order it twice. One statement, so it is atomic without a long transaction.
   */
  async function claim(name: string, hosts: string[], leaseMs: number): Promise<boolean> {
    const until = sql`now() + ${`${Math.ceil(leaseMs / 1000)} seconds`}::interval`
    const row = await db
      .insertInto('tls_certificates')
      .values({ name, hosts: json(hosts), lease_owner: owner, lease_until: until as never })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ lease_owner: owner, lease_until: until as never })
          .where((eb) => eb.or([eb('tls_certificates.lease_until', 'is', null), eb('tls_certificates.lease_until', '<', sql<Date>`now()`)])),
      )
      .returning('name')
      .executeTakeFirst()
    return Boolean(row)
  }

  async function saveIssued(name: string, issued: IssuedCertificate): Promise<void> {
    await db
      .updateTable('tls_certificates')
      .set({
        hosts: json(issued.hosts),
        directory_url: issued.directoryUrl,
        cert_pem: issued.certPem,
        key_sealed: secretBox.seal(issued.keyPem),
        serial: issued.info.serial,
        issuer: issued.info.issuer,
        not_before: issued.info.notBefore,
        not_after: issued.info.notAfter,
        renew_after: issued.renewAfter,
        ari_next_check: null,
        failures: 0,
        last_error: null,
        next_attempt_at: null,
        lease_owner: null,
        lease_until: null,
        updated_at: sql`now()` as never,
      })
      .where('name', '=', name)
      .execute()
  }

  async function saveFailure(name: string, error: string, nextAttemptAt: Date): Promise<number> {
    const row = await db
      .updateTable('tls_certificates')
      .set((eb) => ({
        failures: eb('failures', '+', 1),
        last_error: error,
        next_attempt_at: nextAttemptAt,
        lease_owner: null,
        lease_until: null,
      }))
      .where('name', '=', name)
      .returning('failures')
      .executeTakeFirst()
    return row?.failures ?? 1
  }

  /** Gives a lease back without touching the certificate (nothing needed doing after all). */
  async function release(name: string): Promise<void> {
    await db.updateTable('tls_certificates').set({ lease_owner: null, lease_until: null }).where('name', '=', name).where('lease_owner', '=', owner).execute()
  }

  async function remove(name: string): Promise<void> {
    await db.deleteFrom('tls_certificates').where('name', '=', name).execute()
  }

  async function releaseAll(): Promise<void> {
    await db.updateTable('tls_certificates').set({ lease_owner: null, lease_until: null }).where('lease_owner', '=', owner).execute()
  }

  /** ARI moved the renewal time, or asked to be checked again later. */
  async function setRenewal(name: string, serial: string, renewAfter: Date | undefined, ariNextCheck: Date): Promise<void> {
    await db
      .updateTable('tls_certificates')
      .set({ ...(renewAfter ? { renew_after: renewAfter } : {}), ari_next_check: ariNextCheck })
      .where('name', '=', name)
      .where('serial', '=', serial)
      .execute()
  }

  return { getAccount, saveAccount, setAccountEmail, get, openKey, summaries, changedSince, claim, saveIssued, saveFailure, release, remove, releaseAll, setRenewal }
}

export type CertificateStore = ReturnType<typeof createCertificateStore>
