import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { renderButane } from '../../ignition/render-butane.js'
import { renderIgnition } from '../../ignition/render-ignition.js'
import { filesOf, privateKeyMarkers, sampleInput } from '../lib/ignition-config.js'
import { newKeyPair } from '../lib/keys.js'

interface ButaneFile {
  path: string
  overwrite: boolean
  mode: number
  contents: { inline?: string; source?: string; verification?: { hash: string } }
}

t.test('Butane export says the same as the Ignition config, in Butane’s flatcar 1.0.0 terms', async (t) => {
  const input = sampleInput({
    sshAuthorizedKeys: [newKeyPair('admin').publicKey],
    network: { address: '10.0.0.9/16', gateway: '10.0.0.1', dns: ['10.0.0.1'] },
    extraFiles: [{ path: '/etc/issue.d/site.issue', contents: 'Site: north\n', mode: 0o644 }],
  })
  const text = renderButane(input)
  const doc = parseYaml(text)
  t.equal(doc.variant, 'flatcar')
  t.equal(doc.version, '1.0.0', 'the Butane version that translates to Ignition 3.3.0')

  const ignition = renderIgnition(input)
  const files = filesOf(ignition)
  const butaneFiles = doc.storage.files as ButaneFile[]
  t.same(butaneFiles.map((f) => f.path), [...files.keys()], 'the same files, in the same order')
  for (const f of butaneFiles) {
    const expected = files.get(f.path)!
    t.equal(f.mode, expected.mode, `${f.path}: the same decimal mode`)
    t.equal(f.overwrite, expected.overwrite)
    if (expected.text !== undefined) t.equal(f.contents.inline, expected.text, `${f.path}: inline text equals the decoded data URL`)
    else t.same(f.contents, { source: expected.source, verification: { hash: expected.hash } }, `${f.path}: the same download and hash`)
  }
  t.same(doc.systemd.units, ignition.systemd.units, 'the same unit')
  t.same(
    doc.passwd.users,
    ignition.passwd.users.map((u) => ({ name: u.name, ssh_authorized_keys: u.sshAuthorizedKeys })),
    'the same user and keys, under Butane’s snake_case name',
  )
  t.notMatch(text, /mode: 0\d/, 'modes are decimal, never a leading-zero octal that YAML versions read differently')
  t.same(privateKeyMarkers(text), [])
})
