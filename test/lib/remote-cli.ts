import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { repoRoot } from './repo-root.js'

/**
 * The real launcher, as users run it. It runs the bundles in dist/cli/bundle, which `make test` builds
 * first; after changing the gateway or the CLI, `make assets` before running one test file on its own.
 */
export const EDGETAINER_BIN = path.join(repoRoot, 'bin/edgetainer')

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/**
 * Runs `bin/edgetainer` in a clean environment: its own HOME and
 * XDG_CONFIG_HOME (so no test reads a developer's login), PATH, and what the
 * test adds. Nothing of the test process (NODE_OPTIONS, its loaders) leaks in.
 */
export function createCliRunner(t: Teardown, base: Record<string, string> = {}) {
  const home = mkdtempSync(path.join(tmpdir(), 'et-cli-home-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const env = { PATH: process.env.PATH!, HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg'), EDGETAINER_TIMEOUT: '15', ...base }

  async function run(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
    const r = await execa(EDGETAINER_BIN, args, {
      env: { ...env, ...options.env },
      extendEnv: false,
      input: options.input ?? '',
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
      stripFinalNewline: false,
    })
    return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
  }

  return { home, env, configDir: path.join(home, 'xdg', 'edgetainer'), run }
}

/** What every failure of the CLI must look like: one line naming the problem, no stack, no terminal control. */
export function isOneLineError(stderr: string): boolean {
  return /^edgetainer: [^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr) && !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(stderr)
}
