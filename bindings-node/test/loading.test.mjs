// The package loads as an ES module and as CommonJS, and both give the same classes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import * as esm from 'relaykit'
import relaykitDefault, { Profile } from 'relaykit'

const require = createRequire(import.meta.url)
const pkgDir = fileURLToPath(new URL('..', import.meta.url))

test('import and require give the same binding', () => {
  const cjs = require('relaykit')
  assert.equal(esm.Profile, cjs.Profile)
  assert.equal(Profile, cjs.Profile)
  assert.equal(relaykitDefault, cjs)
  // index.mjs re-exports every name the addon has.
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort())
})

test('a CommonJS program can require the package', () => {
  const out = execFileSync(
    process.execPath,
    ['-e', "const { Profile } = require('relaykit'); console.log(new Profile({ server: 'smtp.example.com', encryptedConnection: true }).effectivePort)"],
    { cwd: pkgDir, encoding: 'utf8' },
  )
  assert.equal(out.trim(), '465')
})

test('an ES module program can import the package', () => {
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', "import { Profile } from 'relaykit'; console.log(Profile.fromJSON('{\"server\": \"mx.example.com\"}').effectivePort)"],
    { cwd: pkgDir, encoding: 'utf8' },
  )
  assert.equal(out.trim(), '25')
})
