// The declarations up to napi's generated ones come from this header (package.json
// `napi.dtsHeaderFile`, source dts-header.d.ts). Its second half is generated from the core by
// tests/dts.rs, and that test fails while the file differs from what the core gives.

/**
 * A core JSON form `T` as the addon presents it (src/js.rs applies the same rule to the
 * values): keys in camelCase; `code` (an SMTP reply code) is `smtpCode`, and an object with a
 * `kind` also has `code`, the kind in upper snake case, as a thrown Error has; `x_base64` text is
 * a `Buffer` named `x`. Objects also have a non-enumerable `toJSON()` returning `T` itself.
 */
export type Presented<T> = T extends Array<infer E>
  ? Array<Presented<E>>
  : T extends object
    ? { [K in keyof T as PresentedKey<K>]: K extends `${string}_base64` ? Buffer : Presented<T[K]> } & (T extends {
        kind: infer Kind extends string
      }
        ? { code: Uppercase<Kind> }
        : unknown)
    : T
type PresentedKey<K> = K extends 'code'
  ? 'smtpCode'
  : K extends `${infer B}_base64`
    ? CamelCase<B>
    : K extends string
      ? CamelCase<K>
      : K
type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S
/** Every key optional, and `null` meaning "not given", as in the options objects. */
type Options<T> = { [K in keyof T]?: T[K] | null }

/** The §7 kind in upper snake case: `err.code` (`'AUTH_FAILED'`). */
export type ErrorCode = Uppercase<ErrorKind>

/** The result of `test()`. A server-side failure is in it (`ok: false`, `error`). */
export type TestReport = Presented<TestReportJSON> & { toJSON(): TestReportJSON }
/** The result of `send()`: what the server accepted and refused. */
export type SendResult = Presented<SendResultJSON> & { toJSON(): SendResultJSON }
/** What goes on the wire: the envelope and the bytes (CRLF line endings). */
export type PreparedMessage = Presented<PreparedJSON> & { toJSON(): PreparedJSON }
/** `mailer.stats`: messages sent and failed, retries after a transient failure, dead
 * connections replaced, connections opened and open now, messages waiting for a connection. */
export type MailerStats = Presented<MailerStatsJSON> & { toJSON(): MailerStatsJSON }
/** The fields of a thrown relaykit `Error` (`e as Error & RelayKitErrorFields`), and `smtpText`,
 * the server's reply text, which `message` also carries. */
export type RelayKitErrorFields = Presented<ErrorJSON> & { smtpText?: string; toJSON(): ErrorJSON }
/** A relaykit `Error` with its fields: what a Promise rejects with, and a failed message's
 * outcome in `mailer.sendMany()`. `transient`: may succeed later (4xx, a lost connection);
 * `fate`: `'unknown'` when the connection was lost after the message's final `.` (it may have
 * been delivered), else `'rejected'`; `attempts`: a mailer's transactions for the message. */
export type RelayKitError = Error & RelayKitErrorFields

/** The options of `new Profile(...)`: the saved profile's keys in camelCase. */
export type ProfileOptions = { server: string } & Options<Presented<ProfileJSON>>

