// ssh2's packet cipher module, which ships no typings: shared/ssh2-internals.ts is its one user and states its shape there.
declare module 'ssh2/lib/protocol/crypto.js' {
  const sshCrypto: unknown
  export default sshCrypto
}
