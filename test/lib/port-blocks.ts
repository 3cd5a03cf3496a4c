import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

const lockDir = path.join(tmpdir(), 'edgetainer-test-port-blocks')

function holderAlive(lockFile: string): boolean {
  try {
    const pid = Number(readFileSync(lockFile, 'utf8'))
    if (!pid) return false
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: the process exists, it is just not ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Reserves a block of 100 ports (`start-end`) that no other test process holds, for a gateway's
 * device port range. Test files run in parallel, and two gateways handing out the same device
 * port would refuse each other's forwards. A lock file per block, created exclusively, holds the
 * reservation; a block whose holder died is taken over. Blocks lie below the kernel's ephemeral
 * range (32768+), so no outgoing connection takes their ports.
 */
export function reservePortBlock(t: Teardown, from: number, blocks: number): string {
  mkdirSync(lockDir, { recursive: true })
  const order = Array.from({ length: blocks }, (_, i) => i).sort(() => Math.random() - 0.5)
  for (const index of order) {
    const start = from + index * 100
    const lockFile = path.join(lockDir, String(start))
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(lockFile, 'wx')
        writeSync(fd, String(process.pid))
        closeSync(fd)
        t.teardown(() => unlinkSync(lockFile))
        return `${start}-${start + 99}`
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || holderAlive(lockFile)) break
        // A crashed test run left it behind: take it over.
        try {
          unlinkSync(lockFile)
        } catch {}
      }
    }
  }
  throw new Error(`all ${blocks} test port blocks from ${from} are reserved by running test processes`)
}
