//! Where keys come from outside the program: key files (owner-only) and the environment.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::Keyring;
use crate::error::{Error, Result};

/// The environment variable holding keys as text (`base64` or `kid:base64,kid:base64`).
pub const KEY_ENV: &str = "RELAYKIT_KEY";
/// The environment variable naming the key file.
pub const KEY_FILE_ENV: &str = "RELAYKIT_KEY_FILE";

impl Keyring {
    /// A keyring from a key file, refused unless the file is owned by the current user and
    /// readable by nobody else (mode 0600 or 0400).
    pub fn from_key_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        check_key_file(path)?;
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?,
        );
        let mut k = Keyring::new();
        k.add_keys_from_text(&text, &format!("key file {}", path.display()))?;
        Ok(k)
    }

    /// The keyring of the environment: `RELAYKIT_KEY` if set, else the file `RELAYKIT_KEY_FILE`
    /// names, else the default key file ([`default_key_file`]) if it exists, else an empty
    /// keyring (which fails with a clear error when a key is needed).
    pub fn from_env() -> Result<Self> {
        if let Some(text) = std::env::var_os(KEY_ENV) {
            let text =
                Zeroizing::new(text.into_string().map_err(|_| Error::crypto(format!("{KEY_ENV} is not valid UTF-8")))?);
            let mut k = Keyring::new();
            k.add_keys_from_text(&text, KEY_ENV)?;
            return Ok(k);
        }
        if let Some(path) = std::env::var_os(KEY_FILE_ENV) {
            return Keyring::from_key_file(PathBuf::from(path));
        }
        match default_key_file() {
            Some(p) if p.exists() => Keyring::from_key_file(p),
            _ => Ok(Keyring::new()),
        }
    }

    /// Writes the keys to a new file `path` with mode 0600 (it must not exist yet).
    pub fn write_key_file(&self, path: impl AsRef<Path>) -> Result<()> {
        use std::io::Write as _;
        let path = path.as_ref();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
        let mut text = self.export();
        text.push('\n');
        f.write_all(text.as_bytes()).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))
    }
}

/// The default key file: `$XDG_CONFIG_HOME/relaykit/key`, else `~/.config/relaykit/key`
/// (`%APPDATA%\relaykit\key` on Windows).
pub fn default_key_file() -> Option<PathBuf> {
    let base = if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    };
    base.map(|b| b.join("relaykit").join("key"))
}

#[cfg(unix)]
fn check_key_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(Error::crypto(format!(
            "key file {} is refused: it is owned by uid {}, not by the current user (uid {euid})",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::crypto(format!(
            "key file {} is refused: its mode is {mode:04o}; others may read it (run: chmod 600 {})",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_file(path: &Path) -> Result<()> {
    std::fs::metadata(path).map_err(|e| Error::crypto(format!("key file {}: {e}", path.display())))?;
    Ok(())
}
