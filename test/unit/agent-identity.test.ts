import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createIdentityStore, IdentityCorruptError, type Registration } from '../../agent/identity/identity-store.js'

function dataDir(t: { teardown(fn: () => void): void }) {
  const d = mkdtempSync(path.join(tmpdir(), 'et-identity-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function registered(store: ReturnType<typeof createIdentityStore>, publicKey?: string): void {
  const registration: Registration = {
    id: '00000000-0000-4000-8000-000000000001',
    device_id: 'dev-0123456789',
    name: 'pump-1',
    fleet_id: null,
    ssh: { host: '127.0.0.1', port: 2222 },
    host_key: 'ssh-ed25519 AAAA',
    ssh_port: 20000,
    subdomain: 'dev-0123456789',
    server_url: 'http://127.0.0.1:8080',
    registered_at: new Date().toISOString(),
    ...(publicKey ? { public_key: publicKey } : {}),
  }
  store.saveRegistration(registration)
}

t.test('an unregistered device makes a key once and keeps it; a torn .pub is rebuilt from the private key', async (t) => {
  const d = dataDir(t)
  const store = createIdentityStore(d)
  const first = store.keyPair()
  t.match(first.publicKey, /^ssh-ed25519 [A-Za-z0-9+/]+=*$/)
  t.same(store.keyPair(), first, 'the same key on the next start')
  writeFileSync(`${store.keyFile}.pub`, 'ssh-ed25')
  t.equal(store.keyPair().publicKey, first.publicKey)
  t.equal(readFileSync(`${store.keyFile}.pub`, 'utf8').trim(), first.publicKey, '.pub rewritten')
  t.equal(readFileSync(store.keyFile, 'utf8'), first.privateKey)
})

t.test('an unregistered device whose key file is damaged may make a new one: nothing knows the old one', async (t) => {
  const store = createIdentityStore(dataDir(t))
  store.keyPair()
  writeFileSync(store.keyFile, '')
  t.match(store.keyPair().publicKey, /^ssh-ed25519 /)
})

for (const [what, damage] of [
  ['missing', (file: string) => unlinkSync(file)],
  ['empty', (file: string) => writeFileSync(file, '')],
  ['corrupt', (file: string) => writeFileSync(file, '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n')],
] as const) {
  t.test(`a registered device whose key is ${what} refuses to start and says to re-provision`, async (t) => {
    const store = createIdentityStore(dataDir(t))
    const keys = store.keyPair()
    registered(store, keys.publicKey)
    damage(store.keyFile)
    t.throws(() => store.keyPair(), IdentityCorruptError)
    t.throws(() => store.keyPair(), { message: /registered as dev-0123456789.*will not make a new key.*Re-provision/s })
    t.throws(() => store.keyPair(), { message: /id_ed25519/ }, 'names the file')
  })
}

t.test('a registered device with a different key than it registered refuses too', async (t) => {
  const d = dataDir(t)
  const store = createIdentityStore(d)
  store.keyPair()
  registered(store, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOtherKeyOtherKeyOtherKeyOtherKeyOt')
  t.throws(() => store.keyPair(), { name: 'IdentityCorruptError', message: /not the key it registered with/ })
})

t.test('a damaged registration file stops the agent with a clear message, not a parse error', async (t) => {
  const d = dataDir(t)
  const store = createIdentityStore(d)
  store.keyPair()
  writeFileSync(path.join(d, 'identity', 'registration.json'), '{"device_id": "dev-')
  t.throws(() => store.registration(), { name: 'IdentityCorruptError', message: /registration\.json is damaged.*Re-provision/s })
})
