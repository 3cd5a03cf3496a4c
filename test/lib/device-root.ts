import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execFileSync } from 'node:child_process'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface DeviceProcess {
  child: ChildProcess
  /** Everything the process wrote, stdout and stderr interleaved. */
  output(): string
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>
}

export interface DeviceRoot {
  /** The device's `/`, where the test applies the Ignition config. */
  root: string
  /** Runs argv chrooted into the device root with an empty environment, as a service on first boot. */
  start(argv: string[]): DeviceProcess
}

/** What the base image provides from this machine; the rest of the device's / is what Ignition writes. */
const BASE_ETC = ['passwd', 'group', 'hosts', 'nsswitch.conf', 'os-release']

/**
 * Runs inside a private mount namespace, so nothing here is visible on, or
 * left behind on, the host: /usr is this machine's behind an overlay that
 * puts `docker` in /usr/bin (where Flatcar has it) and deletes `node` (which
 * Flatcar does not have); /proc, /dev and /run (the docker socket) are the
 * host's. Then the service's argv is exec'd chrooted, environment empty.
 */
const NAMESPACE_SCRIPT = `set -e
root=$1; base=$2; shift 2
/usr/bin/mount -t overlay overlay -o "lowerdir=/usr,upperdir=$base/usr-upper,workdir=$base/usr-work" "$root/usr"
/usr/bin/mount -t proc proc "$root/proc"
/usr/bin/mount --rbind /dev "$root/dev"
/usr/bin/mount --rbind /sys "$root/sys"
/usr/bin/mount --bind /run "$root/run"
/usr/bin/mount -t tmpfs tmpfs "$root/tmp"
exec /usr/sbin/chroot "$root" "$@"
`

function which(name: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/**
 * A Flatcar-like root directory for playing a device's first boot: the
 * system's binaries and libraries, docker, no Node.js, and nothing of
 * Edgetainer's until the test applies the Ignition config to `root`.
 */
export function createDeviceRoot(t: Teardown): DeviceRoot {
  const root = mkdtempSync(path.join(tmpdir(), 'edgetainer-device-root-'))
  const base = mkdtempSync(path.join(tmpdir(), 'edgetainer-device-base-'))
  const processes: DeviceProcess[] = []
  t.teardown(async () => {
    for (const p of processes) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue
      // As systemd stops a service: SIGTERM, then SIGKILL if it does not end in time.
      p.child.kill('SIGTERM')
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000)
      await p.exited
      clearTimeout(timer)
    }
    // Safe: the mounts lived in the device's private namespace, gone with its last process.
    rmSync(root, { recursive: true, force: true })
    rmSync(base, { recursive: true, force: true })
  })

  for (const dir of ['usr', 'proc', 'dev', 'sys', 'run', 'tmp', 'etc', 'root', 'var/lib', 'home']) mkdirSync(path.join(root, dir), { recursive: true })
  for (const link of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${link}`, path.join(root, link))
  symlinkSync('../run', path.join(root, 'var/run'))
  for (const file of BASE_ETC) if (existsSync(`/etc/${file}`)) copyFileSync(`/etc/${file}`, path.join(root, 'etc', file))

  mkdirSync(path.join(base, 'usr-upper', 'bin'), { recursive: true })
  mkdirSync(path.join(base, 'usr-work'))
  const docker = which('docker')
  if (!docker) throw new Error('docker is not on PATH')
  if (!docker.startsWith('/usr/bin/')) symlinkSync(realpathSync(docker), path.join(base, 'usr-upper', 'bin', 'docker'))
  // An overlay whiteout (a 0:0 character device) deletes node from the device's /usr, wherever it sits.
  for (const dir of ['bin', 'sbin', 'local/bin']) {
    for (const name of ['node', 'nodejs']) {
      if (!existsSync(`/usr/${dir}/${name}`)) continue
      mkdirSync(path.join(base, 'usr-upper', dir), { recursive: true })
      execFileSync('mknod', [path.join(base, 'usr-upper', dir, name), 'c', '0', '0'])
    }
  }

  function start(argv: string[]): DeviceProcess {
    // env -i, not just env: {}: tap's process hooks add NODE_OPTIONS and friends to every child's environment.
    const child = spawn('/usr/bin/env', ['-i', '/usr/bin/unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', NAMESPACE_SCRIPT, 'device-boot', root, base, ...argv], {
      env: {},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const proc = { child, output: () => output, exited }
    processes.push(proc)
    return proc
  }

  return { root, start }
}
