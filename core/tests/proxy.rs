//! `relaykit::proxy` against the real proxies of tests/servers/ (#15): Dante (SOCKS5 with
//! username/password) and Tinyproxy (HTTP CONNECT, with and without Basic auth), in front of
//! the Postfix listeners. Each connection is proven by reading Postfix's greeting through it.
//! Needs the roles `dovecot socks httpproxy` (RK_ROLES); without RK_SOCKS_PORT in servers.env
//! the test says so and fails, so it cannot pass without having run.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

mod servers_env;

use std::time::Duration;

use relaykit::ErrorKind;
use relaykit::proxy::Proxy;
use servers_env::{port, var};
use tokio::io::AsyncReadExt as _;

const T: Duration = Duration::from_secs(10);

async fn greeting(proxy: &str, host: &str, target_port: u16) -> relaykit::Result<String> {
    let p = Proxy::parse(proxy)?;
    let mut tcp = p.connect(host, target_port, T).await?;
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(T, tcp.read(&mut buf)).await.expect("a greeting within 10 s").unwrap();
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn socks5_and_http_connect_reach_postfix_and_refusals_say_which_proxy_refused_what() {
    assert!(
        servers_env::env().contains_key("RK_SOCKS_PORT"),
        "start the proxy roles: RK_ROLES=\"dovecot socks httpproxy\" bash tests/servers/start.sh"
    );
    let smtp = port("RK_DOVECOT_PLAIN_PORT");
    let (user, pass, bad) = (var("RK_SOCKS_USER"), var("RK_SOCKS_PASS"), var("RK_SOCKS_BAD_PASS"));
    let socks = port("RK_SOCKS_PORT");

    // SOCKS5 with an address, and socks5h with a name the proxy resolves.
    let g = greeting(&format!("socks5://{user}:{pass}@127.0.0.1:{socks}"), "127.0.0.1", smtp).await.unwrap();
    assert!(g.starts_with("220 "), "{g}");
    let g = greeting(&format!("socks5h://{user}:{pass}@127.0.0.1:{socks}"), "localhost", smtp).await.unwrap();
    assert!(g.starts_with("220 "), "{g}");
    // A wrong password: auth_failed, naming the proxy, never the password.
    let e = greeting(&format!("socks5://{user}:{bad}@127.0.0.1:{socks}"), "127.0.0.1", smtp).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthFailed, "{e}");
    assert!(e.message().contains(&format!("proxy authentication failed at 127.0.0.1:{socks}")), "{e}");
    assert!(!e.message().contains(bad) && !e.message().contains(pass), "{e}");
    // A port the proxy does not allow.
    let denied = port("RK_PROXY_DENIED_PORT");
    let e = greeting(&format!("socks5://{user}:{pass}@127.0.0.1:{socks}"), "127.0.0.1", denied).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains(&format!("refused the connection to 127.0.0.1:{denied}")), "{e}");

    // HTTP CONNECT, open and with Basic auth.
    let open = port("RK_HTTP_PROXY_PORT");
    let g = greeting(&format!("http://127.0.0.1:{open}"), "127.0.0.1", smtp).await.unwrap();
    assert!(g.starts_with("220 "), "{g}");
    let auth = port("RK_HTTP_PROXY_AUTH_PORT");
    let (hu, hp, hbad) = (var("RK_HTTP_PROXY_USER"), var("RK_HTTP_PROXY_PASS"), var("RK_HTTP_PROXY_BAD_PASS"));
    let g = greeting(&format!("http://{hu}:{hp}@127.0.0.1:{auth}"), "127.0.0.1", smtp).await.unwrap();
    assert!(g.starts_with("220 "), "{g}");
    for url in [format!("http://{hu}:{hbad}@127.0.0.1:{auth}"), format!("http://127.0.0.1:{auth}")] {
        let e = greeting(&url, "127.0.0.1", smtp).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthFailed, "{url}: {e}");
        assert!(e.message().contains("proxy authentication failed"), "{e}");
        assert!(!e.message().contains(hbad) && !e.message().contains(hp), "{e}");
    }
    let e = greeting(&format!("http://127.0.0.1:{open}"), "127.0.0.1", denied).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains(&format!("refused the connection to 127.0.0.1:{denied}")), "{e}");
    // Nothing listening where the proxy should be.
    let e = greeting("socks5://127.0.0.1:9", "127.0.0.1", smtp).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
    assert!(e.message().contains("the proxy 127.0.0.1:9 refused the connection"), "{e}");
}
