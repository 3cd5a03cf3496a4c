import ssh2 from 'ssh2'

/**
 * An ed25519 key pair in OpenSSH format. ssh2 1.17's generateKeyPairSync
 * strips every leading zero byte of the 32-byte public key (lib/keygen.js,
 * "Remove leading zero bytes"), so about 1 key in 256 comes out 31 bytes long
 * and is refused by every parser. Such a pair is drawn again.
 */
export function newEd25519KeyPair(comment: string): { privateKey: string; publicKey: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment })
    const parsed = ssh2.utils.parseKey(pair.public)
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    // string "ssh-ed25519" (4 + 11) + string key (4 + 32)
    if (key && !(key instanceof Error) && key.getPublicSSH().length === 51) return { privateKey: pair.private, publicKey: pair.public }
  }
}
