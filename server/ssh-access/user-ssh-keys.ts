import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { parsePublicKey } from '../devices/device-keys.js'
import { ConflictError, NotFoundError, ValidationError } from '../errors.js'

export interface UserSshKeyView {
  id: string
  user_id: string
  name: string
  public_key: string
  fingerprint: string
  last_used_at: Date | null
  created_at: Date
}

const columns = ['id', 'user_id', 'name', 'public_key', 'fingerprint', 'last_used_at', 'created_at'] as const

/** `SHA256:…` of an SSH key blob, as `ssh-keygen -lf` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/**
 * Strict checks on a user's public key: one OpenSSH public-key line of an
 * accepted type (ed25519, ECDSA, RSA ≥ 2048 bits). A private key, a
 * certificate offered as a key, or several lines are each refused by name.
 */
export function parseUserPublicKey(text: string): { line: string; fingerprint: string } {
  const trimmed = text.trim()
  if (/PRIVATE KEY/.test(trimmed)) throw new ValidationError('public_key', 'this is a private key; send the public key (.pub) only')
  if (/\r|\n/.test(trimmed)) throw new ValidationError('public_key', 'must be exactly one OpenSSH public key line')
  if (/-cert-v01@openssh\.com/.test(trimmed.split(/\s+/)[0] ?? '')) {
    throw new ValidationError('public_key', 'this is a certificate; register the plain public key it was issued for')
  }
  return parsePublicKey(trimmed)
}

/** SSH public keys of console users: what the jump host accepts for `u:<username>`. */
export function createUserSshKeys(deps: { db: Kysely<Database> }) {
  const { db } = deps

  async function add(userId: string, input: { name: string; public_key: string }): Promise<UserSshKeyView> {
    const { line, fingerprint } = parseUserPublicKey(input.public_key)
    const taken = await db.selectFrom('user_ssh_keys').select('user_id').where('fingerprint', '=', fingerprint).executeTakeFirst()
    // Which user holds it is not said: that would tell anyone who owns a given key.
    if (taken) throw new ConflictError(`key ${fingerprint} is already registered`, 'SSH_KEY_EXISTS', 'public_key')
    // Two concurrent adds of one key: the unique index decides, and the loser hears a 409 CONFLICT (database-errors.ts).
    return db.insertInto('user_ssh_keys').values({ user_id: userId, name: input.name, public_key: line, fingerprint }).returning(columns).executeTakeFirstOrThrow()
  }

  function list(userId: string): Promise<UserSshKeyView[]> {
    return db.selectFrom('user_ssh_keys').select(columns).where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute()
  }

  async function remove(userId: string, keyId: string): Promise<UserSshKeyView> {
    const row = await db.deleteFrom('user_ssh_keys').where('id', '=', keyId).where('user_id', '=', userId).returning(columns).executeTakeFirst()
    if (!row) throw new NotFoundError('SSH_KEY_NOT_FOUND', 'SSH key')
    return row
  }

  /** The key a user authenticates with, found by its blob's fingerprint; undefined when it is not theirs. */
  function findForUser(userId: string, blob: Buffer): Promise<UserSshKeyView | undefined> {
    return db.selectFrom('user_ssh_keys').select(columns).where('user_id', '=', userId).where('fingerprint', '=', sshFingerprint(blob)).executeTakeFirst()
  }

  async function touch(keyId: string): Promise<void> {
    await db.updateTable('user_ssh_keys').set({ last_used_at: new Date() }).where('id', '=', keyId).execute()
  }

  return { add, list, remove, findForUser, touch }
}

export type UserSshKeys = ReturnType<typeof createUserSshKeys>
