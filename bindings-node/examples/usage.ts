// How a Node.js service uses relaykit. Type-checked by `tsc --noEmit` in run_tests.sh.
import { Keyring, Profile, RrtContext, encryptPassword, prepareMessage } from 'relaykit'
import type { MessageInput, ProfileOptions, RelayKitErrorFields } from 'relaykit'

// A profile from camelCase options, as a settings form would give them.
const options: ProfileOptions = {
  id: 'prod-relay',
  server: 'smtp.example.com',
  port: 587,
  encryptedConnection: true,
  tlsMode: 'starttls',
  requiresAuthentication: true,
  username: '~WIN::USER~',
}
const profile = new Profile(options)

// The password is encrypted at rest under the keyring's newest key (RELAYKIT_KEY, a key file,
// or a generated key for this example).
const keyring: Keyring = Keyring.generate()
encryptPassword(profile, 'correct horse battery staple', keyring)
const shown: string | null = profile.passwordDisplay // '********'
const port: number = profile.effectivePort

// The saved form is the snake_case JSON every relaykit binding reads.
const saved: string = JSON.stringify(profile, null, 2)
const again = Profile.fromJSON(saved)
again.validate()

// Runtime replacement tags: host values, protected ones, and WIN from the environment.
const ctx = new RrtContext({ environment: { USER: 'alice' }, missing: 'error' })
ctx.set('ACC', 'Customer', 'Acme Corp')
ctx.setProtected('ACC', 'invoice', 'INV-2024-0042')
const user: string = ctx.expand(profile.username ?? '', 'username')

// A message: plain object, Buffers or paths for attachments.
const message: MessageInput = {
  from: 'Billing <billing@example.com>',
  to: ['customer@example.org'],
  subject: 'Invoice for ~ACC::%Customer%~',
  text: 'Your invoice is attached.',
  attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7') }],
  headers: { 'X-Invoice': '~ACC::%$invoice%~' },
}
const prepared = prepareMessage(message, ctx)
const bytes: Buffer = prepared.bytes

// Errors are Error objects with a §7 code and the SMTP reply fields.
try {
  new Profile({ server: 'smtp.example.com', port: 0 })
} catch (e) {
  const err = e as Error & RelayKitErrorFields
  if (err.code === 'CONFIG') {
    console.error(`${err.kind}: ${err.message}`, err.smtpCode ?? '', err.hint ?? '')
  }
}

console.log(port, shown, saved.length, user, prepared.recipients, bytes.length)
