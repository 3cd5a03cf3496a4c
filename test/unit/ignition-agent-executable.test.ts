import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { AGENT_EXECUTABLE_NAME, AGENT_NOT_BUILT_MESSAGE, AgentExecutableUnavailableError, createAgentExecutable } from '../../server/provision/agent-executable.js'
import { statusOf } from '../../server/error-codes.js'

function tempDir(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-agent-dir-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Writes an "executable" and its hash the way scripts/build-agent.sh does: temp files renamed into place. */
function publish(dir: string, bytes: Buffer, hash = createHash('sha512').update(bytes).digest('hex')) {
  const file = path.join(dir, AGENT_EXECUTABLE_NAME)
  writeFileSync(`${file}.tmp`, bytes)
  writeFileSync(`${file}.sha512.tmp`, `${hash}\n`)
  renameSync(`${file}.tmp`, file)
  renameSync(`${file}.sha512.tmp`, `${file}.sha512`)
  return hash
}

t.test('nothing built: a 503 that says to run make agent', async (t) => {
  const agent = createAgentExecutable({ dir: path.join(tempDir(t), 'missing') })
  t.equal(agent.isBuilt(), false)
  const err = await agent.info().catch((e) => e)
  t.ok(err instanceof AgentExecutableUnavailableError)
  t.equal(statusOf(err.code), 503)
  t.equal(err.code, 'AGENT_NOT_BUILT')
  t.equal(err.message, AGENT_NOT_BUILT_MESSAGE)
  t.match(err.message, /make agent/)
})

t.test('a build is served with the hash the gateway computed itself', async (t) => {
  const dir = tempDir(t)
  const agent = createAgentExecutable({ dir })
  const bytes = Buffer.from('#!/bin/sh\necho agent v1\n'.repeat(10_000))
  const hash = publish(dir, bytes)
  t.equal(agent.isBuilt(), true)
  t.same(await agent.info(), { sha512: hash, size: bytes.length })

  const opened = await agent.open()
  t.teardown(() => opened.handle.close().catch(() => {}))
  const chunks: Buffer[] = []
  for await (const chunk of opened.handle.createReadStream({ start: 0 })) chunks.push(chunk as Buffer)
  t.same(Buffer.concat(chunks), bytes, 'the opened file is the one that was hashed')

  const v2 = Buffer.from('echo agent v2\n')
  const hash2 = publish(dir, v2)
  t.same(await agent.info(), { sha512: hash2, size: v2.length }, 'a rebuild is picked up without a restart')
})

t.test('a file that does not match its .sha512 is never served', async (t) => {
  const dir = tempDir(t)
  const agent = createAgentExecutable({ dir })
  publish(dir, Buffer.from('half-written'), 'ef'.repeat(64))
  const mismatch = await agent.open().catch((e) => e)
  t.equal(statusOf(mismatch.code), 503)
  t.match(mismatch.message, /does not match its \.sha512.*make agent/)

  unlinkSync(path.join(dir, `${AGENT_EXECUTABLE_NAME}.sha512`))
  const noHash = await agent.info().catch((e) => e)
  t.equal(statusOf(noHash.code), 503)
  t.match(noHash.message, /no valid edgetainer-agent-linux-x64\.sha512.*make agent/)
})
