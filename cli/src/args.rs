//! The command line, declared with clap's derive API. Doc comments here are the `--help` text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// relaykit: SMTP server profiles with encrypted passwords and runtime replacement tags;
/// Test a server, send mail, manage keys, or edit a profile in the configuration dialog.
#[derive(Debug, Parser)]
#[command(name = "relaykit", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

/// The exit codes, as `--help` shows them (one per error kind; `exit.rs` assigns them).
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  partly done: some recipients or some messages of a batch were refused, or Test's
     relay check was (see the output)
  2  usage: a flag or argument is wrong (clap's message says which)
  3  config: the profile or a message is invalid (the message names the field)
  4  rrt: a replacement tag is malformed or has no value
  5  crypto: no key, a wrong key, or an envelope that does not decrypt
  6  dns          7  connect      8  timeout      9  tls          10 protocol
  11 auth_unsupported   12 auth_failed   13 sender_rejected   14 recipient_rejected
  15 message_rejected   16 io (a local file, or the connection was lost)
  70 internal (a bug in relaykit: please report it)";

/// Options every subcommand takes.
#[derive(Debug, Args)]
pub struct Common {
    /// The key file (owner-only, mode 0600). Default: RELAYKIT_KEY, else RELAYKIT_KEY_FILE,
    /// else ~/.config/relaykit/key, as the library does.
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// A value for a replacement tag for this run: `ID::name=value` (repeatable), e.g.
    /// `--rrt ACC::user=alice@example.com` fills `~ACC::%user%~`.
    #[arg(long = "rrt", global = true, value_name = "ID::name=value")]
    pub rrt: Vec<String>,
    /// Like --rrt, for a protected value (`~ID::%$name%~`): kept encrypted in memory, never shown.
    /// Give `ID::name` to be prompted for the value without echo, or `ID::name=value`.
    #[arg(long = "rrt-protected", global = true, value_name = "ID::name[=value]")]
    pub rrt_protected: Vec<String>,
    /// Like --rrt-protected, for a restricted value (`~ID::%@name%~`, the password field only).
    #[arg(long = "rrt-restricted", global = true, value_name = "ID::name[=value]")]
    pub rrt_restricted: Vec<String>,
    /// Never colour the output (also: the NO_COLOR environment variable; colour is only ever
    /// used on a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// OAuth2 (OAUTHBEARER, XOAUTH2): a shell command that prints an access token, run for
    /// each connection that logs in and again when the server rejects a token. It gets
    /// RELAYKIT_TOKEN_USER (the profile's user name) and RELAYKIT_TOKEN_REASON (`initial`, or
    /// `refresh` for a fresh token); its standard output, trimmed, is the token; a non-zero exit
    /// is an authentication failure naming the command. The profile may then have no password.
    #[arg(long, global = true, value_name = "COMMAND")]
    pub token_command: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, show or validate a profile file.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Generate or rotate encryption keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Encrypt a profile's password in place (prompted without echo, or from --password-stdin).
    EncryptPassword(EncryptPasswordArgs),
    /// Test a profile: the dialog's Test button, stage by stage.
    Test(TestArgs),
    /// Send a message, a raw .eml file, or a batch of messages through a profile.
    Send(Box<SendArgs>),
    /// Serve the configuration dialog for a profile as a local web page and print its URL.
    Dialog(DialogArgs),
}

#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Write a new profile file from flags (prompting on a terminal for what is missing).
    New(Box<ProfileNewArgs>),
    /// Print a profile (its password as asterisks).
    Show(ProfileShowArgs),
    /// Check a profile file; exit 0 when it is valid, 3 naming the field when it is not.
    Validate(ProfileValidateArgs),
}

