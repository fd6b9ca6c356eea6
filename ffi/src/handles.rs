//! Profile, keyring, RRT context and message handles.

use std::ffi::c_char;

use relaykit::message::{Attachment, Content, Message};
use relaykit::{Keyring, Profile, RrtContext};

use crate::error::{
    FfiResult, arg_bytes, arg_mut, arg_opt_str, arg_out, arg_ref, arg_str, core_err, guard, guard_value, owned_string,
    rk_status, write_out,
};

/// An SMTP server profile (a `relaykit::Profile`). Not thread-safe: use one handle from one
/// thread at a time; it may move between threads.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_profile {
    pub(crate) inner: Profile,
}

/// A keyring of password-encryption keys (a `relaykit::Keyring`). Safe to share between threads
/// for reading (encrypt, decrypt, Test, Send); adding keys needs exclusive use.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_keyring {
    pub(crate) inner: Keyring,
}

/// Runtime replacement tag values (a `relaykit::RrtContext`). Safe to share between threads for
/// reading (Test, Send); setting values needs exclusive use.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_rrt_context {
    pub(crate) inner: RrtContext,
}

/// A message to send (a `relaykit::message::Message`). Not thread-safe; may move between threads.
#[derive(Debug)]
#[allow(non_camel_case_types)]
pub struct rk_message {
    pub(crate) inner: Message,
}

fn boxed<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

fn free<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: p came from Box::into_raw in this library and is freed once, as documented.
        drop(unsafe { Box::from_raw(p) });
    }
}

// ---- profile -------------------------------------------------------------------------------

/// Parses and validates profile JSON (§1 of the specification). On success writes a new
/// profile to `*profile_out`, to be freed with `rk_profile_free`. Unknown keys and invalid
/// values give `RK_CONFIG` with a message naming the JSON path.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_from_json(json: *const c_char, profile_out: *mut *mut rk_profile) -> rk_status {
    guard(|| {
        let json = arg_str(json, "json")?;
        let out = arg_out(profile_out, "profile_out")?;
        let p = Profile::from_json(json).map_err(|e| core_err(&e))?;
        write_out(out, boxed(rk_profile { inner: p }));
        Ok(())
    })
}

/// A new profile for `server` with every other field at its default (port 25, or 465 once
/// encrypted). Validated when used, or by `rk_profile_validate`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_new(server: *const c_char, profile_out: *mut *mut rk_profile) -> rk_status {
    guard(|| {
        let server = arg_str(server, "server")?;
        let out = arg_out(profile_out, "profile_out")?;
        write_out(out, boxed(rk_profile { inner: Profile::new(server) }));
        Ok(())
    })
}

/// Frees a profile. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_free(profile: *mut rk_profile) {
    free(profile);
}

/// Checks every field; `RK_CONFIG` names the JSON path of the first problem.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_validate(profile: *const rk_profile) -> rk_status {
    guard(|| arg_ref(profile, "profile")?.inner.validate().map_err(|e| core_err(&e)))
}

/// Writes the profile's JSON to `*json_out` (free with `rk_string_free`). An encrypted
/// password is written as its envelope, never as plaintext.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_to_json(profile: *const rk_profile, json_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let p = arg_ref(profile, "profile")?;
        let out = arg_out(json_out, "json_out")?;
        write_out(out, owned_string(p.inner.to_json()));
        Ok(())
    })
}

fn with_profile(profile: *mut rk_profile, f: impl FnOnce(&mut Profile) -> FfiResult) -> rk_status {
    guard(|| f(&mut arg_mut(profile, "profile")?.inner))
}

/// Sets the server (host name, IPv4 or IPv6; RRTs allowed).
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_set_server(profile: *mut rk_profile, server: *const c_char) -> rk_status {
    with_profile(profile, |p| {
        arg_str(server, "server")?.clone_into(&mut p.server);
        Ok(())
    })
}

/// Sets the port: 1–65535; any other number (0 included) is `RK_CONFIG` with the message every
/// binding gives. `rk_profile_clear_port` returns to the default.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_set_port(profile: *mut rk_profile, port: u32) -> rk_status {
    with_profile(profile, |p| p.set_port(Some(i64::from(port))).map_err(|e| core_err(&e)))
}

