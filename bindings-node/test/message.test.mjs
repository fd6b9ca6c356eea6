import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Profile, RrtContext, prepareMessage, send } from 'relaykit'

function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  assert.fail('expected an error')
}

const text = (p) => p.bytes.toString('latin1')

test('a message with Buffer and path attachments, inline parts and headers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relaykit-'))
  try {
    const file = join(dir, 'report.csv')
    writeFileSync(file, 'a,b\n1,2\n')
    const p = prepareMessage({
      from: 'Alice <alice@example.com>',
      to: ['bob@example.com', 'Carol <carol@example.com>'],
      cc: 'dave@example.com',
      bcc: ['BOB@example.com', 'eve@example.com'],
      replyTo: 'help@example.com',
      subject: 'Quarterly report',
      text: 'See attached.\n',
      html: '<p>See <img src="cid:logo"></p>',
      attachments: [
        { filename: 'data.bin', contentType: 'application/octet-stream', content: Buffer.from([0, 1, 2, 255]) },
        { filename: 'note.txt', contentType: 'text/plain', content: Buffer.from('text is sent as its bytes') },
        { path: file, contentType: 'text/csv' },
      ],
      inline: [{ contentId: 'logo', contentType: 'image/png', content: new Uint8Array([137, 80, 78, 71]) }],
      headers: { 'X-Campaign': 'q3', 'X-Priority': '3' },
      messageId: 'fixed-id@example.com',
    })
    assert.ok(Buffer.isBuffer(p.bytes))
    assert.deepEqual(Object.keys(p), ['envelopeFrom', 'recipients', 'bytes', 'messageId', 'needsSmtputf8', 'eightBit'])
    assert.equal(p.toJSON().bytes_base64, p.bytes.toString('base64'))
    assert.equal(p.envelopeFrom, 'alice@example.com')
    assert.deepEqual(p.recipients, ['bob@example.com', 'carol@example.com', 'dave@example.com', 'eve@example.com'])
    assert.equal(p.messageId, '<fixed-id@example.com>')
    assert.equal(p.needsSmtputf8, false)
    const t = text(p)
    assert.match(t, /\r\nSubject: Quarterly report\r\n/)
    assert.match(t, /\r\nX-Campaign: q3\r\n/)
    assert.match(t, /\r\nReply-To: help@example.com\r\n/)
    assert.ok(!/\r\nBcc:/i.test(t), 'Bcc is envelope only')
    assert.match(t, /filename="?report\.csv"?/, 'a path attachment is named after the file')
    assert.match(t, /filename="?data\.bin"?/)
    assert.ok(t.includes(Buffer.from([0, 1, 2, 255]).toString('base64')), 'the Buffer bytes are in the message')
    assert.match(t, /Content-Type: text\/csv\r\n[^]*a,b\r?\n1,2/, 'the file bytes are in the message')
    assert.match(t, /Content-ID: <logo>/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('headers as a list keep their order', () => {
  const p = prepareMessage({
    from: 'a@example.com',
    to: 'b@example.com',
    headers: [['X-B', '2'], ['X-A', '1']],
  })
  const t = text(p)
  assert.ok(t.indexOf('X-B: 2') < t.indexOf('X-A: 1'))
})

test('RRTs expand in message fields with the given context', () => {
  const ctx = new RrtContext({ environment: {} })
  ctx.set('ACC', 'Customer', 'Acme')
  const p = prepareMessage({ from: 'a@example.com', to: 'b@example.com', subject: 'Invoice for ~ACC::%Customer%~' }, ctx)
  assert.match(text(p), /Subject: Invoice for Acme\r\n/)
  const literal = prepareMessage(
    { from: 'a@example.com', to: 'b@example.com', subject: 'Invoice for ~ACC::%Customer%~', expandRrts: false },
    ctx,
  )
  assert.match(text(literal), /Subject: Invoice for ~ACC::%Customer%~\r\n/)
})

test('a raw message is sent as it is', () => {
  const raw = Buffer.from('Subject: raw\nMessage-ID: <r@example.com>\n\nbody\n')
  const p = prepareMessage({ from: 'a@example.com', to: 'b@example.com', raw })
  assert.equal(text(p), 'Subject: raw\r\nMessage-ID: <r@example.com>\r\n\r\nbody\r\n')
  assert.equal(p.messageId, '<r@example.com>')
})

test('header injection and bad parts are CONFIG errors', () => {
  const base = { from: 'a@example.com', to: 'b@example.com' }
  let e = thrown(() => prepareMessage({ ...base, subject: 'hi\r\nBcc: victim@example.com' }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /message\.subject: contains a CR or LF/)
  e = thrown(() => prepareMessage({ ...base, headers: { 'X-A': 'x\nY: z' } }))
  assert.equal(e.code, 'CONFIG')
  e = thrown(() => prepareMessage({ ...base, attachments: [{ filename: 'x' }] }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /^message\.attachments\[0\]: give exactly one of path and content_base64/)
  e = thrown(() => prepareMessage({ ...base, attachments: [{ content: Buffer.from('x'), path: '/etc/hostname' }] }))
  assert.equal(e.code, 'CONFIG')
  e = thrown(() => prepareMessage({ ...base, headers: { 'X-A': 1 } }))
  assert.equal(e.code, 'CONFIG')
  e = thrown(() => prepareMessage({ from: 'a@example.com' }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /no recipient/)
})

test('an unknown message key is a CONFIG error naming it, in prepareMessage and send', async () => {
  for (const [message, path] of [
    [{ from: 'a@example.com', to: 'b@example.com', replyto: 'c@example.com' }, 'message.replyto: unknown field `replyto`'],
    [{ from: 'a@example.com', to: 'b@example.com', attachments: [{ filename: 'x', data: 'y' }] }, 'message.attachments[0].data'],
    [{ from: 'a@example.com', to: 'b@example.com', inline: [{ contentId: 'c', content: Buffer.from('y'), cid: 'z' }] }, 'message.inline[0].cid'],
    // Bytes are Buffers or Uint8Arrays; a string is not taken for them.
    [{ from: 'a@example.com', to: 'b@example.com', raw: 'Subject: x\r\n\r\n' }, 'message.raw: unknown field `raw`'],
  ]) {
    assert.throws(() => prepareMessage(message), (e) => e.code === 'CONFIG' && e.message.startsWith(path))
    // send rejects before connecting (nothing listens on port 1).
    await assert.rejects(send(new Profile({ server: '127.0.0.1', port: 1 }), message), (e) => e.code === 'CONFIG' && e.message.startsWith(path))
  }
})

test('DSN, REQUIRETLS and List-Unsubscribe fields: headers written, validation naming the field, addresses kept as written', () => {
  const p = prepareMessage({
    from: 'a@example.com', to: 'b@example.com', text: 'x', requiretls: true,
    dsn: { ret: 'hdrs', envid: 'e-1', notify: ['success'], recipients: { 'B@Example.com': { orcpt: 'B@Example.com' } } },
    listUnsubscribe: ['https://example.com/u'], listUnsubscribePost: true,
  })
  assert.match(text(p), /\r\nList-Unsubscribe: <https:\/\/example\.com\/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n/)
  // A per-recipient key is an address: not respelt as if it were a camelCase field name.
  const bad = { from: 'a@example.com', to: 'b@example.com', text: 'x', dsn: { recipients: { 'B@Example.com': { notify: ['never', 'delay'] } } } }
  assert.throws(() => prepareMessage(bad), (e) => e.code === 'CONFIG' && e.message.startsWith('message.dsn.recipients.B@Example.com.notify:'))
  assert.throws(() => prepareMessage({ from: 'a@example.com', to: 'b@example.com', text: 'x', listUnsubscribe: 'http://example.com/u' }),
    (e) => e.code === 'CONFIG' && e.message.startsWith('message.list_unsubscribe[0]:'))
})
