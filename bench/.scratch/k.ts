import ssh2 from 'ssh2'
import { parsePublicKey } from '../../server/devices/device-keys.ts'
const p = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'scale-00001' })
console.log(JSON.stringify(p.public))
try { console.log(parsePublicKey(p.public)) } catch (e) { console.log('ERR', (e as Error).message) }
const q = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'bench-tp' })
console.log(parsePublicKey(q.public))
console.log(ssh2.utils.parseKey(p.public))