/** The options of `test()` and `send()` that only JavaScript has. */
export interface CallOptions {
  /** Decrypts an encrypted password (default: an empty keyring). */
  keyring?: Keyring | null
  /** Values for the RRTs (default: no host values, `WIN` from the process environment). */
  context?: RrtContext | null
  /** Called on the JavaScript thread with each protocol line: `'C'` for what relaykit sent,
   * `'S'` for the server's reply. AUTH payloads are redacted. Every line has been delivered
   * before the Promise settles. A trace function that throws is an uncaught exception, as
   * with an event listener. `connection` is the line's connection id for a mailer (1, 2, ...
   * in the order they opened), `null` for `test()` and `send()`. */
  trace?: ((direction: 'C' | 'S', line: string, connection: number | null) => void) | null
  /** `send()` and each message of a `Mailer`: called on the JavaScript thread with the bytes of
   * the message written so far and in all, at most every 64 KiB or 100 ms and once at the end
   * (`written === total`, before the Promise settles). One that throws is an uncaught
   * exception, as with `trace`. Ignored by `test()`. */
  progress?: ((written: number, total: number) => void) | null
  /** Gives OAUTHBEARER/XOAUTH2 access tokens instead of the profile's password: called on the
   * JavaScript thread for each new connection that logs in (`reason` `'initial'`) and once more
   * after the server rejected the token (`'refresh'`: give a fresh one). It returns the token
   * or a Promise of it; a throw, a rejection, a value that is not a string or no answer within
   * the profile's `timeoutSecs` fails the login with an `AUTH_FAILED` error naming the token
   * provider. The token is never in a trace, an error or a report. */
  tokenProvider?: ((username: string, reason: 'initial' | 'refresh') => string | Promise<string>) | null
}
/** The options of `test()`: `relayCheck` also checks that the server would relay (MAIL FROM,
 * RCPT TO, RSET; nothing is sent); `ntlmHelper` is the current-user NTLM helper's argv. */
export type TestOptions = CallOptions & Options<Presented<TestOptionsJSON>>
/** The options of `send()`. */
export type SendOptions = CallOptions & Options<Presented<SendOptionsJSON>>
/** The options of `new Mailer()`: `maxConnections`, `maxMessagesPerConnection`,
 * `idleTimeoutSecs`, `rateLimit` (`{ messages, perSecs }`), `retry` (`{ maxAttempts,
 * baseDelayMs, maxDelayMs }`), `retryUnknown`, `streamWindow`, `maxQueued` (the most messages
 * waiting for a connection; a send then waits for room), `ntlmHelper`; `trace` gets the lines
 * of every connection, with its id. */
export type MailerOptions = CallOptions &
  Options<Omit<Presented<MailerOptionsJSON>, 'retry'>> & {
    /** Each key optional, as in the JSON form: the core's default where left out. */
    retry?: Options<Presented<MailerOptionsJSON['retry']>> | null
  }

/** An attachment or inline part: `content` (bytes) or `path` (a file read when the message is
 * prepared), not both. Without `contentType` it is sent as `application/octet-stream`. */
export interface AttachmentInput {
  filename?: string | null
  contentType?: string | null
  /** For an inline part, referenced from the HTML as `cid:<contentId>`. */
  contentId?: string | null
  path?: string | null
  content?: Uint8Array | null
}

/** A message (§6): the core's message JSON with camelCase keys and bytes as `Uint8Array`s.
 * Addresses are `addr` or `Name <addr>`. With `raw`, the bytes are sent as they are and
 * `from`/`envelopeFrom` and `to`/`cc`/`bcc` give the envelope only. */
export interface MessageInput {
  from: string
  to?: string | Array<string> | null
  cc?: string | Array<string> | null
  bcc?: string | Array<string> | null
  replyTo?: string | Array<string> | null
  subject?: string | null
  text?: string | null
  html?: string | null
  attachments?: Array<AttachmentInput> | null
  inline?: Array<AttachmentInput> | null
  /** Extra headers, in order: an object or a list of `[name, value]` pairs. */
  headers?: Record<string, string> | Array<[string, string]> | null
  /** A Message-ID to use (with or without angle brackets); generated when absent. */
  messageId?: string | null
  /** The envelope sender (MAIL FROM) when it differs from `from`; `''` for the null sender. */
  envelopeFrom?: string | null
  /** Raw RFC 5322 bytes. */
  raw?: Uint8Array | null
  /** Expand RRTs in the fields (a raw message's fields are its envelope); default true. */
  expandRrts?: boolean | null
  /** A delivery status notification request (RFC 3461). */
  dsn?: DsnInput | null
  /** REQUIRETLS (RFC 8689): only over TLS to a server that offers it, else the send fails. */
  requiretls?: boolean | null
  /** `List-Unsubscribe` URIs (RFC 2369), `https:` or `mailto:` only. */
  listUnsubscribe?: string | Array<string> | null
  /** Add `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). */
  listUnsubscribePost?: boolean | null
}

