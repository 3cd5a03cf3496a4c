import { execFileSync, spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { connects, sshdConfigLines } from './openssh.js'
import { freePort } from './ports.js'
import { waitFor } from './wait.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface GitSshServer {
  port: number
  /** `ssh-ed25519 AAAA…` of the server's host key. */
  hostPublicKey: string
  /** Lets a public key in, for git only: its sessions run `git-shell -c "$SSH_ORIGINAL_COMMAND"`. */
  allowKey(publicKey: string): void
  /** A remote URL for a bare repository (an absolute path on this host). */
  urlFor(bare: string): string
}

/**
 * A git host over SSH: a stock sshd on 127.0.0.1 whose authorized keys are
 * restricted to `git-shell` (authorized_keys `command=` plus `restrict`), as
 * a `git` user's login shell would be. It runs as the test's own user, so no
 * system user is created; git-shell allows nothing but git's upload/receive-pack.
 */
export async function startGitSshServer(t: Teardown): Promise<GitSshServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-git-sshd-'))
  const hostKey = path.join(dir, 'ssh_host_ed25519_key')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  const authorized = path.join(dir, 'authorized_keys')
  writeFileSync(authorized, '', { mode: 0o600 })
  const port = await freePort()
  writeFileSync(path.join(dir, 'sshd_config'), [...sshdConfigLines(port, dir, hostKey), 'PermitUserEnvironment no', 'AcceptEnv GIT_PROTOCOL'].join('\n') + '\n')
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await waitFor(`git sshd on ${port}`, () => connects(port)).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr.trim()}`)
  })
  const user = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim()
  return {
    port,
    hostPublicKey: readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' '),
    allowKey(publicKey) {
      appendFileSync(authorized, `restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${publicKey.trim()}\n`)
    },
    urlFor: (bare) => `ssh://${user}@127.0.0.1:${port}${bare}`,
  }
}
