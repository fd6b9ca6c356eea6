import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Profile } from 'relaykit'

test('accessors read and write the core profile; toJSON is the saved snake_case form', () => {
  const p = new Profile({ server: 'smtp.example.com', port: undefined, heloName: null })
  assert.equal(p.port, null)
  assert.equal(p.effectivePort, 25)
  p.encryptedConnection = true
  assert.equal(p.effectivePort, 465)
  p.port = 587
  p.tlsMode = 'starttls'
  p.requiresAuthentication = true
  p.username = 'alice'
  p.setPassword('pa~ss')
  p.authMechanisms = ['plain', 'scram-sha-256']
  p.authOrder = 'as_listed'
  p.allowPlaintextPassword = true
  p.tlsVerify = false
  p.tlsCaFile = '/etc/ssl/ca.pem'
  p.heloName = 'client.example.com'
  p.timeoutSecs = 12.5
  p.id = 'prod'
  p.validate()
  assert.equal(p.passwordEncrypted, false)
  assert.equal(p.passwordDisplay, 'pa~ss')
  assert.deepEqual(p.authMechanisms, ['PLAIN', 'SCRAM-SHA-256'])
  assert.deepEqual(p.toJSON(), {
    version: 1, id: 'prod', server: 'smtp.example.com', port: 587, encrypted_connection: true,
    tls_mode: 'starttls', requires_authentication: true, username: 'alice', password: 'pa~ss',
    password_encrypted: false, use_ntlm_current_user: false, auth_mechanisms: ['PLAIN', 'SCRAM-SHA-256'],
    auth_order: 'as_listed', allow_plaintext_password: true, tls_verify: false, tls_ca_file: '/etc/ssl/ca.pem',
    helo_name: 'client.example.com', timeout_secs: 12.5,
  })
  p.clearPassword()
  assert.equal(p.passwordDisplay, null)
  p.tlsMode = null
  p.port = null
  assert.equal(p.effectivePort, 465)
})

test('camelCase options give the same profile as the snake_case saved JSON', () => {
  const a = new Profile({
    server: 'mx.example.com', encryptedConnection: true, tlsMode: 'implicit', requiresAuthentication: true,
    username: 'u', password: 'enc:v1:k1:AAAA', passwordEncrypted: true, timeoutSecs: 5,
  })
  const b = Profile.fromJSON({
    server: 'mx.example.com', encrypted_connection: true, tls_mode: 'implicit', requires_authentication: true,
    username: 'u', password: 'enc:v1:k1:AAAA', password_encrypted: true, timeout_secs: 5,
  })
  assert.deepEqual(a.toJSON(), b.toJSON())
  assert.equal(a.passwordDisplay, '********')
})