/** A DSN request (RFC 3461): `RET`/`ENVID` on MAIL FROM, `NOTIFY`/`ORCPT` on each RCPT TO. */
export interface DsnInput {
  ret?: 'full' | 'hdrs' | null
  /** Printable ASCII, at most 100 characters. */
  envid?: string | null
  /** `['never']` or any of success, failure, delay. */
  notify?: Array<'never' | 'success' | 'failure' | 'delay'> | null
  /** Send `ORCPT=rfc822;<recipient>` for every recipient. */
  orcpt?: boolean | null
  /** Per-recipient overrides, by envelope address. */
  recipients?: Record<string, { notify?: Array<'never' | 'success' | 'failure' | 'delay'> | null, orcpt?: string | null }> | null
  /** Fail the send when the server does not offer DSN (default true); else send without. */
  required?: boolean | null
}

// ---- generated by tests/dts.rs (RELAYKIT_DTS=write cargo test -p relaykit-node --test dts) ----

/** The §7 error kinds (`ErrorKind::ALL`). */
export type ErrorKind = 'config' | 'rrt' | 'crypto' | 'dns' | 'connect' | 'timeout' | 'tls' | 'protocol' | 'auth_unsupported' | 'auth_failed' | 'sender_rejected' | 'recipient_rejected' | 'message_rejected' | 'io' | 'internal'

/** The Test and Send stages (`Stage::ALL`). */
export type Stage = 'resolve' | 'dns' | 'connect' | 'tls' | 'greeting' | 'ehlo' | 'auth' | 'mail_from' | 'rcpt_to' | 'data' | 'rset' | 'quit' | 'proxy'

/** `tlsMode` (`TlsChoice::NAMES`). */
export type TlsChoice = 'auto' | 'implicit' | 'starttls'

/** `starttls` (`StarttlsPolicy::NAMES`). */
export type StarttlsPolicy = 'opportunistic' | 'never'

/** `authOrder` (`AuthOrder::NAMES`). */
export type AuthOrder = 'preference' | 'as_listed'

/** What became of a message that was not delivered: `err.fate` (`Fate::NAMES`). */
export type Fate = 'rejected' | 'unknown'

/** `protocol`: SMTP or LMTP (`Protocol::NAMES`). */
export type Protocol = 'smtp' | 'lmtp'

/** The §8 JSON of an error: `err.toJSON()`, `report.toJSON().error`. */
export interface ErrorJSON {
  kind: ErrorKind
  stage?: Stage
  code?: number
  enhanced_code?: string
  message: string
  hint?: string
  transient: boolean
  fate: Fate
  attempts?: number
}

/** The §8 JSON of a `TestReport`. */
export interface TestReportJSON {
  ok: boolean
  stages: Array<{
    name: Stage
    ok: boolean
    ms: number
  }>
  server: {
    banner: string
    extensions: Array<string>
    size_limit: number | null
    auth_mechanisms: Array<string>
  } | null
  tls: {
    version: string
    cipher: string
    subject: string
    issuer: string
    not_after: string
    verified: boolean
    verify_error?: string
    client_certificate_sent: boolean
  } | null
  auth: {
    mechanism: string | null
    attempts: Array<{
      mechanism: string
      ok: boolean
      code: number | null
      message?: string
    }>
  } | null
  relay?: {
    from: string
    to: string
    ok: boolean
    reply: string
  }
  warnings: Array<string>
  error: ErrorJSON | null
}

/** The §8 JSON of a `SendResult`. */
export interface SendResultJSON {
  accepted: Array<string>
  rejected: Array<{
    address: string
    code: number
    enhanced_code: string | null
    message: string
  }>
  message_id: string | null
  reply: string
  attempts: number
  deliveries?: Array<{
    address: string
    code: number
    enhanced_code: string | null
    message: string
  }>
}