/// Returns to the default port (25, or 465 when encrypted).
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_clear_port(profile: *mut rk_profile) -> rk_status {
    with_profile(profile, |p| p.set_port(None).map_err(|e| core_err(&e)))
}

/// The port in effect: the one set, else 465 when encrypted, else 25. 0 for a NULL profile.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_port(profile: *const rk_profile) -> u16 {
    guard_value(0, || arg_ref(profile, "profile").ok().map(|p| p.inner.effective_port()))
}

/// "This server requires an encrypted connection".
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_set_encrypted_connection(profile: *mut rk_profile, on: bool) -> rk_status {
    with_profile(profile, |p| {
        p.encrypted_connection = on;
        Ok(())
    })
}

/// "Requires authentication" with a user name and a plain-text password (RRTs allowed in both;
/// encrypt the password with `rk_profile_encrypt_password`). NULL `username` and `password`
/// with `on` false clear them.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_set_authentication(
    profile: *mut rk_profile,
    on: bool,
    username: *const c_char,
    password: *const c_char,
) -> rk_status {
    with_profile(profile, |p| {
        let u = arg_opt_str(username, "username")?;
        let pw = arg_opt_str(password, "password")?;
        p.requires_authentication = on;
        p.username = u.map(str::to_owned);
        match pw {
            Some(pw) => p.set_password(pw),
            None => p.clear_password(),
        }
        Ok(())
    })
}

/// "Log on using NTLM authentication" as the user running the process.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_set_ntlm_current_user(profile: *mut rk_profile, on: bool) -> rk_status {
    with_profile(profile, |p| {
        p.set_ntlm_current_user(on);
        Ok(())
    })
}

/// Whether the password is stored encrypted (the dialog's "Encrypted" check box).
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_password_encrypted(profile: *const rk_profile) -> bool {
    guard_value(false, || arg_ref(profile, "profile").ok().map(|p| p.inner.password_encrypted()))
}

/// Encrypts `plaintext` (literal: RRTs in it are not expanded) under the keyring's newest key
/// and stores the envelope as the password.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_encrypt_password(
    profile: *mut rk_profile,
    plaintext: *const c_char,
    keyring: *const rk_keyring,
) -> rk_status {
    with_profile(profile, |p| {
        let pt = arg_str(plaintext, "plaintext")?;
        let k = arg_ref(keyring, "keyring")?;
        p.encrypt_password(pt, &k.inner).map_err(|e| core_err(&e))
    })
}

/// Encrypts `plaintext` (literal) under the keyring's newest key and stores the envelope as the
/// proxy password (`proxy_password`, bound to that field name and the profile's `id`); it
/// overrides a password in the `proxy` URL. The other proxy fields (`proxy`, `protocol`) are set
/// through the profile's JSON.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_encrypt_proxy_password(
    profile: *mut rk_profile,
    plaintext: *const c_char,
    keyring: *const rk_keyring,
) -> rk_status {
    with_profile(profile, |p| {
        let pt = arg_str(plaintext, "plaintext")?;
        let k = arg_ref(keyring, "keyring")?;
        p.encrypt_proxy_password(pt, &k.inner).map_err(|e| core_err(&e))
    })
}

/// Re-encrypts an encrypted password, and an encrypted `tls_client_key`, under the keyring's
/// newest key (rotation). Writes whether anything changed to `*changed_out` (may be NULL).
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_rotate_password(
    profile: *mut rk_profile,
    keyring: *const rk_keyring,
    changed_out: *mut bool,
) -> rk_status {
    with_profile(profile, |p| {
        let k = arg_ref(keyring, "keyring")?;
        let changed = p.rotate_password(&k.inner).map_err(|e| core_err(&e))?;
        if !changed_out.is_null() {
            write_out(changed_out, changed);
        }
        Ok(())
    })
}

