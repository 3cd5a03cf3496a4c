import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { renderIgnition } from '../../ignition/render-ignition.js'
import { renderButane } from '../../ignition/render-butane.js'
import { USER_CA_DROPIN_PATH, USER_CA_PATH } from '../../ignition/device-files.js'
import { filesOf, ignitionValidate, sampleInput } from '../lib/ignition-config.js'
import { newKeyPair } from '../lib/keys.js'
import { sshdConfigLines } from '../lib/openssh.js'

// The gateway's SSH user CA on the device: a CA file and an sshd_config.d drop-in trusting it.
const ca = newKeyPair('ca').publicKey
const withCa = () => sampleInput({ gateway: { ...sampleInput().gateway, userCaPublicKey: ca } })

t.test('with a user CA, the config installs it and an sshd drop-in that trusts it', async (t) => {
  const files = filesOf(renderIgnition(withCa()))
  const caFile = files.get(USER_CA_PATH)
  t.equal(caFile?.mode, 420, 'the CA public key, 0644')
  t.equal(caFile?.text, `${ca.split(' ').slice(0, 2).join(' ')} edgetainer-user-ca\n`)
  const dropIn = files.get(USER_CA_DROPIN_PATH)
  t.equal(dropIn?.mode, 420)
  t.match(dropIn?.text, new RegExp(`^TrustedUserCAKeys ${USER_CA_PATH}$`, 'm'))
  t.match(renderButane(withCa()), USER_CA_DROPIN_PATH, 'the Butane export carries it too')

  const none = filesOf(renderIgnition(sampleInput()))
  t.notOk(none.has(USER_CA_PATH) || none.has(USER_CA_DROPIN_PATH), 'no CA given, nothing written')
})

t.test('ignition-validate accepts the config with the CA files', async (t) => {
  const result = await ignitionValidate(renderIgnition(withCa()))
  t.ok(result.ok, 'valid')
  t.equal(result.report, '', 'no warnings')
})

t.test("a stock sshd accepts the drop-in's syntax (sshd -t)", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-dropin-'))
  const hostKey = path.join(dir, 'host_key')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  const caPath = path.join(dir, 'edgetainer_user_ca.pub')
  const files = filesOf(renderIgnition(withCa()))
  writeFileSync(caPath, files.get(USER_CA_PATH)!.text!)
  const dropIn = path.join(dir, 'dropin.conf')
  writeFileSync(dropIn, files.get(USER_CA_DROPIN_PATH)!.text!.replace(USER_CA_PATH, caPath))
  const config = path.join(dir, 'sshd_config')
  writeFileSync(config, [`Include ${dropIn}`, ...sshdConfigLines(2222, dir, hostKey)].join('\n') + '\n')
  const effective = execFileSync('/usr/sbin/sshd', ['-T', '-f', config], { encoding: 'utf8' })
  t.match(effective, new RegExp(`^trustedusercakeys ${caPath}$`, 'm'), 'sshd reads TrustedUserCAKeys from the drop-in')
})

t.test('an extra file may not take the CA paths', async (t) => {
  t.throws(() => renderIgnition({ ...withCa(), extraFiles: [{ path: USER_CA_PATH, contents: 'ssh-ed25519 AAAA evil\n' }] }), /written by the gateway itself/)
})
