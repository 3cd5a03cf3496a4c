import ssh2 from 'ssh2'

/**
 * ssh2 1.17's generateKeyPairSync strips every leading zero byte of an
 * ed25519 public key ("Remove leading zero bytes" in lib/keygen.js), so about
 * one key in 256 comes out 31 bytes long and no SSH client accepts it. Such a
 * pair is drawn again.
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment })
    const parsed = ssh2.utils.parseKey(pair.public)
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    // string "ssh-ed25519" (4 + 11) + string key (4 + 32)
    if (key && !(key instanceof Error) && key.getPublicSSH().length === 51) return pair
  }
}