/** The JSON of a prepared message. */
export interface PreparedJSON {
  envelope_from: string
  recipients: Array<string>
  bytes_base64: string
  message_id: string | null
  needs_smtputf8: boolean
  eight_bit: boolean
}

/** The saved profile (§1): `profile.toJSON()`. */
export interface ProfileJSON {
  version: number
  id?: string
  server: string
  port?: number
  encrypted_connection: boolean
  tls_mode?: TlsChoice
  starttls?: StarttlsPolicy
  requires_authentication: boolean
  username?: string
  password?: string
  password_encrypted: boolean
  use_ntlm_current_user: boolean
  auth_mechanisms?: Array<string>
  auth_order?: AuthOrder
  allow_plaintext_password: boolean
  tls_verify: boolean
  tls_ca_file?: string
  tls_ca_pem?: string
  helo_name?: string
  timeout_secs: number
  tls_client_cert_file?: string
  tls_client_cert_pem?: string
  tls_client_key_file?: string
  tls_client_key?: string
  proxy?: string
  proxy_password?: string
  protocol?: Protocol
}

/** The core's JSON form of the options of `test()`. */
export interface TestOptionsJSON {
  relay_check?: {
    from: string
    to: string
  }
  ntlm_helper?: Array<string>
}

/** The core's JSON form of the options of `send()`. */
export interface SendOptionsJSON {
  ntlm_helper?: Array<string>
  transport?: {
    capture: string | {
      dir: string
    }
  }
}

/** The core's JSON form of the options of `new Mailer()`. */
export interface MailerOptionsJSON {
  max_connections: number
  max_messages_per_connection: number
  idle_timeout_secs: number
  rate_limit: {
    messages: number
    per_secs: number
  } | null
  retry: {
    max_attempts: number
    base_delay_ms: number
    max_delay_ms: number
  }
  stream_window: number
  max_queued: number
  retry_unknown: boolean
  ntlm_helper?: Array<string>
  transport?: {
    capture: string | {
      dir: string
    }
  }
}

/** The JSON of a mailer's counters: `mailer.stats.toJSON()`. */
export interface MailerStatsJSON {
  sent: number
  failed: number
  retried: number
  reconnects: number
  connections_opened: number
  open_connections: number
  queued: number
}

/**
 * Which binding artifact the generated loader actually loaded: `'native'` for
 * a native addon, otherwise the `platformArchABI` of the WASI flavor. Every
 * flavor napi-rs can build is listed, because `NAPI_RS_NATIVE_LIBRARY_PATH`
 * can point the loader at a WASI artifact this package does not build itself.
 */
export declare const __napiBindingTarget: 'native' | 'wasm32-wasi' | 'wasm32-wasip1'

/**
 * The keys that encrypt and decrypt password envelopes. The newest key (the last added)
 * encrypts; any key decrypts the envelopes made under it. Key material never shows in
 * `util.inspect`, errors or `keyIds`.
 */
