import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createOutbox } from '../../agent/outbox/outbox.js'
import { cleanEvent, cleanText, MAX_TEXT } from '../../agent/outbox/clean-text.js'
import type { OutboxEventInput } from '../../shared/agent-wire.js'

const logger = createAgentLogger('silent')
const at = '2026-01-01T00:00:00.000Z'
const log = (line: string): OutboxEventInput => ({ kind: 'log', at, container: 'web', stream: 'stdout', line })
const result = (version: string): OutboxEventInput => ({ kind: 'deploy', at, software_id: '00000000-0000-4000-8000-000000000001', name: 'app', version, status: 'running', error: null })

function dir(t: { teardown(fn: () => void): void }) {
  const d = mkdtempSync(path.join(tmpdir(), 'et-outbox-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

t.test('events are numbered, kept in order and forgotten once acknowledged', async (t) => {
  const box = createOutbox({ dir: dir(t), maxBytes: 1 << 20, logger })
  const appended = box.append([log('a'), result('1'), log('b')])
  t.same(appended.map((e) => e.seq), [1, 2, 3])
  t.same(box.peek(2, 1 << 20).events.map((e) => e.seq), [1, 2], 'peek takes the oldest first, up to the limit')
  box.ack(2, 0)
  t.same(box.peek(10, 1 << 20).events.map((e) => e.seq), [3])
  t.equal(box.pending, 1)
  box.ack(2, 0)
  t.equal(box.pending, 1, 'a repeated acknowledgement changes nothing')
  box.close()
})

t.test('the outbox survives a restart, including a write torn by a crash', async (t) => {
  const d = dir(t)
  const first = createOutbox({ dir: d, maxBytes: 1 << 20, logger })
  const id = first.id
  first.append([log('a'), log('b'), log('c')])
  first.ack(1, 0)
  first.close()
  appendFileSync(path.join(d, 'events.log'), '{"seq":4,"kind":"lo')
  const second = createOutbox({ dir: d, maxBytes: 1 << 20, logger })
  t.equal(second.id, id, 'same outbox id')
  t.same(second.peek(10, 1 << 20).events.map((e) => (e.kind === 'log' ? e.line : '')), ['b', 'c'], 'acknowledged and torn entries are gone')
  t.same(second.append([log('d')]).map((e) => e.seq), [4], 'numbering continues')
  second.close()
})

t.test('over its size it drops the oldest log lines, counts them, and never drops results', async (t) => {
  const d = dir(t)
  const box = createOutbox({ dir: d, maxBytes: 64 * 1024, logger })
  box.append([result('1')])
  for (let i = 0; i < 2000; i++) box.append([log(`line ${i} ${'x'.repeat(40)}`)])
  box.append([result('2')])
  t.ok(box.bytes <= 64 * 1024, `within bounds: ${box.bytes}`)
  t.ok(box.dropped > 0, `${box.dropped} dropped`)
  const events = box.peek(5000, 1 << 30).events
  t.same(events.filter((e) => e.kind === 'deploy').map((e) => (e.kind === 'deploy' ? e.version : '')), ['1', '2'], 'results kept')
  const lines = events.filter((e) => e.kind === 'log').map((e) => Number(e.kind === 'log' ? e.line.split(' ')[1] : -1))
  t.equal(lines.at(-1), 1999, 'the newest lines are kept')
  t.equal(lines.length + box.dropped, 2000, 'every line is either kept or counted')
  t.same(lines, [...lines].sort((a, b) => a - b), 'order kept')
  const dropped = box.dropped
  box.close()
  const reopened = createOutbox({ dir: d, maxBytes: 64 * 1024, logger })
  t.equal(reopened.dropped, dropped, 'the dropped count survives a restart')
  const batch = reopened.peek(10, 1 << 20)
  reopened.ack(batch.events.at(-1)!.seq, batch.dropped)
  t.equal(reopened.dropped, 0, 'reported drops are cleared once acknowledged')
  reopened.close()
})

t.test('acknowledged entries are compacted away on disk', async (t) => {
  const d = dir(t)
  const box = createOutbox({ dir: d, maxBytes: 16 << 20, logger })
  for (let i = 0; i < 5000; i++) box.append([log(`${i} ${'y'.repeat(100)}`)])
  const before = statSync(path.join(d, 'events.log')).size
  box.ack(4990, 0)
  const after = statSync(path.join(d, 'events.log')).size
  t.ok(after < before / 10, `${before} → ${after} bytes`)
  t.same(box.peek(100, 1 << 20).events.map((e) => e.seq), [4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999, 5000])
  box.append([log('after compaction')])
  box.close()
  const reopened = createOutbox({ dir: d, maxBytes: 16 << 20, logger })
  t.equal(reopened.pending, 11)
  reopened.close()
})

const state = (container: string, s: string): OutboxEventInput => ({ kind: 'container', at, container, service: container, state: s, health: null, previous: null })
const notice = (message: string): OutboxEventInput => ({ kind: 'agent', at, message })

t.test('NUL and broken UTF-16 are cleaned before they reach the disk', async (t) => {
  const d = dir(t)
  const box = createOutbox({ dir: d, maxBytes: 1 << 20, logger })
  box.append([log('a\u0000b'), log('half \ud83d pair'), result('v\u0000'), log('whole 😀 pair')])
  const lines = box.peek(10, 1 << 20).events.map((e) => (e.kind === 'log' ? e.line : e.kind === 'deploy' ? e.version : ''))
  t.same(lines, ['a\u2400b', 'half \ufffd pair', 'v\u2400', 'whole 😀 pair'])
  t.notOk(readFileSync(path.join(d, 'events.log'), 'utf8').includes('\\u0000'), 'no NUL on disk')
  box.close()
})

t.test('events the gateway rejects are quarantined on disk, counted, and never sent again', async (t) => {
  const d = dir(t)
  const box = createOutbox({ dir: d, maxBytes: 1 << 20, logger })
  box.append([log('ok'), log('poison'), result('1'), log('after')])
  box.ack({ acked_seq: 3, rejected: [{ seq: 2, code: 'INVALID_EVENT', error: 'line: bad' }] }, 0)
  t.same(box.peek(10, 1 << 20).events.map((e) => e.seq), [4], 'stored and rejected events are both gone from the queue')
  t.equal(box.quarantined, 1)
  const q = readFileSync(path.join(d, 'quarantine.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  t.match(q, [{ code: 'INVALID_EVENT', error: 'line: bad', event: { seq: 2, kind: 'log', line: 'poison' } }])
  box.quarantineHead('TIMEOUT', 'kept failing')
  t.equal(box.pending, 0, 'the head can be set aside too')
  box.close()
  const reopened = createOutbox({ dir: d, maxBytes: 1 << 20, logger })
  t.equal(reopened.quarantined, 2, 'the count survives a restart')
  t.equal(reopened.pending, 0, 'quarantined events do not come back')
  reopened.close()
})

t.test('the cap bounds every kind: container flaps coalesce, notices go, deploy results stay', async (t) => {
  const box = createOutbox({ dir: dir(t), maxBytes: 64 * 1024, logger })
  box.append([result('first')])
  // In bursts of 50 (each append of a non-log event is an fsync).
  for (let b = 0; b < 30; b++) {
    box.append(Array.from({ length: 50 }, (_, k) => b * 50 + k).flatMap((i) => [state(`c${i % 3}`, i % 2 ? 'running' : 'exited'), notice(`restart ${i} ${'n'.repeat(30)}`)]))
  }
  box.append([result('last')])
  t.ok(box.bytes <= 64 * 1024, `within bounds: ${box.bytes}`)
  const events = box.peek(100_000, 1 << 30).events
  t.same(events.filter((e) => e.kind === 'deploy').map((e) => (e.kind === 'deploy' ? e.version : '')), ['first', 'last'], 'deploy results never dropped')
  const latest = new Map<string, string>()
  for (let i = 0; i < 1500; i++) latest.set(`c${i % 3}`, i % 2 ? 'running' : 'exited')
  for (const [container, s] of latest) {
    const states = events.flatMap((e) => (e.kind === 'container' && e.container === container ? [e.state] : []))
    t.equal(states.at(-1), s, `${container}: its latest state is kept`)
  }
  t.ok(box.dropped > 0, `${box.dropped} counted as dropped`)
  t.same(events.map((e) => e.seq), [...events.map((e) => e.seq)].sort((a, b) => a - b), 'order kept')
  box.close()
})

t.test('cleanText: container bytes that are not UTF-8, NUL, split pairs; long text is cut, not refused', async (t) => {
  const decoded = Buffer.from([0x61, 0xff, 0xc0, 0x00, 0x62]).toString('utf8')
  t.equal(cleanText(decoded), 'a\ufffd\ufffd\u2400b')
  t.equal(cleanText('\udc00x\ud800'), '\ufffdx\ufffd')
  t.equal(cleanText('fine 😀'), 'fine 😀')
  const long = cleanEvent({ kind: 'agent', at, message: 'y'.repeat(MAX_TEXT - 1) + '😀' + 'z'.repeat(10) })
  t.ok(long.message.length < MAX_TEXT + 40, 'cut')
  t.match(long.message, /… \[cut: \d+ characters\]$/)
  t.notMatch(long.message, /[\ud800-\udbff](?![\udc00-\udfff])/, 'not through a surrogate pair')
})
