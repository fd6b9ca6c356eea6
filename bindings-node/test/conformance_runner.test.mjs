// The one translation run_node.mjs owns: the message JSON form of the conformance inputs as
// the package's input (no server needed). Matching and substitution are the judge's
// (tests/conformance/judge, tested there).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { messageInput } from '../../tests/conformance/run_node.mjs'

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