export declare class Keyring {
  /** An empty keyring. */
  constructor()
  /**
   * The keyring of the environment: `RELAYKIT_KEY`, else the file `RELAYKIT_KEY_FILE` names,
   * else the default key file if it exists, else an empty keyring.
   */
  static fromEnv(): Keyring
  /** A keyring from a key file, refused unless it is owned by the user and mode 0600 or 0400. */
  static fromFile(path: string): Keyring
  /**
   * A keyring from key text: one base64 key, or `kid:base64` entries separated by commas or
   * new lines (later ones are newer).
   */
  static fromText(text: string): Keyring
  /** A keyring with one freshly generated random key. */
  static generate(): Keyring
  /** Adds a 32-byte key as the newest; returns its id (derived from the key when not given). */
  addKey(key: Uint8Array, keyId?: string | undefined | null): string
  /** Generates a random key, adds it as the newest, and returns its id. */
  generateKey(): string
  /** The key ids, oldest first. */
  get keyIds(): Array<string>
  /** The id of the newest key, which encrypts; `null` when the keyring is empty. */
  get newestKeyId(): string | null
  /** Whether the keyring has no key. */
  get isEmpty(): boolean
  /**
   * The keys as text (`kid:base64url,...`), for `RELAYKIT_KEY` or a key file. This is key
   * material: store it as a secret.
   */
  export(): string
  /** Writes the keys to a new file with mode 0600 (the file must not exist yet). */
  writeFile(path: string): void
  /**
   * Encrypts `plaintext` for `field` (default `'password'`) of the profile `profileId` under
   * the newest key; returns the `enc:v1:` envelope.
   */
  encrypt(plaintext: string, field?: string | undefined | null, profileId?: string | undefined | null): string
  /** Decrypts an envelope made for `field` (default `'password'`) of the profile `profileId`. */
  decrypt(envelope: string, field?: string | undefined | null, profileId?: string | undefined | null): string
  /** Decrypts `envelope` and encrypts it again under the newest key (rotation). */
  reencrypt(envelope: string, field?: string | undefined | null, profileId?: string | undefined | null): string
  /**
   * For the shared test vectors only: `encrypt` with a given 12-byte nonce. Never use a nonce
   * twice with one key.
   */
  _encryptWithNonce(plaintext: string, field: string, profileId: string | undefined | null, nonce: Uint8Array): string
}

/**
 * Sends many messages to one server over pooled connections (at most `maxConnections` open
 * at once). Share one mailer between concurrent sends; `close()` it when done.
 */
export declare class Mailer {
  /**
   * Resolves and checks the profile and the options now: an invalid one throws a `CONFIG`
   * error naming the field (`options.maxConnections` is `options.max_connections`). No
   * connection is opened until the first send.
   */
  constructor(profile: Profile, options?: MailerOptions | undefined | null)
  /**
   * Sends `message` over a pooled connection. Resolves with a `SendResult`; rejects with a
   * relaykit `Error` as `send()` does, and with a `CONFIG` error once the mailer is closed.
   */
  send(message: MessageInput): Promise<SendResult>
  /**
   * Sends every message, all queued at once so that the connections pipeline them, each
   * retried as the options say. Resolves with one outcome per message, in order: its
   * `SendResult`, or its relaykit `Error` as a value (`err.code`, `err.transient`,
   * `err.fate`, `err.attempts`); a bad message fails alone. Rejects only when `messages` is
   * not an array.
   */
  sendMany(messages: Array<MessageInput>): Promise<Array<SendResult | RelayKitError>>
  /**
   * Closes the mailer: later sends reject at once; messages queued or in flight still get
   * their outcome, then every connection is closed with QUIT. Resolves when all are closed.
   */
  close(): Promise<void>
  /**
   * What the mailer has done so far: messages sent and failed, retries, reconnects,
   * connections opened and open now, and messages waiting for a connection.
   */
  get stats(): MailerStats
}

/**
 * An SMTP server profile (§1). Setters do not validate: call `validate()` (Test and Send will
 * too), as the dialog checks when it is closed.
 */