/// Writes the password as the dialog shows it (asterisks when encrypted) to `*display_out`
/// (free with `rk_string_free`); NULL when there is no password.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_password_display(profile: *const rk_profile, display_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let p = arg_ref(profile, "profile")?;
        let out = arg_out(display_out, "display_out")?;
        write_out(out, p.inner.password_display().map_or(std::ptr::null_mut(), owned_string));
        Ok(())
    })
}

// ---- keyring -------------------------------------------------------------------------------

/// An empty keyring.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_new(keyring_out: *mut *mut rk_keyring) -> rk_status {
    guard(|| {
        let out = arg_out(keyring_out, "keyring_out")?;
        write_out(out, boxed(rk_keyring { inner: Keyring::new() }));
        Ok(())
    })
}

/// The keyring of the environment: `RELAYKIT_KEY`, else the file `RELAYKIT_KEY_FILE` names,
/// else the default key file (`~/.config/relaykit/key`) if present, else empty.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_from_env(keyring_out: *mut *mut rk_keyring) -> rk_status {
    guard(|| {
        let out = arg_out(keyring_out, "keyring_out")?;
        let k = Keyring::from_env().map_err(|e| core_err(&e))?;
        write_out(out, boxed(rk_keyring { inner: k }));
        Ok(())
    })
}

/// A keyring from a key file, refused unless owned by the current user with mode 0600.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_from_file(path: *const c_char, keyring_out: *mut *mut rk_keyring) -> rk_status {
    guard(|| {
        let path = arg_str(path, "path")?;
        let out = arg_out(keyring_out, "keyring_out")?;
        let k = Keyring::from_key_file(path).map_err(|e| core_err(&e))?;
        write_out(out, boxed(rk_keyring { inner: k }));
        Ok(())
    })
}

/// A keyring from key text: one base64 key, or `kid:base64` entries separated by commas (the
/// last is the newest).
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_from_text(text: *const c_char, keyring_out: *mut *mut rk_keyring) -> rk_status {
    guard(|| {
        let text = arg_str(text, "text")?;
        let out = arg_out(keyring_out, "keyring_out")?;
        let k = Keyring::from_text(text).map_err(|e| core_err(&e))?;
        write_out(out, boxed(rk_keyring { inner: k }));
        Ok(())
    })
}

/// Adds a raw 32-byte key under `key_id` (NULL: derived from the key) as the newest key.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_add_key(
    keyring: *mut rk_keyring,
    key_id: *const c_char,
    key: *const u8,
    key_len: usize,
) -> rk_status {
    guard(|| {
        let k = arg_mut(keyring, "keyring")?;
        let id = arg_opt_str(key_id, "key_id")?;
        let bytes = arg_bytes(key, key_len, "key")?;
        k.inner.add_key(id, bytes).map(|_| ()).map_err(|e| core_err(&e))
    })
}

/// Generates a random key, adds it as the newest, and writes its id to `*key_id_out` (may be
/// NULL; free with `rk_string_free`).
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_generate_key(keyring: *mut rk_keyring, key_id_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let k = arg_mut(keyring, "keyring")?;
        let id = k.inner.generate_key().map_err(|e| core_err(&e))?;
        if !key_id_out.is_null() {
            write_out(key_id_out, owned_string(id));
        }
        Ok(())
    })
}

/// Writes the keys as `kid:base64url,…` text (for `RELAYKIT_KEY` or a key file) to
/// `*text_out`; free it with `rk_string_free` after wiping it.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_export(keyring: *const rk_keyring, text_out: *mut *mut c_char) -> rk_status {
    guard(|| {
        let k = arg_ref(keyring, "keyring")?;
        let out = arg_out(text_out, "text_out")?;
        write_out(out, owned_string(k.inner.export().as_str()));
        Ok(())
    })
}

/// Writes the keys to a new file (mode 0600); fails if it exists.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_write_file(keyring: *const rk_keyring, path: *const c_char) -> rk_status {
    guard(|| {
        let k = arg_ref(keyring, "keyring")?;
        let path = arg_str(path, "path")?;
        k.inner.write_key_file(path).map_err(|e| core_err(&e))
    })
}

/// Frees a keyring (its keys are zeroized). NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_keyring_free(keyring: *mut rk_keyring) {
    free(keyring);
}

