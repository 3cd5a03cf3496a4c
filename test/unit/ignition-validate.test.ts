import t from 'tap'
import { renderIgnition } from '../../ignition/render-ignition.js'
import { ignitionValidate, sampleInput } from '../lib/ignition-config.js'
import { newKeyPair } from '../lib/keys.js'

// Debian's ignition-validate (package `ignition`, installed by scripts/test-services.sh) is the judge.
t.test('ignition-validate accepts every shape of config the renderer makes', async (t) => {
  const shapes = {
    minimal: sampleInput({ hostname: undefined }),
    dhcp: sampleInput({ network: { dhcp: true }, sshAuthorizedKeys: [newKeyPair('a').publicKey, newKeyPair('b').publicKey] }),
    static: sampleInput({ network: { address: '192.168.1.20/24', gateway: '192.168.1.1', dns: ['1.1.1.1'] } }),
    extras: sampleInput({ extraFiles: [{ path: '/etc/motd.d/10-site.conf', contents: 'hello\n', mode: 0o600 }] }),
    plainHttp: sampleInput({ agentExecutable: { url: 'http://10.0.0.1:8080/api/provision/agent/linux-x64', sha512: 'cd'.repeat(64) } }),
  }
  for (const [name, input] of Object.entries(shapes)) {
    const result = await ignitionValidate(renderIgnition(input))
    t.ok(result.ok, `${name}: valid`)
    t.equal(result.report, '', `${name}: no warnings either`)
  }
})

t.test('the validator is a real judge: it refuses what Ignition would refuse', async (t) => {
  const config = renderIgnition(sampleInput()) as unknown as Record<string, any>
  const octalMode = structuredClone(config)
  octalMode.storage.files[0].mode = '0644'
  t.notOk((await ignitionValidate(octalMode)).ok, 'a mode given as an octal string')
  const badHash = structuredClone(config)
  badHash.storage.files[2].contents.verification.hash = 'sha512-xyz'
  t.notOk((await ignitionValidate(badHash)).ok, 'a malformed hash')
  const newer = structuredClone(config)
  newer.ignition.version = '3.4.0'
  t.notOk((await ignitionValidate(newer)).ok, 'spec 3.4.0, which Debian’s 2.14 does not know')
})