export declare class Profile {
  /** A validated profile from camelCase options (`undefined` and `null` mean "not given"). */
  constructor(options: ProfileOptions)
  /**
   * A validated profile from saved JSON (snake_case keys, as `toJSON()` writes), given as text
   * or as an already parsed object.
   */
  static fromJSON(json: string | Record<string, unknown>): Profile
  /**
   * The saved form: snake_case keys, an encrypted password as its envelope. `JSON.stringify`
   * calls this.
   */
  toJSON(): ProfileJSON
  /** Checks every key; throws a `CONFIG` error naming the JSON path of the first problem. */
  validate(): void
  get server(): string
  set server(server: string)
  /** The port as given; `null` means the default (see `effectivePort`). */
  get port(): number | null
  set port(port: number | null)
  /** The port in effect: the given one, else 465 when encrypted, else 25. */
  get effectivePort(): number
  get encryptedConnection(): boolean
  set encryptedConnection(on: boolean)
  get tlsMode(): TlsChoice | null
  set tlsMode(mode: TlsChoice | null)
  get starttls(): StarttlsPolicy | null
  set starttls(policy: StarttlsPolicy | null)
  get requiresAuthentication(): boolean
  set requiresAuthentication(on: boolean)
  get username(): string | null
  set username(username: string | null)
  /** Sets a plain-text password (RRTs in it are expanded at Test or Send). */
  setPassword(password: string): void
  /** Sets an already encrypted `enc:v1:` envelope (as read from saved configuration). */
  setPasswordEnvelope(envelope: string): void
  /** Removes the password. */
  clearPassword(): void
  /** Whether the password is stored as an envelope (the dialog's "Encrypted"). */
  get passwordEncrypted(): boolean
  /** The password as the dialog shows it: asterisks when encrypted, else as typed. */
  get passwordDisplay(): string | null
  /**
   * Encrypts `plaintext` under the keyring's newest key and stores the envelope, bound to this
   * profile's `id`. The plaintext is literal: an RRT in it is never expanded.
   */
  encryptPassword(plaintext: string, keyring: Keyring): void
  /**
   * Encrypts the current plain-text password in place; nothing happens if it is already
   * encrypted or absent.
   */
  encryptCurrentPassword(keyring: Keyring): void
  /**
   * Re-encrypts an encrypted password (and an encrypted `tls_client_key`) under the
   * keyring's newest key; returns whether anything changed.
   */
  rotatePassword(keyring: Keyring): boolean
  get useNtlmCurrentUser(): boolean
  /** Turning it on also sets `requiresAuthentication` (the core's rule). */
  set useNtlmCurrentUser(on: boolean)
  get authMechanisms(): Array<string> | null
  set authMechanisms(names: Array<string> | null)
  get authOrder(): AuthOrder
  set authOrder(order: AuthOrder)
  get allowPlaintextPassword(): boolean
  set allowPlaintextPassword(on: boolean)
  get tlsVerify(): boolean
  set tlsVerify(on: boolean)
  get tlsCaFile(): string | null
  set tlsCaFile(path: string | null)
  get tlsCaPem(): string | null
  set tlsCaPem(pem: string | null)
  get heloName(): string | null
  set heloName(name: string | null)
  get timeoutSecs(): number
  set timeoutSecs(secs: number)
  get id(): string | null
  set id(id: string | null)
  get tlsClientCertFile(): string | null
  set tlsClientCertFile(path: string | null)
  get tlsClientCertPem(): string | null
  set tlsClientCertPem(pem: string | null)
  get tlsClientKeyFile(): string | null
  set tlsClientKeyFile(path: string | null)
  /**
   * Sets the inline client key: PEM text, or an `enc:v1:` envelope read from saved
   * configuration. Like the password, it has no getter (`toJSON()` writes it).
   */
  setTlsClientKey(key: string): void
  /** Removes the inline client key. */
  clearTlsClientKey(): void
  /** Whether the inline client key is stored as an envelope. */
  get tlsClientKeyEncrypted(): boolean
  /**
   * Encrypts the PEM key `plaintext` under the keyring's newest key and stores the envelope
   * as `tls_client_key`, bound to that field and this profile's `id`.
   */
  encryptTlsClientKey(plaintext: string, keyring: Keyring): void
  /**
   * Encrypts the current plain inline client key in place; nothing happens if it is
   * already encrypted or absent.
   */
  encryptCurrentTlsClientKey(keyring: Keyring): void
  /** The proxy URL (`socks5://`, `socks5h://` or `http://`), as saved (tags unexpanded). */
  get proxy(): string | null
  set proxy(url: string | null)
  /**
   * Sets a plain-text proxy password (RRTs in it are expanded at Test or Send); it overrides
   * a password in the proxy URL.
   */
  setProxyPassword(password: string): void
  /** Sets an already encrypted `enc:v1:` envelope as the proxy password. */
  setProxyPasswordEnvelope(envelope: string): void
  /** Removes the proxy password. */
  clearProxyPassword(): void
  /** Whether the proxy password is stored as an envelope. */
  get proxyPasswordEncrypted(): boolean
  /**
   * Encrypts `plaintext` as the proxy password, bound to the field `proxy_password` and this
   * profile's `id`. The plaintext is literal.
   */
  encryptProxyPassword(plaintext: string, keyring: Keyring): void
  /** `'smtp'` (the default) or `'lmtp'`. */
  get protocol(): Protocol
  set protocol(protocol: Protocol)
}

