import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/** What a commit does to one file: new text, a symlink to a target, or removal (null). */
export type FileChange = string | { symlink: string } | null

export interface TestRepo {
  /** Folder holding bare repositories (what the git servers serve). */
  root: string
  /** The bare repository, `<root>/<name>.git`. */
  bare: string
  name: string
  /** Commits the changes in a working clone and pushes them to the bare repository's main; returns the commit SHA. */
  push(files: Record<string, FileChange>, message: string, author?: string): string
  /** Tags the last commit (annotated) and pushes the tag. */
  tag(name: string): void
}

/** git for the test's own side (working clone, pushes), with no user or system config. */
export function testGit(args: string[], cwd: string, home: string): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LANG: 'C' },
  }).trim()
}

/** A folder for bare repositories, removed at teardown. */
export function createRepoRoot(t: Teardown): string {
  const root = mkdtempSync(path.join(tmpdir(), 'et-git-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  return root
}

/** A bare repository `<root>/<name>.git` with a working clone that pushes to it. */
export function createTestRepo(root: string, name = 'stack'): TestRepo {
  const home = path.join(root, `.${name}-home`)
  const work = path.join(root, `.${name}-work`)
  mkdirSync(home)
  const bare = path.join(root, `${name}.git`)
  testGit(['init', '--quiet', '--bare', '--initial-branch=main', bare], root, home)
  testGit(['init', '--quiet', '--initial-branch=main', work], root, home)
  return {
    root,
    bare,
    name,
    push(files, message, author = 'Dana Dev <dana@example.com>') {
      for (const [file, change] of Object.entries(files)) {
        const full = path.join(work, file)
        rmSync(full, { force: true, recursive: true })
        if (change === null) continue
        mkdirSync(path.dirname(full), { recursive: true })
        if (typeof change === 'string') writeFileSync(full, change)
        else symlinkSync(change.symlink, full)
      }
      testGit(['add', '-A'], work, home)
      testGit(['-c', 'user.name=Tester', '-c', 'user.email=tester@example.com', 'commit', '--quiet', '--allow-empty', `--author=${author}`, '-m', message], work, home)
      testGit(['push', '--quiet', '--force', bare, 'HEAD:refs/heads/main'], work, home)
      return testGit(['rev-parse', 'HEAD'], work, home)
    },
    tag(tagName) {
      testGit(['-c', 'user.name=Tester', '-c', 'user.email=tester@example.com', 'tag', '-a', '-m', tagName, tagName], work, home)
      testGit(['push', '--quiet', bare, `refs/tags/${tagName}`], work, home)
    },
  }
}