/// The profile fields of the specification's §1, one flag each.
#[derive(Debug, Args, Default)]
#[allow(clippy::struct_excessive_bools)] // the dialog's check boxes, one flag each
pub struct ProfileFields {
    /// Server: host name, IPv4 or IPv6 address, or unix:/absolute/path for a Unix domain socket
    /// (RRTs allowed). Required.
    #[arg(long)]
    pub server: Option<String>,
    /// Port (default 25, or 465 with --encrypted).
    #[arg(long, allow_negative_numbers = true)]
    pub port: Option<i64>,
    /// "This server requires an encrypted connection": TLS is mandatory and verified.
    #[arg(long)]
    pub encrypted: bool,
    /// With --encrypted: auto (implicit TLS on 465, STARTTLS elsewhere), implicit or starttls.
    #[arg(long, value_name = "MODE")]
    pub tls_mode: Option<String>,
    /// Without --encrypted: opportunistic (upgrade when offered) or never.
    #[arg(long, value_name = "POLICY")]
    pub starttls: Option<String>,
    /// "Requires authentication".
    #[arg(long)]
    pub auth: bool,
    /// User name (RRTs allowed); implies --auth.
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from standard input (one line) instead of prompting; implies --auth.
    #[arg(long)]
    pub password_stdin: bool,
    /// Prompt for the password without echo (the default on a terminal when --auth is given).
    #[arg(long)]
    pub password_prompt: bool,
    /// "Encrypted": store the password as an envelope under the newest key.
    #[arg(long = "encrypt-password")]
    pub encrypt_password: bool,
    /// "Log on using NTLM authentication" as the user running this command (user name and
    /// password are then unused).
    #[arg(long)]
    pub ntlm_current_user: bool,
    /// Allowed mechanisms, comma-separated (default: all supported).
    #[arg(long, value_delimiter = ',', value_name = "MECH,...")]
    pub auth_mechanisms: Option<Vec<String>>,
    /// Try the allowed mechanisms in the order listed ("as_listed") instead of most secure first.
    #[arg(long, value_name = "ORDER")]
    pub auth_order: Option<String>,
    /// Permit PLAIN and LOGIN on a connection without TLS.
    #[arg(long)]
    pub allow_plaintext_password: bool,
    /// Do not verify the server's certificate and host name.
    #[arg(long)]
    pub no_tls_verify: bool,
    /// A PEM file of extra trust anchors.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<String>,
    /// Extra trust anchors copied into the profile (`tls_ca_pem`) from this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_pem_from: Option<PathBuf>,
    /// The EHLO/HELO name (default: this machine's host name).
    #[arg(long)]
    pub helo_name: Option<String>,
    /// Bound on each stage, in seconds (default 30).
    #[arg(long, value_name = "SECS")]
    pub timeout_secs: Option<f64>,
    /// The profile id (bound into the password's ciphertext).
    #[arg(long)]
    pub id: Option<String>,
    /// A PEM file with the client certificate chain (mutual TLS), end-entity first.
    #[arg(long, value_name = "FILE")]
    pub tls_client_cert_file: Option<String>,
    /// The client certificate chain copied into the profile (`tls_client_cert_pem`) from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_client_cert_file")]
    pub tls_client_cert_pem_from: Option<PathBuf>,
    /// A PEM file with the client certificate's private key.
    #[arg(long, value_name = "FILE")]
    pub tls_client_key_file: Option<String>,
    /// The client certificate's private key copied into the profile (`tls_client_key`) from this
    /// file; with --encrypt-tls-client-key it is stored as an envelope.
    #[arg(long, value_name = "FILE", conflicts_with = "tls_client_key_file")]
    pub tls_client_key_from: Option<PathBuf>,
    /// Store the key given with --tls-client-key-from encrypted under the newest key.
    #[arg(long, requires = "tls_client_key_from")]
    pub encrypt_tls_client_key: bool,
    /// Reach the server through a proxy: socks5://host:port (or socks5://user@host:port),
    /// socks5h://... (the proxy resolves the name) or http://host:port (HTTP CONNECT). RRTs
    /// allowed.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Prompt for the proxy's password without echo (stored as `proxy_password`; encrypted too
    /// with --encrypt-password).
    #[arg(long)]
    pub proxy_password_prompt: bool,
    /// The protocol: smtp (default) or lmtp. With --server unix:/path, a Unix socket.
    #[arg(long, value_name = "PROTOCOL")]
    pub protocol: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProfileNewArgs {
    /// The profile file to write.
    pub file: PathBuf,
    #[command(flatten)]
    pub fields: ProfileFields,
    /// Replace the file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Never prompt, even on a terminal (missing required fields are then an error).
    #[arg(long)]
    pub no_input: bool,
}

#[derive(Debug, Args)]
pub struct ProfileShowArgs {
    pub file: PathBuf,
    /// Print the profile's JSON instead of a table (the password, encrypted or not, as
    /// asterisks: this is for reading; the file itself is the saved form).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProfileValidateArgs {
    /// One or more profile files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One JSON line per file: {"file": ..., "ok": ..., "error": ...}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Create a key file with a new key (mode 0600; refuses to overwrite without --force),
    /// or add a new newest key to an existing one with --add.
    Generate(KeyGenerateArgs),
    /// Re-encrypt the passwords of profile files under the newest key of the keyring.
    Rotate(KeyRotateArgs),
}

#[derive(Debug, Args)]
pub struct KeyGenerateArgs {
    /// The key file (default: --key-file, else RELAYKIT_KEY_FILE, else ~/.config/relaykit/key).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Replace an existing key file (its keys are lost: passwords under them cannot be decrypted).
    #[arg(long, conflicts_with = "add")]
    pub force: bool,
    /// Add a new key to an existing key file; it becomes the newest (then run `key rotate`).
    #[arg(long)]
    pub add: bool,
}

#[derive(Debug, Args)]
pub struct KeyRotateArgs {
    /// The profile files to re-encrypt (each rewritten atomically).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EncryptPasswordArgs {
    /// The profile file (rewritten atomically).
    pub file: PathBuf,
    /// Read the password from standard input (one line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Encrypt the password already in the file (plain text) instead of asking for one.
    #[arg(long, conflicts_with = "password_stdin")]
    pub current: bool,
    /// Encrypt the profile's inline client certificate key (`tls_client_key`) instead of the
    /// password.
    #[arg(long, conflicts_with_all = ["password_stdin", "current"])]
    pub tls_client_key: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The profile file.
    pub file: PathBuf,
    /// Also check that the server would relay from FROM to TO (MAIL FROM/RCPT TO, then RSET).
    #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
    pub relay_check: Option<Vec<String>>,
    /// Print the SMTP conversation (secrets masked) on standard error.
    #[arg(long)]
    pub trace: bool,
    /// Print the report as JSON (the library's §8 form) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent switches
pub struct SendArgs {
    /// The profile file.
    pub file: PathBuf,
    /// The sender (and envelope sender).
    #[arg(long)]
    pub from: Option<String>,
    /// Recipients (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub to: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub cc: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub bcc: Vec<String>,
    #[arg(long)]
    pub reply_to: Option<String>,
    #[arg(long)]
    pub subject: Option<String>,
    /// The text body.
    #[arg(long, conflicts_with = "text_file")]
    pub text: Option<String>,
    /// The text body from a file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub text_file: Option<PathBuf>,
    /// The HTML body from a file.
    #[arg(long, value_name = "FILE")]
    pub html_file: Option<PathBuf>,
    /// Attach a file (repeatable). Its content type follows the file name's extension
    /// (report.pdf: application/pdf), else application/octet-stream.
    #[arg(long, value_name = "FILE")]
    pub attach: Vec<PathBuf>,
    /// An extra header `Name: value` (repeatable).
    #[arg(long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// Send a raw RFC 5322 message as it is; --from gives the envelope sender and
    /// --to/--cc/--bcc the envelope recipients (its headers are not read).
    #[arg(long, value_name = "FILE.eml", conflicts_with_all = ["batch", "subject", "text", "text_file", "html_file", "attach", "reply_to", "header"])]
    pub raw: Option<PathBuf>,
    /// Send every message of a JSON Lines file (one message object a line, the library's
    /// message form) through a mailer: pooled, pipelined connections and retries.
    #[arg(long, value_name = "FILE.jsonl", conflicts_with_all = ["subject", "text", "text_file", "html_file", "attach", "from", "to", "cc", "bcc", "reply_to", "header", "no_expand_rrts"])]
    pub batch: Option<PathBuf>,
    /// With --batch: the mailer's options as JSON (e.g. '{"max_connections": 4}').
    #[arg(long, value_name = "JSON", requires = "batch")]
    pub mailer_options: Option<String>,
    /// Do not expand RRTs in the message fields (by default they are expanded with the run's
    /// tag values, as the library does; a batch line says so with "expand_rrts": false).
    #[arg(long)]
    pub no_expand_rrts: bool,
    /// Print the SMTP conversation (secrets masked) on standard error.
    #[arg(long)]
    pub trace: bool,
    /// Print the result as JSON (one line per message with --batch).
    #[arg(long)]
    pub json: bool,
    /// With --batch: no progress bar even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct DialogArgs {
    /// The profile file the page edits (created on Save if it does not exist).
    pub file: PathBuf,
    /// The loopback address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
}
