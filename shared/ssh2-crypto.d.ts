// ssh2's packet cipher and constants modules, which ship no typings: shared/ssh2-internals.ts is their one user and states their shape there.
declare module 'ssh2/lib/protocol/crypto.js' {
  const sshCrypto: unknown
  export default sshCrypto
}
declare module 'ssh2/lib/protocol/constants.js' {
  const sshConstants: unknown
  export default sshConstants
}
