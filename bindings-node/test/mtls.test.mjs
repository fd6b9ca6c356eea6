// Client certificates (mutual TLS) and SASL EXTERNAL through the Node API, against the `ccert`
// role of tests/servers/ (README "ccert"): Postfix relays to RK_RELAY_RCPT only for the test
// client certificate; Dovecot submission offers only AUTH EXTERNAL. Relayed messages are found
// on arrival in RK_CCERT_MAIL_DIR/_relayed/new with Postfix's "(verified OK)".
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

import * as relaykit from 'relaykit'
import { Keyring, Profile, send } from 'relaykit'

const require = createRequire(import.meta.url)
const { ENV_FILE, loadServers } = require('./servers.js')
const V = loadServers()
const skip = V?.RK_CCERT_PORT ? false : `ccert role not running (${ENV_FILE})`

const ccert = (extra = {}) =>
  new Profile({
    server: V.RK_HOST,
    port: Number(V.RK_CCERT_PORT),
    encryptedConnection: true,
    tlsMode: 'starttls',
    tlsCaFile: V.RK_CA_FILE,
    timeoutSecs: 10,
    ...extra,
  })
const right = (extra = {}) => ccert({ tlsClientCertFile: V.RK_CLIENT_CERT, tlsClientKeyFile: V.RK_CLIENT_KEY, ...extra })
const message = (to) => {
  const messageId = `<${randomUUID()}@relaykit.test>`
  return [{ from: V.RK_USER, to, subject: 'mtls', text: 'client certificate\n', messageId }, messageId]
}
const relayCheck = () => ({ relayCheck: { from: V.RK_USER, to: V.RK_RELAY_RCPT } })

async function relayed(messageId) {
  const dir = join(V.RK_CCERT_MAIL_DIR, '_relayed', 'new')
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8')
      if (text.includes(messageId)) return text
    }
    await sleep(50)
  }
  throw new Error(`${messageId} was not relayed within 10 s`)
}

const keyLines = () =>
  readFileSync(V.RK_CLIENT_KEY, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('-----') && l.length > 16)

describe('client certificates', { skip }, () => {
  test('relay with the certificate; the report says it was sent', async () => {
    const r = await relaykit.test(right(), relayCheck())
    assert.equal(r.ok, true)
    assert.equal(r.tls.clientCertificateSent, true)
    assert.equal(r.relay.ok, true)
    const [m, id] = message(V.RK_RELAY_RCPT)
    assert.deepEqual((await send(right(), m)).accepted, [V.RK_RELAY_RCPT])
    assert.match(await relayed(id), /\(verified OK\)/)
  })

  test('the other certificate or none is refused relay', async () => {
    const other = ccert({ tlsClientCertFile: V.RK_OTHER_CLIENT_CERT, tlsClientKeyFile: V.RK_OTHER_CLIENT_KEY })
    for (const [p, sent] of [
      [other, true],
      [ccert(), false],
    ]) {
      const r = await relaykit.test(p, relayCheck())
      assert.equal(r.tls.clientCertificateSent, sent)
      assert.equal(r.relay.ok, false)
      assert.match(r.relay.reply, /Relay access denied/)
      await assert.rejects(send(p, message(V.RK_RELAY_RCPT)[0]), (e) => e.code === 'RECIPIENT_REJECTED' && e.smtpCode === 554)
    }
  })

  test('an encrypted inline key relays, and the key shows nowhere', async () => {
    const keyring = Keyring.generate()
    const p = ccert({ id: 'node-mtls', tlsClientCertPem: readFileSync(V.RK_CLIENT_CERT, 'utf8'), tlsClientKey: readFileSync(V.RK_CLIENT_KEY, 'utf8') })
    assert.equal(p.tlsClientKeyEncrypted, false)
    p.encryptCurrentTlsClientKey(keyring)
    assert.equal(p.tlsClientKeyEncrypted, true)
    const saved = JSON.stringify(p)
    assert.ok(!saved.includes('PRIVATE KEY'))
    const lines = []
    const [m, id] = message(V.RK_RELAY_RCPT)
    await send(Profile.fromJSON(saved), m, { keyring, trace: (d, l) => lines.push(l) })
    assert.match(await relayed(id), /\(verified OK\)/)
    const text = lines.join('\n')
    assert.deepEqual(keyLines().filter((l) => text.includes(l)), [])
  })

  test('a mismatched or broken key is a CONFIG error naming the field, without key text', async () => {
    const p = ccert({ tlsClientCertFile: V.RK_CLIENT_CERT, tlsClientKeyFile: V.RK_OTHER_CLIENT_KEY })
    await assert.rejects(relaykit.test(p), (e) => e.code === 'CONFIG' && e.message.includes(`$.tls_client_key_file: ${V.RK_OTHER_CLIENT_KEY}: does not match the certificate`))
    const broken = readFileSync(V.RK_CLIENT_KEY, 'utf8').replace('-----END PRIVATE KEY-----', '')
    const q = ccert({ tlsClientCertFile: V.RK_CLIENT_CERT, tlsClientKey: broken })
    await assert.rejects(send(q, message(V.RK_RCPT)[0]), (e) => {
      assert.equal(e.code, 'CONFIG')
      assert.match(e.message, /\$\.tls_client_key: is not a private key/)
      assert.deepEqual(keyLines().filter((l) => `${e.message} ${e.stack}`.includes(l)), [])
      return true
    })
  })

  test('SASL EXTERNAL logs in with the certificate', async () => {
    const p = right({ port: Number(V.RK_CCERT_SUBMISSION_PORT), requiresAuthentication: true, authMechanisms: ['EXTERNAL'] })
    const r = await relaykit.test(p)
    assert.equal(r.ok, true)
    assert.equal(r.auth.mechanism, 'EXTERNAL')
    assert.equal(r.auth.attempts[0].smtpCode, 235)
  })
})
