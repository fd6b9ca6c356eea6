//! The demo: load a profile, encrypt its password, expand its tags and print the settings that
//! Test and Send would use, with the password masked.
//!
//! Run it with `cargo run -p relaykit --example demo`.

use relaykit::{Keyring, Profile, RrtContext};

fn main() -> Result<(), relaykit::Error> {
    let mut profile = Profile::from_json(
        r#"{
            "id": "demo",
            "server": "~ACC::%region%~.relaykit.test",
            "port": 587,
            "encrypted_connection": true,
            "requires_authentication": true,
            "username": "~WIN::USER~@relaykit.test",
            "password": "correct horse ~ battery"
        }"#,
    )?;
    // The dialog's "Encrypted" check box: the password is stored as an envelope. A key would
    // normally come from RELAYKIT_KEY or a key file; the demo makes one.
    let keyring = Keyring::generate();
    profile.encrypt_current_password(&keyring)?;
    println!("saved profile:\n{}\n", profile.to_json());
    println!("password as the dialog shows it: {}", profile.password_display().unwrap_or(""));

    let mut ctx = RrtContext::new();
    if std::env::var_os("USER").is_none() {
        ctx = ctx.with_environment([("USER", "demo")]);
    }
    ctx.set("ACC", "region", "smtp-eu")?;
    let settings = profile.resolve(&keyring, &ctx)?;
    println!("effective settings: {}", settings.describe());
    Ok(())
}
