import fc from 'fast-check'
import t from 'tap'
import { formatSelector, labelsSchema, matchesSelector, parseSelector, SelectorError, type Requirement } from '../../server/devices/label-selector.js'

const err = (text: string) => {
  try {
    parseSelector(text)
  } catch (e) {
    return e instanceof SelectorError ? e.message : `not a SelectorError: ${String(e)}`
  }
  return 'parsed'
}

t.test('the Kubernetes operators parse', async (t) => {
  t.same(parseSelector('site=north,hw in (pi4, pi5)'), [
    { key: 'site', op: 'eq', values: ['north'] },
    { key: 'hw', op: 'in', values: ['pi4', 'pi5'] },
  ])
  t.same(parseSelector(' a==1 , b!=2,c notin (x),d,!e,f= '), [
    { key: 'a', op: 'eq', values: ['1'] },
    { key: 'b', op: 'ne', values: ['2'] },
    { key: 'c', op: 'notin', values: ['x'] },
    { key: 'd', op: 'exists', values: [] },
    { key: 'e', op: 'absent', values: [] },
    { key: 'f', op: 'eq', values: [''] },
  ])
  t.same(parseSelector(''), [], 'the empty selector matches everything')
  t.same(parseSelector('example.com/zone=eu-1'), [{ key: 'example.com/zone', op: 'eq', values: ['eu-1'] }])
})

t.test('errors say what was expected and where', async (t) => {
  t.match(err('site=north,'), /expected a label key at the end/)
  t.match(err('hw in pi4'), /expected "\(" after in at position 7, found "pi4"/)
  t.match(err('hw in (pi4'), /expected "," or "\)" at the end/)
  t.match(err('site north'), /expected "=", "==", "!=", "in", "notin" or "," at position 6, found "north"/)
  t.match(err('site=no;rth'), /unexpected character ";" at position 8/)
  t.match(err('-site=x'), /"-site" at position 1 is not a valid label key/)
  t.match(err('a=b=c'), /expected "," at position 4/)
  t.match(err('a in ()'), /expected a label value at position 7/)
  t.match(err('x'.repeat(3000)), /at most 2000 characters/)
})

t.test('matching follows Kubernetes: != and notin match devices without the key', async (t) => {
  const labels = { site: 'north', hw: 'pi4' }
  const m = (s: string, l: Record<string, string> = labels) => matchesSelector(parseSelector(s), l)
  t.ok(m('site=north,hw in (pi4,pi5)'))
  t.notOk(m('site=south'))
  t.ok(m('site!=south'))
  t.ok(m('zone!=eu'), 'missing key matches !=')
  t.ok(m('zone notin (eu)'))
  t.notOk(m('hw notin (pi4)'))
  t.ok(m('hw'))
  t.notOk(m('!hw'))
  t.notOk(m('toString'), 'object prototype names are not labels')
  t.ok(m(''))
})

t.test('label maps are validated', async (t) => {
  t.ok(labelsSchema.safeParse({ site: 'north', 'example.com/hw': 'pi-4', empty: '' }).success)
  t.notOk(labelsSchema.safeParse({ 'bad key': 'x' }).success)
  t.notOk(labelsSchema.safeParse({ k: 'bad value' }).success)
  t.notOk(labelsSchema.safeParse({ k: 'x'.repeat(64) }).success)
  t.notOk(labelsSchema.safeParse(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))).success)
})

const word = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,6}[a-z0-9])?$/).filter((w) => w !== 'in' && w !== 'notin')
const requirement: fc.Arbitrary<Requirement> = fc.oneof(
  fc.record({ key: word, op: fc.constantFrom('eq' as const, 'ne' as const), values: fc.tuple(word) }),
  fc.record({ key: word, op: fc.constantFrom('in' as const, 'notin' as const), values: fc.array(word, { minLength: 1, maxLength: 4 }) }),
  fc.record({ key: word, op: fc.constantFrom('exists' as const, 'absent' as const), values: fc.constant([] as []) }),
)

t.test('fuzz: any text parses or fails with a SelectorError; parse ∘ format is the identity', async (t) => {
  let n = 0
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.stringMatching(/^[a-z0-9 =!,()._/-]{0,40}$/), fc.constantFrom('in', 'notin', '!', '(', 'a in (b,', '!=x')), (text) => {
      n++
      try {
        const parsed = parseSelector(text)
        if (JSON.stringify(parseSelector(formatSelector(parsed))) !== JSON.stringify(parsed)) throw new Error(`round trip changed ${JSON.stringify(text)}`)
      } catch (e) {
        if (!(e instanceof SelectorError)) throw e
      }
    }),
    { numRuns: 3000 },
  )
  fc.assert(
    fc.property(fc.array(requirement, { minLength: 1, maxLength: 5 }), fc.dictionary(word, word, { maxKeys: 5 }), (reqs, labels) => {
      n++
      const reparsed = parseSelector(formatSelector(reqs))
      if (JSON.stringify(reparsed) !== JSON.stringify(reqs)) throw new Error(`format/parse changed ${formatSelector(reqs)}`)
      return matchesSelector(reparsed, labels) === matchesSelector(reqs, labels)
    }),
    { numRuns: 2000 },
  )
  t.comment(`ran ${n} cases`)
  t.pass('no input escaped as anything but a SelectorError')
})
