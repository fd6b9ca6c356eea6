//! `relaykit key generate|rotate` and `relaykit encrypt-password`.

use relaykit::{Error, Keyring, Profile};

use crate::args::{Common, EncryptPasswordArgs, KeyGenerateArgs, KeyRotateArgs};
use crate::common;
use crate::exit::{Failure, Outcome};

/// `key generate`: a new key file (mode 0600, never over an existing one unless `--force`), or
/// with `--add` a new newest key in an existing one. Prints the key id, never the key.
pub fn generate(c: &Common, a: &KeyGenerateArgs) -> Outcome {
    let path = common::key_file_path(a.file.as_deref(), c)?;
    if a.add {
        // Read through the library, so the file's owner and mode are checked as for any use.
        let mut keyring = Keyring::from_key_file(&path)?;
        let id = keyring.generate_key()?;
        common::write_atomically(&path, format!("{}\n", keyring.export().as_str()).as_bytes())?;
        println!("added key {id} to {} (it is now the newest; run `relaykit key rotate PROFILE...`)", path.display());
        return Ok(());
    }
    if path.exists() && !a.force {
        return Err(Failure::usage(format!(
            "{} exists: give --add to add a new key to it, or --force to replace it (its keys are then lost, \
             and passwords encrypted under them cannot be decrypted)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        create_private_dir(dir)
            .map_err(|e| Error::new(relaykit::ErrorKind::Io, format!("cannot create {}: {e}", dir.display())))?;
    }
    let keyring = Keyring::generate()?;
    if a.force && path.exists() {
        common::write_atomically(&path, format!("{}\n", keyring.export().as_str()).as_bytes())?;
    } else {
        keyring.write_key_file(&path)?;
    }
    println!("generated key {} in {}", keyring.newest_key_id().unwrap_or("?"), path.display());
    Ok(())
}

/// The key file's directory, owner-only.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

/// `key rotate PROFILE...`: each encrypted password re-encrypted under the newest key, each file
/// rewritten atomically. A file that fails is reported and the others are still done.
pub fn rotate(c: &Common, a: &KeyRotateArgs) -> Outcome {
    let keyring = common::keyring_with_key(c)?;
    let newest = keyring.newest_key_id().unwrap_or("?").to_owned();
    let mut first_failure = None;
    for file in &a.files {
        let done = (|| -> Result<&str, Failure> {
            let mut profile = common::read_profile(file)?;
            if !profile.password_encrypted() && !profile.tls_client_key_encrypted() {
                return Ok("has no encrypted password or client key: nothing to rotate");
            }
            if profile.rotate_password(&keyring)? {
                common::write_profile(file, &profile)?;
                Ok("rotated")
            } else {
                Ok("already current")
            }
        })();
        match done {
            Ok(what) => println!("{}: {what} (key {newest})", file.display()),
            Err(f) => {
                eprintln!("relaykit: {}: {}", file.display(), f.text().unwrap_or_default());
                first_failure.get_or_insert(f.code());
            }
        }
    }
    first_failure.map_or(Ok(()), |code| Err(Failure::Reported(code)))
}

/// `encrypt-password PROFILE`: the password (prompted without echo, from standard input, or the
/// plain one already in the file with `--current`) stored as an envelope under the newest key.
pub fn encrypt_password(c: &Common, a: &EncryptPasswordArgs) -> Outcome {
    let keyring = common::keyring_with_key(c)?;
    let mut profile: Profile = common::read_profile(&a.file)?;
    if a.tls_client_key {
        return encrypt_tls_client_key(a, &keyring, profile);
    }
    if a.current {
        match profile.password() {
            None => {
                return Err(Failure::Relaykit(Error::config(
                    "$.password",
                    format!("{} has no password to encrypt (leave out --current to give one)", a.file.display()),
                )));
            }
            Some(_) if profile.password_encrypted() => {
                println!(
                    "{}: the password is already encrypted (to re-encrypt under the newest key: `relaykit key rotate`)",
                    a.file.display()
                );
                return Ok(());
            }
            Some(current) => {
                common::warn_if_encrypting_rrt(current.display_form());
                profile.encrypt_current_password(&keyring)?;
            }
        }
    } else {
        let pw = common::read_secret("Password (not shown): ", a.password_stdin)?;
        if pw.is_empty() {
            return Err(Failure::Relaykit(Error::config("$.password", "the password given is empty")));
        }
        common::warn_if_encrypting_rrt(&pw);
        profile.encrypt_password(&pw, &keyring)?;
    }
    profile.validate()?;
    common::write_profile(&a.file, &profile)?;
    println!("{}: password encrypted under key {}", a.file.display(), keyring.newest_key_id().unwrap_or("?"));
    Ok(())
}

/// `encrypt-password --tls-client-key PROFILE`: the inline client certificate key stored as an
/// envelope under the newest key.
fn encrypt_tls_client_key(a: &EncryptPasswordArgs, keyring: &Keyring, mut profile: Profile) -> Outcome {
    if profile.tls_client_key().is_none() {
        return Err(Failure::Relaykit(Error::config(
            "$.tls_client_key",
            format!("{} has no inline client key to encrypt (a key file stays a file)", a.file.display()),
        )));
    }
    if profile.tls_client_key_encrypted() {
        println!(
            "{}: the client key is already encrypted (to re-encrypt under the newest key: `relaykit key rotate`)",
            a.file.display()
        );
        return Ok(());
    }
    profile.encrypt_current_tls_client_key(keyring)?;
    profile.validate()?;
    common::write_profile(&a.file, &profile)?;
    println!("{}: client key encrypted under key {}", a.file.display(), keyring.newest_key_id().unwrap_or("?"));
    Ok(())
}
