import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createSecretBox } from '../../server/secrets/secret-box.js'
import { loadMasterKey } from '../../server/secrets/master-key.js'

t.test('seal and open round-trip; tampering is detected', async (t) => {
  const box = createSecretBox(randomBytes(32))
  const sealed = box.seal('hunter2 – ünïcode')
  t.notMatch(sealed, /hunter2/)
  t.equal(box.open(sealed), 'hunter2 – ünïcode')
  t.not(box.seal('same'), box.seal('same'), 'a fresh IV every time')
  const parts = sealed.split('.')
  parts[3] = Buffer.from('garbage').toString('base64url')
  t.throws(() => box.open(parts.join('.')))
  t.throws(() => createSecretBox(randomBytes(32)).open(sealed), 'another key cannot open it')
})

t.test('the master key is generated once, 0600, and derived keys are stable', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'et-key-'))
  const a = loadMasterKey({ dataDir })
  t.equal(statSync(path.join(dataDir, 'secret.key')).mode & 0o777, 0o600)
  const b = loadMasterKey({ dataDir })
  t.same(a.derive('x'), b.derive('x'), 'reloaded key derives the same')
  t.notSame(a.derive('x'), a.derive('y'), 'purposes are separated')
  const configured = loadMasterKey({ dataDir: '/nonexistent', configuredKey: randomBytes(32).toString('base64') })
  t.equal(configured.derive('x').length, 32)
})