// ---- RRT context ---------------------------------------------------------------------------

/// A new RRT context; `~WIN::NAME~` reads the process environment.
#[unsafe(no_mangle)]
pub extern "C" fn rk_rrt_context_new(ctx_out: *mut *mut rk_rrt_context) -> rk_status {
    guard(|| {
        let out = arg_out(ctx_out, "ctx_out")?;
        write_out(out, boxed(rk_rrt_context { inner: RrtContext::new() }));
        Ok(())
    })
}

/// Kinds of RRT value.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum rk_rrt_kind {
    /// `~ID::%name%~`
    RK_RRT_PLAIN = 0,
    /// `~ID::%$name%~`: kept encrypted in memory, never shown.
    RK_RRT_PROTECTED = 1,
    /// `~ID::%@name%~`: protected, and accepted only in the password.
    RK_RRT_RESTRICTED = 2,
}

/// Registers a value for tags `~id::%name%~` (plain), `~id::%$name%~` (protected) or
/// `~id::%@name%~` (restricted).
#[unsafe(no_mangle)]
pub extern "C" fn rk_rrt_context_set(
    ctx: *mut rk_rrt_context,
    kind: rk_rrt_kind,
    id: *const c_char,
    name: *const c_char,
    value: *const c_char,
) -> rk_status {
    guard(|| {
        let c = arg_mut(ctx, "ctx")?;
        let (id, name, value) = (arg_str(id, "id")?, arg_str(name, "name")?, arg_str(value, "value")?);
        match kind {
            rk_rrt_kind::RK_RRT_PLAIN => c.inner.set(id, name, value),
            rk_rrt_kind::RK_RRT_PROTECTED => c.inner.set_protected(id, name, value),
            rk_rrt_kind::RK_RRT_RESTRICTED => c.inner.set_restricted(id, name, value),
        }
        .map_err(|e| core_err(&e))
    })
}

/// Registers a protected value for `~id::%$name%~` (kept encrypted in memory, never shown);
/// the same as `rk_rrt_context_set(ctx, RK_RRT_PROTECTED, …)`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_rrt_context_set_protected(
    ctx: *mut rk_rrt_context,
    id: *const c_char,
    name: *const c_char,
    value: *const c_char,
) -> rk_status {
    rk_rrt_context_set(ctx, rk_rrt_kind::RK_RRT_PROTECTED, id, name, value)
}

/// Registers a restricted value for `~id::%@name%~` (protected, accepted only in the
/// password); the same as `rk_rrt_context_set(ctx, RK_RRT_RESTRICTED, …)`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_rrt_context_set_restricted(
    ctx: *mut rk_rrt_context,
    id: *const c_char,
    name: *const c_char,
    value: *const c_char,
) -> rk_status {
    rk_rrt_context_set(ctx, rk_rrt_kind::RK_RRT_RESTRICTED, id, name, value)
}

/// Frees an RRT context (its protected values are zeroized). NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_rrt_context_free(ctx: *mut rk_rrt_context) {
    free(ctx);
}

// ---- message -------------------------------------------------------------------------------

/// A new message from `from` (`addr` or `Name <addr>`; RRTs allowed).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_new(from: *const c_char, message_out: *mut *mut rk_message) -> rk_status {
    guard(|| {
        let from = arg_str(from, "from")?;
        let out = arg_out(message_out, "message_out")?;
        write_out(out, boxed(rk_message { inner: Message::new(from) }));
        Ok(())
    })
}

/// A message from its JSON form (`from`, `to`, `cc`, `bcc`, `reply_to`, `subject`, `text`,
/// `html`, `attachments`, `inline`, `headers`, `message_id`, `raw_base64`, …).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_from_json(json: *const c_char, message_out: *mut *mut rk_message) -> rk_status {
    guard(|| {
        let json = arg_str(json, "json")?;
        let out = arg_out(message_out, "message_out")?;
        let m = Message::from_json(json).map_err(|e| core_err(&e))?;
        write_out(out, boxed(rk_message { inner: m }));
        Ok(())
    })
}

