import t from 'tap'
import { createCloseStack } from '../../server/lifecycle/close-stack.js'
import { createLogger } from '../../server/logger.js'

t.test('the close stack closes in reverse start order, past a failing part, once', async (t) => {
  const closed: string[] = []
  const stack = createCloseStack(createLogger('silent'))
  stack.push('database', () => void closed.push('database'))
  stack.push('http', async () => {
    closed.push('http')
    throw new Error('boom')
  })
  stack.push('ssh', () => void closed.push('ssh'))
  t.same(stack.pending(), ['ssh', 'http', 'database'], 'last started is first to close')
  await Promise.all([stack.unwind(), stack.unwind()])
  await stack.unwind()
  t.same(closed, ['ssh', 'http', 'database'], 'every part closed once, in reverse, although http failed')
  t.throws(() => stack.push('late', () => {}), /the gateway is closing/, 'nothing starts once closing began')
})