/**
 * Values the host registers for `~ID::%name%~` tags (plain, protected `$`, restricted `@`),
 * plus `WIN` from the environment. Protected and restricted values are held encrypted and never
 * shown by `util.inspect` or in errors.
 */
export declare class RrtContext {
  /**
   * An empty context; `WIN` values come from the process environment unless
   * `options.environment` is given.
   */
  constructor(options?: RrtContextOptions | undefined | null)
  /** Sets what a tag without a value does. */
  setMissing(missing: 'error' | 'empty'): void
  /** Registers a plain value for `~ID::%name%~` (and `~ID::name~`). */
  set(id: string, name: string, value: string): void
  /** Registers a protected value for `~ID::%$name%~` (`name` with or without the `$`). */
  setProtected(id: string, name: string, value: string): void
  /** Registers a restricted value for `~ID::%@name%~`, usable only in the password. */
  setRestricted(id: string, name: string, value: string): void
  /**
   * Removes a value (`name` with its `$` or `@` for a protected or restricted one); returns
   * whether there was one.
   */
  remove(id: string, name: string): boolean
  /**
   * Expands every tag in `value` for `field` (`'server'`, `'username'`, `'password'`,
   * `'helo_name'`, or a message field name; default `'value'`, a field that refuses
   * restricted tags). The result may hold protected values: do not log it.
   */
  expand(value: string, field?: string | undefined | null): string
}

/**
 * §8's `encrypt_password(profile, plaintext, keyring)`: gives the profile its envelope and sets
 * `passwordEncrypted`. The same as `profile.encryptPassword(plaintext, keyring)`.
 */
export declare function encryptPassword(profile: Profile, plaintext: string, keyring: Keyring): void

/**
 * Expands RRTs in the message fields (with `context`, or the default context: no host values,
 * `WIN` from the process environment), refuses header injection, builds the MIME structure
 * and returns the envelope and the bytes that Send will transmit.
 */
export declare function prepareMessage(message: MessageInput, context?: RrtContext | undefined | null): PreparedMessage

/** The options of `new RrtContext(...)`. */
export interface RrtContextOptions {
  /** Values for `~WIN::NAME~` instead of the process environment. */
  environment?: Record<string, string>
  /** What a tag without a value does: throw an `RRT` error (the default) or expand to `''`. */
  missing?: 'error' | 'empty'
}

/**
 * Sends `message` (§6) through the profile's server. Resolves with a `SendResult` (a recipient
 * the server refused is in `rejected`, the others were accepted); rejects with a relaykit
 * `Error` for any failure (`err.code`, `err.stage`, `err.smtpCode`, `err.hint`, ...).
 */
export declare function send(profile: Profile, message: MessageInput, options?: SendOptions | undefined | null): Promise<SendResult>

/**
 * Tests the profile (§5): connect, greeting, EHLO, TLS, AUTH, optionally a relay check, QUIT.
 * Resolves with a `TestReport`: a server-side failure is in it (`ok: false`, `error`). Rejects
 * only for invalid input (a `CONFIG`, `RRT` or `CRYPTO` error), e.g. a missing key.
 */
export declare function test(profile: Profile, options?: TestOptions | undefined | null): Promise<TestReport>