/// A raw RFC 5322 message (sent as it is, line endings made CRLF) with its envelope sender
/// and one recipient; add more with `rk_message_add_recipient(m, RK_RCPT_BCC, …)`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_new_raw(
    envelope_from: *const c_char,
    recipient: *const c_char,
    bytes: *const u8,
    len: usize,
    message_out: *mut *mut rk_message,
) -> rk_status {
    guard(|| {
        let from = arg_str(envelope_from, "envelope_from")?;
        let rcpt = arg_str(recipient, "recipient")?;
        let out = arg_out(message_out, "message_out")?;
        let raw = arg_bytes(bytes, len, "bytes")?.to_vec();
        write_out(out, boxed(rk_message { inner: Message::raw(from, vec![rcpt.to_owned()], raw) }));
        Ok(())
    })
}

/// Recipient kinds.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum rk_recipient_kind {
    /// `To`
    RK_RCPT_TO = 0,
    /// `Cc`
    RK_RCPT_CC = 1,
    /// envelope only
    RK_RCPT_BCC = 2,
    /// `Reply-To` (not a recipient)
    RK_RCPT_REPLY_TO = 3,
}

fn with_message(m: *mut rk_message, f: impl FnOnce(&mut Message) -> FfiResult) -> rk_status {
    guard(|| f(&mut arg_mut(m, "message")?.inner))
}

/// Adds an address to To, Cc, Bcc or Reply-To.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_add_recipient(
    message: *mut rk_message,
    kind: rk_recipient_kind,
    address: *const c_char,
) -> rk_status {
    with_message(message, |m| {
        let a = arg_str(address, "address")?.to_owned();
        match kind {
            rk_recipient_kind::RK_RCPT_TO => m.to.push(a),
            rk_recipient_kind::RK_RCPT_CC => m.cc.push(a),
            rk_recipient_kind::RK_RCPT_BCC => m.bcc.push(a),
            rk_recipient_kind::RK_RCPT_REPLY_TO => m.reply_to.push(a),
        }
        Ok(())
    })
}

/// Sets the author (`addr` or `Name <addr>`; RRTs allowed), also the envelope sender unless
/// `rk_message_set_envelope_from` sets one.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_from(message: *mut rk_message, from: *const c_char) -> rk_status {
    with_message(message, |m| {
        arg_str(from, "from")?.clone_into(&mut m.from);
        Ok(())
    })
}

/// Sets the envelope sender (MAIL FROM) when it differs from the author (NULL: use the author).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_envelope_from(message: *mut rk_message, address: *const c_char) -> rk_status {
    with_message(message, |m| {
        m.envelope_from = arg_opt_str(address, "address")?.map(str::to_owned);
        Ok(())
    })
}

/// Sets the Message-ID (with or without angle brackets; NULL: generate one when sending).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_message_id(message: *mut rk_message, message_id: *const c_char) -> rk_status {
    with_message(message, |m| {
        m.message_id = arg_opt_str(message_id, "message_id")?.map(str::to_owned);
        Ok(())
    })
}

/// Whether RRTs in the message fields are expanded when sending (on by default; never in raw
/// bytes or attachments).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_expand_rrts(message: *mut rk_message, on: bool) -> rk_status {
    with_message(message, |m| {
        m.expand_rrts = on;
        Ok(())
    })
}

/// Sets the subject.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_subject(message: *mut rk_message, subject: *const c_char) -> rk_status {
    with_message(message, |m| {
        m.subject = arg_opt_str(subject, "subject")?.map(str::to_owned);
        Ok(())
    })
}

/// Sets the plain-text body (NULL removes it).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_text(message: *mut rk_message, text: *const c_char) -> rk_status {
    with_message(message, |m| {
        m.text = arg_opt_str(text, "text")?.map(str::to_owned);
        Ok(())
    })
}

/// Sets the HTML body (NULL removes it).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_set_html(message: *mut rk_message, html: *const c_char) -> rk_status {
    with_message(message, |m| {
        m.html = arg_opt_str(html, "html")?.map(str::to_owned);
        Ok(())
    })
}

