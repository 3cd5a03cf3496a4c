import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

/** The test image: busybox-static in an otherwise empty root, so `httpd`, `sh`, `sleep` … are there. No registry is involved. */
export const TEST_IMAGE = 'edgetainer-test/busybox:1'

function imageExists(): boolean {
  return spawnSync('docker', ['image', 'inspect', TEST_IMAGE], { stdio: 'ignore' }).status === 0
}

/**
 * Builds the test image once per machine with `docker import` of a root
 * filesystem holding /bin/busybox and its applet links. Test files running
 * in parallel may both build it; the result is the same image.
 */
export function ensureTestImage(): string {
  if (imageExists()) return TEST_IMAGE
  const root = mkdtempSync(path.join(tmpdir(), 'et-rootfs-'))
  try {
    for (const dir of ['bin', 'tmp', 'www', 'etc']) mkdirSync(path.join(root, dir), { recursive: true })
    chmodSync(path.join(root, 'tmp'), 0o1777)
    copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'))
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755)
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox')
    for (const applet of applets) symlinkSync('busybox', path.join(root, 'bin', applet))
    execFileSync('sh', ['-c', `tar -C '${root}' -c . | docker import -c 'ENV PATH=/bin' - ${TEST_IMAGE}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
  return TEST_IMAGE
}
