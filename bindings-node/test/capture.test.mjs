// The capture transport (#16) through Node: `transport: { capture: { dir } }` in send()'s
// options keeps the exact bytes a real send delivers (checked against aiosmtpd) and connects
// nowhere.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'

import { Profile, send } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers, aiosmtpdSeq, aiosmtpdFind } = require('./servers.js')
const V = loadServers()
const skip = V ? false : `servers not running (${ENV_FILE} is missing; start tests/servers/start.sh)`

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'relaykit-capture-'))

describe('capture', () => {
  test('the captured .eml equals what aiosmtpd received', { skip }, async () => {
    const profile = new Profile({
      server: V.RK_HOST, port: Number(V.RK_AIOSMTPD_PORT), requiresAuthentication: true,
      allowPlaintextPassword: true, authMechanisms: ['PLAIN'], username: V.RK_USER, password: V.RK_PASS,
    })
    const messageId = `<node-capture.${randomUUID()}@relaykit.test>`
    const raw = Buffer.from(
      `From: ${V.RK_USER}\r\nTo: ${V.RK_RCPT}\r\nSubject: capture\r\nMessage-ID: ${messageId}\r\n\r\n.dot\r\nbody \xe9\r\n`,
      'latin1',
    )
    const message = { from: V.RK_USER, to: V.RK_RCPT, raw }
    const since = aiosmtpdSeq(V)
    await send(profile, message)
    const found = await aiosmtpdFind(V, since, [messageId])
    assert.ok(found.has(messageId), 'the real send arrived')
    const dir = tmp()
    const result = await send(profile, message, { transport: { capture: { dir } } })
    const stem = messageId.slice(1, -1)
    assert.ok(fs.readFileSync(path.join(dir, `${stem}.eml`)).equals(found.get(messageId).eml), 'same bytes')
    const envelope = JSON.parse(fs.readFileSync(path.join(dir, `${stem}.json`), 'utf8'))
    assert.deepEqual(envelope.recipients, [V.RK_RCPT])
    assert.equal(envelope.result.reply, '250 captured')
    assert.deepEqual(result.accepted, [V.RK_RCPT])
  })

  test('a capture connects nowhere; a bad transport names the field', async () => {
    const nowhere = new Profile({ server: '127.0.0.1', port: 9, starttls: 'never' })
    const dir = tmp()
    const message = { from: 'alice@relaykit.test', to: 'bob@relaykit.test', subject: 's', text: 't', messageId: '<n@relaykit.test>' }
    const result = await send(nowhere, message, { transport: { capture: { dir } } })
    assert.deepEqual(result.accepted, ['bob@relaykit.test'])
    assert.match(fs.readFileSync(path.join(dir, 'n@relaykit.test.eml'), 'latin1'), /Subject: s/)
    await assert.rejects(send(nowhere, message, { transport: { capture: 'disk' } }), (e) => {
      assert.equal(e.code, 'CONFIG')
      assert.match(e.message, /^options\.transport/)
      return true
    })
    // A capture to memory could not be read back from JavaScript: refused, never silently kept.
    await assert.rejects(send(nowhere, message, { transport: { capture: 'memory' } }), (e) => {
      assert.equal(e.code, 'CONFIG')
      assert.match(e.message, /^options\.transport: .*directory/)
      return true
    })
  })
})

describe('progress', () => {
  test('a 3 MiB send reports increasing counts ending at the total', { skip }, async () => {
    const profile = new Profile({
      server: V.RK_HOST, port: Number(V.RK_AIOSMTPD_PORT), requiresAuthentication: true,
      allowPlaintextPassword: true, authMechanisms: ['PLAIN'], username: V.RK_USER, password: V.RK_PASS,
    })
    const data = Buffer.alloc(3 << 20, 0)
    for (let i = 0; i < data.length; i++) data[i] = i % 251
    const messageId = `<node-progress.${randomUUID()}@relaykit.test>`
    const calls = []
    const since = aiosmtpdSeq(V)
    await send(profile, {
      from: V.RK_USER, to: V.RK_RCPT, subject: 'progress', text: 'big', messageId,
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content: data }],
    }, { progress: (written, total) => calls.push([written, total]) })
    const found = await aiosmtpdFind(V, since, [messageId])
    const size = found.get(messageId).meta.size
    const total = calls.at(-1)[1]
    assert.ok(total === size || total === size + 3, `total ${total} vs stored ${size}`)
    assert.equal(calls.at(-1)[0], total, 'the last call, before the Promise settled, is the end')
    for (let i = 1; i < calls.length; i++) assert.ok(calls[i - 1][0] < calls[i][0] && calls[i][1] === total)
    assert.ok(calls.length >= 2 && calls.length <= Math.ceil(total / 65536))
  })
})
