// Secrets never show in util.inspect output or error messages.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'

import { Keyring, Profile, RrtContext, encryptPassword } from 'relaykit'

const PASSWORD = 'hunter2-very-secret'

function thrown(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  assert.fail('expected an error')
}

// Default options and showHidden. With `getters: true` inspect calls the getters, and
// `passwordDisplay` of an *unencrypted* password is the text as typed (the dialog shows it so),
// so that case is checked only once the password is encrypted.
const shows = (value, secret, opts = {}) =>
  inspect(value).includes(secret) || inspect(value, { depth: 10, showHidden: true, ...opts }).includes(secret)

test('util.inspect of a profile shows no password', () => {
  const p = new Profile({
    server: 'smtp.example.com',
    requiresAuthentication: true,
    username: 'alice',
    password: PASSWORD,
  })
  assert.ok(!shows(p, PASSWORD))
  const k = Keyring.generate()
  encryptPassword(p, PASSWORD, k)
  assert.equal(p.passwordEncrypted, true)
  assert.equal(p.passwordDisplay, '********')
  assert.ok(!shows(p, PASSWORD, { getters: true }))
  assert.ok(!JSON.stringify(p).includes(PASSWORD), 'the saved form holds the envelope, not the plaintext')
  assert.match(p.toJSON().password, /^enc:v1:/)
})

test('util.inspect of a keyring shows no key material', () => {
  const k = new Keyring()
  const key = Buffer.alloc(32, 7)
  assert.equal(k.addKey(key, 'k1'), 'k1')
  const b64 = key.toString('base64')
  const b64url = key.toString('base64url')
  for (const s of [b64, b64url]) assert.ok(!shows(k, s, { getters: true }))
  assert.ok(k.export().includes(b64url), 'export() is the one way out')
})

test('util.inspect of an RRT context shows no values', () => {
  const c = new RrtContext({ environment: { SECRET_ENV: 'env-value-1' } })
  c.set('ACC', 'plain', 'plain-value-2')
  c.setProtected('ACC', 'prot', 'protected-value-3')
  c.setRestricted('ACC', 'rest', 'restricted-value-4')
  for (const v of ['env-value-1', 'plain-value-2', 'protected-value-3', 'restricted-value-4']) {
    assert.ok(!shows(c, v, { getters: true }))
  }
})

test('error messages never contain the password or the key', () => {
  const k1 = Keyring.fromText('k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=')
  const env = k1.encrypt(PASSWORD, 'password', 'prod')
  const wrongProfile = thrown(() => k1.decrypt(env, 'password', 'test'))
  assert.equal(wrongProfile.code, 'CRYPTO')
  const other = Keyring.generate()
  const unknownKey = thrown(() => other.decrypt(env))
  assert.equal(unknownKey.code, 'CRYPTO')
  const badLength = thrown(() => new Keyring().addKey(Buffer.from(PASSWORD)))
  for (const e of [wrongProfile, unknownKey, badLength]) {
    for (const s of [PASSWORD, 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8']) {
      assert.ok(!e.message.includes(s), e.message)
      assert.ok(!inspect(e).includes(s))
    }
  }
})

test('rotation re-encrypts under the newest key; old envelopes still decrypt', () => {
  const k = Keyring.fromText('k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=')
  const p = new Profile({ server: 'smtp.example.com', id: 'prod' })
  p.encryptPassword(PASSWORD, k)
  const before = p.toJSON().password
  assert.match(before, /^enc:v1:k1:/)
  assert.equal(p.rotatePassword(k), false)
  const id2 = k.generateKey()
  assert.equal(k.newestKeyId, id2)
  assert.deepEqual(k.keyIds, ['k1', id2])
  assert.equal(p.rotatePassword(k), true)
  assert.ok(p.toJSON().password.startsWith(`enc:v1:${id2}:`))
  assert.equal(k.decrypt(p.toJSON().password, 'password', 'prod'), PASSWORD)
  assert.equal(k.decrypt(before, 'password', 'prod'), PASSWORD)
  assert.ok(k.reencrypt(before, 'password', 'prod').startsWith(`enc:v1:${id2}:`))
})
