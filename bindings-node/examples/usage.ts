// How a Node.js service uses relaykit. Type-checked by `tsc --noEmit` in run_tests.sh.
import { Keyring, Mailer, Profile, RrtContext, encryptPassword, prepareMessage, send, test } from 'relaykit'
import type {
  ErrorCode,
  ErrorJSON,
  Fate,
  MailerOptions,
  MailerStats,
  MessageInput,
  PreparedJSON,
  ProfileJSON,
  ProfileOptions,
  RelayKitError,
  RelayKitErrorFields,
  SendOptions,
  SendResult,
  SendResultJSON,
  Stage,
  TestOptions,
  TestReport,
  TestReportJSON,
} from 'relaykit'

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
const file: ProfileJSON = profile.toJSON() // file.tls_mode: 'auto' | 'implicit' | 'starttls' | undefined
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
const preparedJson: PreparedJSON = prepared.toJSON() // bytes_base64

// Errors are Error objects with a §7 code and the SMTP reply fields.
try {
  new Profile({ server: 'smtp.example.com', port: 0 })
} catch (e) {
  const err = e as Error & RelayKitErrorFields
  if (err.code === 'CONFIG') {
    console.error(`${err.kind}: ${err.message}`, err.smtpCode ?? '', err.hint ?? '')
  }
}

// Test and Send return Promises; the work runs off the event loop.
async function testAndSend(): Promise<void> {
  const testOptions: TestOptions = {
    keyring,
    context: ctx,
    relayCheck: { from: 'billing@example.com', to: 'customer@example.org' },
    trace: (direction: 'C' | 'S', line: string) => console.debug(direction, line),
  }
  const report: TestReport = await test(profile, testOptions)
  if (!report.ok && report.error) {
    // In the report, `code` is the §7 kind like a thrown Error's; `smtpCode` the reply code.
    const { code, stage, smtpCode, enhancedCode, hint } = report.error
    const failedAt: Stage | undefined = stage
    const kindCode: ErrorCode = code
    console.error(kindCode === 'AUTH_FAILED', failedAt, smtpCode, enhancedCode, hint)
  }
  const size: number | null = report.server?.sizeLimit ?? null
  const mechanisms: string[] = report.server?.authMechanisms ?? []
  const expires: string | undefined = report.tls?.notAfter
  const used: string | null | undefined = report.auth?.mechanism
  const firstAttempt: number | null | undefined = report.auth?.attempts[0]?.smtpCode
  const stageNames = report.stages.map((s) => `${s.name} ${s.ok} ${s.ms.toFixed(1)} ms`)
  const json: TestReportJSON = report.toJSON() // §8 snake_case: json.server?.size_limit
  console.log(size, mechanisms, expires, used, firstAttempt, stageNames, json.server?.size_limit)

  const sendOptions: SendOptions = { keyring, context: ctx }
  try {
    const result: SendResult = await send(profile, message, sendOptions)
    const refused = result.rejected.map((r) => `${r.address}: ${r.smtpCode} ${r.enhancedCode ?? ''} ${r.message}`)
    const wire: SendResultJSON = result.toJSON()
    console.log(result.accepted, refused, result.messageId, result.reply, wire.message_id)
  } catch (e) {
    const err = e as Error & RelayKitErrorFields
    const asJson: ErrorJSON = err.toJSON() // {kind, stage, code: 535, enhanced_code, message, hint}
    if (err.code === 'AUTH_FAILED' && err.smtpCode === 535) console.error(err.stage, err.hint, asJson.enhanced_code)
  }
}

// Many messages over a few kept-open connections, pipelined, retried; one outcome per message.
async function sendMany(profile: Profile, keyring: Keyring, messages: MessageInput[]): Promise<number> {
  const mailerOptions: MailerOptions = {
    keyring,
    maxConnections: 4,
    retry: { maxAttempts: 5, baseDelayMs: 500 },
    rateLimit: { messages: 100, perSecs: 1 },
    trace: (direction, line, connection) => console.debug(`[${connection ?? '-'}] ${direction}: ${line}`),
  }
  const mailer = new Mailer(profile, mailerOptions)
  const outcomes: Array<SendResult | RelayKitError> = await mailer.sendMany(messages)
  for (const o of outcomes) {
    if (o instanceof Error) {
      const fate: Fate = o.fate // 'unknown': perhaps delivered, do not resend blindly
      console.error(o.code, o.transient, fate, o.attempts, o.message)
    } else {
      console.log(o.messageId, o.attempts)
    }
  }
  const stats: MailerStats = mailer.stats
  await mailer.close()
  return stats.sent + stats.retried + stats.queued
}

// OAuth2: tokens from the host's function (a string or a Promise of one), asked for each new
// connection and once more with 'refresh' after the server rejected one.
async function oauth(profile: Profile): Promise<boolean> {
  let cached: string | null = null
  const tokenProvider = async (username: string, reason: 'initial' | 'refresh'): Promise<string> => {
    if (cached === null || reason === 'refresh') cached = `token-for-${username}`
    return cached
  }
  const report: TestReport = await test(profile, { tokenProvider })
  const mailer = new Mailer(profile, { tokenProvider: () => 'static-token' })
  await mailer.close()
  return report.ok
}

console.log(typeof sendMany, typeof oauth)
console.log(port, shown, saved.length, file.server, user, prepared.recipients, bytes.length, preparedJson.message_id, typeof testAndSend)
