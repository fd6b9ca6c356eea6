import { test } from 'node:test'
import assert from 'node:assert/strict'

import { _errorCodes, Keyring, Profile, RrtContext, prepareMessage } from 'relaykit'

const KINDS = [
  'config', 'rrt', 'crypto', 'dns', 'connect', 'timeout', 'tls', 'protocol', 'auth_unsupported',
  'auth_failed', 'sender_rejected', 'recipient_rejected', 'message_rejected', 'io', 'internal',
]

function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  assert.fail('expected an error')
}

test('every §7 kind has its own code, the kind in upper snake case', () => {
  const codes = _errorCodes()
  assert.deepEqual(codes.map(([kind]) => kind), KINDS)
  for (const [kind, code] of codes) assert.equal(code, kind.toUpperCase())
  assert.equal(new Set(codes.map(([, code]) => code)).size, KINDS.length)
})

test('a config error is an Error with code, kind and the reply fields', () => {
  const e = thrown(() => new Profile({ server: 'smtp.example.com', port: 0 }))
  assert.ok(e instanceof Error)
  assert.equal(e.name, 'Error')
  assert.equal(e.code, 'CONFIG')
  assert.equal(e.kind, 'config')
  assert.match(e.message, /^config: \$\.port: /)
  assert.equal(e.stage, null)
  assert.equal(e.smtpCode, null)
  assert.equal(e.enhancedCode, null)
  assert.equal(e.smtpText, null)
  assert.equal(e.hint, null)
  assert.ok(e.stack.includes('errors.test.mjs'), 'the stack points at the caller')
})

test('unknown and snake_case option keys are refused, naming the key', () => {
  assert.match(thrown(() => new Profile({ server: 'x.example', prot: 25 })).message, /\$\.prot: unknown key/)
  const e = thrown(() => new Profile({ server: 'x.example', encrypted_connection: true }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /\$\.encrypted_connection: unknown key \(options use camelCase\)/)
})

test('wrong types in options name the key', () => {
  const e = thrown(() => new Profile({ server: 'x.example', encryptedConnection: 'yes' }))
  assert.equal(e.code, 'CONFIG')
  assert.match(e.message, /\$\.encrypted_connection: expected true or false/)
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
