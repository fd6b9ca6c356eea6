// The matching and substitution rules of tests/conformance/README.md, as run_node.mjs implements
// them (no server needed).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { messageInput, mismatch, substitute, withBase } from '../../tests/conformance/run_node.mjs'

const ok = (pattern, value) => assert.equal(mismatch(pattern, value, '$'), null, JSON.stringify([pattern, value]))
const bad = (pattern, value, where) => {
  const why = mismatch(pattern, value, '$')
  assert.ok(why, `expected a mismatch for ${JSON.stringify([pattern, value])}`)
  if (where) assert.ok(why.startsWith(`${where}:`), why)
}

test('objects match on the pattern keys; null matches missing or null', () => {
  ok({ a: 1 }, { a: 1, b: 2 })
  ok({ a: null }, {})
  ok({ a: null }, { a: null })
  bad({ a: null }, { a: 0 }, '$.a')
  bad({ a: { b: 'x' } }, { a: { b: 'y' } }, '$.a.b')
  bad({ a: 1 }, [1], '$')
})

test('arrays match element by element with the same length', () => {
  ok([1, 'a'], [1, 'a'])
  bad([1], [1, 2], '$')
  bad([1, 2], [1, 3], '$[1]')
})

test('$contains, $any and $has', () => {
  ok({ $contains: 'bc' }, 'abcd')
  bad({ $contains: 'x' }, 'abc')
  bad({ $contains: '1' }, 1)
  ok({ a: { $any: true } }, { a: 0 })
  bad({ a: { $any: true } }, {}, '$.a')
  bad({ a: { $any: true } }, { a: null }, '$.a')
  ok({ $has: [{ name: 'auth' }, 'x'] }, [{ name: 'auth', ok: true }, 'x', 'y'])
  bad({ $has: [{ name: 'tls' }] }, [{ name: 'auth' }])
})

test('scalars: numbers by value, no coercion between types', () => {
  ok(535, 535.0)
  bad(535, '535')
  bad(true, 1)
  bad('1', 1)
})

test('substitution: ${NAME} in strings, #{NAME} as JSON, missing variables throw', () => {
  const vars = { H: '127.0.0.1', P: '2525', B: '{"port": 1}' }
  assert.deepEqual(substitute({ s: 'smtp://${H}:${P}', p: '#{P}', b: '#{B}', n: [1, true] }, vars), {
    s: 'smtp://127.0.0.1:2525',
    p: 2525,
    b: { port: 1 },
    n: [1, true],
  })
  assert.throws(() => substitute('${NOPE}', vars), (e) => e.message === 'NOPE')
  assert.deepEqual(withBase({ $base: { a: 1, b: 2 }, b: 3 }), { a: 1, b: 3 })
})

test('the message JSON form becomes the package input', () => {
  const m = messageInput({
    from: 'a@x',
    reply_to: 'r@x',
    raw_base64: Buffer.from('raw').toString('base64'),
    attachments: [{ filename: 'f', content_type: 't/p', content_base64: 'AAE=' }],
  })
  assert.deepEqual(m, { from: 'a@x', replyTo: 'r@x', raw: Buffer.from('raw'), attachments: [{ filename: 'f', contentType: 't/p', content: Buffer.from([0, 1]) }] })
  assert.throws(() => messageInput({ bogus: 1 }), /message\.bogus/)
})