/// Adds an extra header (CR or LF in it is refused when the message is sent).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_add_header(
    message: *mut rk_message,
    name: *const c_char,
    value: *const c_char,
) -> rk_status {
    with_message(message, |m| {
        m.headers.push((arg_str(name, "name")?.to_owned(), arg_str(value, "value")?.to_owned()));
        Ok(())
    })
}

/// Adds an attachment from bytes (copied); `content_type` NULL: the type the file name's
/// extension says (`report.pdf`: application/pdf), else application/octet-stream.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_attach_bytes(
    message: *mut rk_message,
    filename: *const c_char,
    content_type: *const c_char,
    bytes: *const u8,
    len: usize,
) -> rk_status {
    with_message(message, |m| {
        let f = arg_str(filename, "filename")?;
        let content_type = arg_opt_str(content_type, "content_type")?.map(str::to_owned);
        let data = arg_bytes(bytes, len, "bytes")?.to_vec();
        m.attachments.push(Attachment { content_type, ..Attachment::from_bytes(f, "", data) });
        Ok(())
    })
}

/// Adds an attachment read from `path` when the message is sent (`content_type` NULL: the
/// type the path's extension says, else application/octet-stream; the file name is the path's
/// last part).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_attach_file(
    message: *mut rk_message,
    path: *const c_char,
    content_type: *const c_char,
) -> rk_status {
    with_message(message, |m| {
        let p = arg_str(path, "path")?;
        let ct = arg_opt_str(content_type, "content_type")?.map(str::to_owned);
        m.attachments.push(Attachment::from_path(p, ct));
        Ok(())
    })
}

/// Adds an inline part (e.g. an image) that the HTML body shows as `cid:<content_id>`, from
/// bytes (copied).
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_add_inline(
    message: *mut rk_message,
    content_id: *const c_char,
    content_type: *const c_char,
    bytes: *const u8,
    len: usize,
) -> rk_status {
    with_message(message, |m| {
        let cid = arg_str(content_id, "content_id")?;
        let ct = arg_str(content_type, "content_type")?;
        let data = arg_bytes(bytes, len, "bytes")?.to_vec();
        m.inline.push(Attachment::inline(cid, ct, Content::Bytes(data)));
        Ok(())
    })
}

/// Prepares the message as a Send would (RRTs expanded with `ctx`, NULL: the core's default
/// context; header injection refused; MIME built) without sending it, and writes the result's
/// JSON to `*json_out` (free with `rk_string_free`): `{"envelope_from", "recipients",
/// "bytes_base64", "message_id", "needs_smtputf8", "eight_bit"}`.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_prepare(
    message: *const rk_message,
    ctx: *const rk_rrt_context,
    json_out: *mut *mut c_char,
) -> rk_status {
    guard(|| {
        let m = &arg_ref(message, "message")?.inner;
        // SAFETY: a non-NULL handle was made by relaykit and is alive, as the header requires.
        let ctx = unsafe { ctx.as_ref() }.map(|c| c.inner.clone()).unwrap_or_default();
        let out = arg_out(json_out, "json_out")?;
        let p = m.prepare(&ctx).map_err(|e| core_err(&e))?;
        write_out(out, owned_string(p.to_json_value().to_string()));
        Ok(())
    })
}

/// Frees a message. NULL is allowed.
#[unsafe(no_mangle)]
pub extern "C" fn rk_message_free(message: *mut rk_message) {
    free(message);
}

/// Encrypts the PEM private key `plaintext` of the profile's client certificate (mutual TLS)
/// under the keyring's newest key and stores the envelope as `tls_client_key`, bound to that
/// field and the profile's id. `rk_profile_rotate_password` re-encrypts it too.
#[unsafe(no_mangle)]
pub extern "C" fn rk_profile_encrypt_tls_client_key(
    profile: *mut rk_profile,
    plaintext: *const c_char,
    keyring: *const rk_keyring,
) -> rk_status {
    with_profile(profile, |p| {
        let pt = arg_str(plaintext, "plaintext")?;
        let k = arg_ref(keyring, "keyring")?;
        p.encrypt_tls_client_key(pt, &k.inner).map_err(|e| core_err(&e))
    })
}
