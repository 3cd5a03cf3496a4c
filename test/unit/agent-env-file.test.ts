import t from 'tap'
import { encodeEnvFile, sameEnv } from '../../agent/deploy/env-file.js'

t.test('values are single-quoted with backslash and quote escaped; bad names are left out', async (t) => {
  t.equal(
    encodeEnvFile({ B: 'plain', A: "it's $HOME \\ # not a comment", 'BAD NAME': 'x', '1X': 'y', MULTI: 'line1\nline2' }),
    "A='it\\'s $HOME \\\\ # not a comment'\nB='plain'\nMULTI='line1\nline2'\n",
  )
  t.equal(encodeEnvFile({}), '')
})

t.test('environments compare by content', async (t) => {
  t.ok(sameEnv({ A: '1', B: '2' }, { B: '2', A: '1' }))
  t.notOk(sameEnv({ A: '1' }, { A: '1', B: '' }))
  t.notOk(sameEnv({ A: '1' }, { A: '2' }))
  t.ok(sameEnv(undefined, {}))
})
