import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Keyring, Profile, RrtContext, prepareMessage, test as rkTest } from 'relaykit'

function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  assert.fail('expected an error')
}

test('code is the kind in upper snake case, on a thrown error and in a report', async () => {
  const e = thrown(() => Keyring.fromText('not a key'))
  assert.equal(e.kind, 'crypto')
  assert.equal(e.code, 'CRYPTO')
  // Nothing listens on port 1: the connection is refused, and the failure is in the report.
  const report = await rkTest(new Profile({ server: '127.0.0.1', port: 1, timeoutSecs: 5 }))
  assert.equal(report.ok, false)
  assert.equal(report.error.kind, 'connect')
  assert.equal(report.error.code, 'CONNECT')
  assert.equal(report.toJSON().error.code, undefined, 'the §8 JSON has no kind code')
})

test('a config error is an Error with code, kind and the reply fields', () => {
  const e = thrown(() => new Profile({ server: 'smtp.example.com', port: 0 }))
  assert.ok(e instanceof Error)
  assert.equal(e.name, 'Error')
  assert.equal(e.code, 'CONFIG')
  assert.equal(e.kind, 'config')
  // The message is the core's Error::message(), the same text in every language.
  assert.equal(e.message, '$.port: 0 is out of range: a port is 1 to 65535 (leave it unset for the default)')
  // What §8 leaves out is absent.
  for (const key of ['stage', 'smtpCode', 'enhancedCode', 'smtpText', 'hint']) assert.equal(key in e, false, key)
  assert.deepEqual(e.toJSON(), { kind: 'config', message: e.message, transient: false, fate: 'rejected' })
  assert.equal(Object.keys(e).includes('toJSON'), false, 'toJSON is not enumerable')
  assert.ok(e.stack.includes('errors.test.mjs'), 'the stack points at the caller')
})

test('an unknown option key is refused by the core, naming it', () => {
  const e = thrown(() => new Profile({ server: 'x.example', encryptedConnectoin: true }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /^\$\.encrypted_connectoin: unknown field `encrypted_connectoin`, expected one of /)
})

test('wrong types in options name the key', () => {
  const e = thrown(() => new Profile({ server: 'x.example', encryptedConnection: 'yes' }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /^\$\.encrypted_connection: invalid type: string "yes", expected a boolean/)
})

test('setters translate names and ranges into CONFIG errors', () => {
  const p = new Profile({ server: 'smtp.example.com' })
  assert.equal(thrown(() => { p.port = 70000 }).code, 'CONFIG')
  assert.equal(thrown(() => { p.tlsMode = 'sometimes' }).code, 'CONFIG')
  assert.equal(thrown(() => { p.starttls = 'always' }).code, 'CONFIG')
  assert.equal(thrown(() => { p.authOrder = 'random' }).code, 'CONFIG')
  p.requiresAuthentication = true
  const e = thrown(() => p.validate())
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /\$\.username: required/)
})

test('crypto, rrt and io errors carry their codes', () => {
  assert.equal(thrown(() => new Keyring().encrypt('x')).code, 'CRYPTO')
  assert.equal(thrown(() => Keyring.fromText('not a key')).code, 'CRYPTO')
  assert.equal(thrown(() => new RrtContext({ environment: {} }).expand('~ACC::%x%~')).code, 'RRT')
  assert.equal(thrown(() => new RrtContext().set('TOOLONG', 'x', 'y')).code, 'RRT')
  assert.equal(thrown(() => new RrtContext({ missing: 'maybe' })).code, 'CONFIG')
  const io = thrown(() =>
    prepareMessage({ from: 'a@example.com', to: 'b@example.com', attachments: [{ path: '/nonexistent/file.pdf' }] }),
  )
  assert.equal(io.code, 'IO')
  assert.equal(io.kind, 'io')
})

test('a restricted tag outside the password is an RRT error', () => {
  const ctx = new RrtContext({ environment: {} })
  ctx.setRestricted('ACC', 'pw', 'secret-value')
  assert.equal(ctx.expand('~ACC::%@pw%~', 'password'), 'secret-value')
  const e = thrown(() => ctx.expand('~ACC::%@pw%~', 'username'))
  assert.equal(e.code, 'RRT')
  assert.ok(!e.message.includes('secret-value'))
})
