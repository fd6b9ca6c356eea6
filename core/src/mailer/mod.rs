//! [`Mailer`]: many messages over a few kept-open connections to one server.
//!
//! The profile is resolved once, at creation; each send then takes a connection permit (at
//! most `max_connections` are open at once), reuses an idle connection or opens one lazily,
//! sends one mail transaction on it and puts it back. A reused connection found dead before
//! any of the message was accepted is replaced and the message sent once more on a fresh one.
//!
//! Idle connections past `idle_timeout_secs` are closed when a send finds them (not by a
//! background task in this version).

mod options;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

pub use options::{MailerOptions, MailerStats};

use crate::connection::{self, Progress};
use crate::error::{Error, ErrorKind, Result, Stage};
use crate::message::{Message, Prepared};
use crate::profile::Profile;
use crate::report::SendResult;
use crate::resolve::Settings;
use crate::rrt::RrtContext;
use crate::secret::Keyring;
use crate::send;
use crate::session::{Session, TraceSink};

/// Sends many messages to one server over pooled connections. Cheap to clone (the clones share
/// the pool) and safe to share between tasks and threads.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    ctx: RrtContext,
    trace: Option<TraceSink>,
    ntlm_helper: Option<Vec<String>>,
    max_messages: u32,
    idle_timeout: Duration,
    permits: Semaphore,
    pool: Mutex<Pool>,
    counters: Counters,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Conn>,
    closed: bool,
}

/// An open, authenticated connection and what its opening showed (for hints).
struct Conn {
    session: Session,
    progress: Progress,
    sent: u32,
    since: Instant,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    reconnects: AtomicU64,
    opened: AtomicU64,
    open: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Config, "the mailer is closed; create a new Mailer to send more")
}

impl Mailer {
    /// A mailer for `profile`. The profile is resolved and validated now (an invalid one fails
    /// here with a config error naming the field, before any connection), with `keyring` and
    /// `ctx`; the settings, and `ctx` for each message's tags, are kept for every send. No
    /// connection is opened until the first send.
    pub fn new(profile: &Profile, keyring: &Keyring, ctx: &RrtContext, options: MailerOptions) -> Result<Mailer> {
        options.validate()?;
        let settings = profile.resolve(keyring, ctx)?;
        let inner = Inner {
            settings,
            ctx: ctx.clone(),
            idle_timeout: options.idle_timeout()?,
            trace: options.trace,
            ntlm_helper: options.ntlm_helper,
            max_messages: options.max_messages_per_connection,
            permits: Semaphore::new(options.max_connections as usize),
            pool: Mutex::new(Pool::default()),
            counters: Counters::default(),
        };
        Ok(Mailer { inner: Arc::new(inner) })
    }

    /// Sends one message (Send, §6, over a pooled connection). The message is prepared first,
    /// so a bad one fails alone, before any connection is used. Errors carry the stage, the
    /// reply and the same hints as [`crate::send_async`]. A failure after the message's final
    /// `.` is never retried (the server may have queued it).
    pub async fn send(&self, message: &Message) -> Result<SendResult> {
        let r = self.inner.send(message).await;
        match &r {
            Ok(_) => bump(&self.inner.counters.sent),
            Err(_) => bump(&self.inner.counters.failed),
        }
        r
    }

    /// Closes the mailer: later sends fail at once with a config error; idle connections are
    /// closed with QUIT now, those in use when their send finishes.
    pub async fn close(&self) {
        let idle = {
            let mut pool = self.inner.lock();
            pool.closed = true;
            std::mem::take(&mut pool.idle)
        };
        // Sends waiting for a permit fail now instead of waiting for a connection.
        self.inner.permits.close();
        for c in idle {
            self.inner.quit(c).await;
        }
    }

    /// What the mailer has done so far.
    pub fn stats(&self) -> MailerStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MailerStats {
            sent: get(&c.sent),
            failed: get(&c.failed),
            reconnects: get(&c.reconnects),
            connections_opened: get(&c.opened),
            open_connections: get(&c.open),
        }
    }

    /// [`Mailer::send`], blocking the calling thread (not from inside an async runtime). Use
    /// one form per mailer: its connections belong to the runtime that opened them.
    pub fn send_blocking(&self, message: &Message) -> Result<SendResult> {
        crate::runtime::block_on(self.send(message))?
    }

    /// [`Mailer::close`], blocking the calling thread (not from inside an async runtime).
    pub fn close_blocking(&self) -> Result<()> {
        crate::runtime::block_on(self.close())
    }
}

impl fmt::Debug for Mailer {
    // The settings hold the password: show only where the mailer sends to, and its counters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.inner.settings.describe())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Pool> {
        // A panic elsewhere cannot leave the pool inconsistent (every change is one push/take).
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send(self: &Arc<Self>, message: &Message) -> Result<SendResult> {
        if self.lock().closed {
            return Err(closed_error());
        }
        let prepared = message.prepare(&self.ctx)?;
        let _permit = self.permits.acquire().await.map_err(|_| closed_error())?;
        if let Some(conn) = self.take_idle() {
            match self.attempt(conn, &prepared).await {
                Err(e) if dead_before_accept(&e) => {
                    tracing::debug!("a reused connection was found dead ({e}); sending on a fresh one");
                    bump(&self.counters.reconnects);
                }
                r => return r,
            }
        }
        let conn = self.open().await?;
        self.attempt(conn, &prepared).await
    }

    /// The most recently used idle connection that is not too old; older ones are closed
    /// with QUIT in the background.
    fn take_idle(self: &Arc<Self>) -> Option<Conn> {
        let (fresh, expired) = {
            let mut pool = self.lock();
            let now = Instant::now();
            let (keep, expired): (Vec<Conn>, Vec<Conn>) =
                std::mem::take(&mut pool.idle).into_iter().partition(|c| now - c.since < self.idle_timeout);
            pool.idle = keep;
            (pool.idle.pop(), expired)
        };
        if !expired.is_empty() {
            let me = Arc::clone(self);
            tokio::spawn(async move {
                for c in expired {
                    me.quit(c).await;
                }
            });
        }
        fresh
    }

    async fn open(&self) -> Result<Conn> {
        let mut progress = Progress::default();
        let opened =
            connection::open(&self.settings, self.trace.clone(), self.ntlm_helper.as_ref(), &mut progress).await;
        match opened {
            Ok(session) => {
                bump(&self.counters.opened);
                bump(&self.counters.open);
                Ok(Conn { session, progress, sent: 0, since: Instant::now() })
            }
            Err(e) => Err(progress.hinted(e, &self.settings)),
        }
    }

    /// One transaction on `conn`; the connection then goes back to the pool, or is closed
    /// (QUIT when it is full or the mailer closed, dropped when it failed).
    async fn attempt(&self, mut conn: Conn, prepared: &Prepared) -> Result<SendResult> {
        let r = send::transact(&mut conn.session, prepared).await;
        conn.sent += 1;
        let r = r.map_err(|e| conn.progress.hinted(e, &self.settings));
        match &r {
            Err(e) if !session_usable(e) => self.drop_conn(conn),
            _ => self.release(conn).await,
        }
        r
    }

    async fn release(&self, mut conn: Conn) {
        conn.since = Instant::now();
        let to_quit = {
            let mut pool = self.lock();
            if pool.closed || conn.sent >= self.max_messages {
                Some(conn)
            } else {
                pool.idle.push(conn);
                None
            }
        };
        // QUIT while the caller still holds its permit, so no new connection opens beside it.
        if let Some(c) = to_quit {
            self.quit(c).await;
        }
    }

    async fn quit(&self, conn: Conn) {
        // A server that already went away makes QUIT fail; the connection is closed either way.
        let _ = conn.session.quit().await;
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }

    fn drop_conn(&self, conn: Conn) {
        drop(conn);
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the session is still fit for another message after `err`: the server refused this
/// message (and the session reset) without giving up on the connection.
fn session_usable(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::SenderRejected | ErrorKind::RecipientRejected | ErrorKind::MessageRejected)
        && err.code() != Some(421)
}

/// Whether `err`, on a reused connection, means the connection was already dead and nothing
/// of the message was accepted, so sending it again on a fresh one cannot duplicate it: a lost
/// connection (I/O error, end of stream or no SMTP where a reply was due: protocol without a
/// reply) or a 421, at MAIL FROM or RCPT TO. (A server that closed an idle connection with 421
/// shows either: its unsolicited 421 is read as the MAIL FROM reply, and pipelined, the RCPT
/// reply then meets the end of the stream.) Nothing at DATA: after the final `.` the server
/// may have queued the message.
fn dead_before_accept(err: &Error) -> bool {
    if !matches!(err.stage(), Some(Stage::MailFrom | Stage::RcptTo)) {
        return false;
    }
    match err.kind() {
        ErrorKind::Io => true,
        ErrorKind::Protocol => err.reply().is_none(),
        _ => err.code() == Some(421),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reply;

    fn reply(code: u16) -> Reply {
        Reply { code, enhanced_code: None, text: "x".into() }
    }

    #[test]
    fn only_a_connection_lost_before_any_acceptance_is_retried() {
        let closed = Error::new(ErrorKind::Protocol, "closed");
        assert!(dead_before_accept(&closed.clone().with_stage(Stage::MailFrom)));
        assert!(dead_before_accept(&closed.clone().with_stage(Stage::RcptTo)));
        assert!(!dead_before_accept(&closed.clone().with_stage(Stage::Data)), "after the dot: never");
        assert!(!dead_before_accept(&closed), "no stage: not known to be before acceptance");
        let io = Error::new(ErrorKind::Io, "reset");
        assert!(dead_before_accept(&io.clone().with_stage(Stage::MailFrom)));
        assert!(!dead_before_accept(&io.with_stage(Stage::Data)));
        let sender = Error::new(ErrorKind::SenderRejected, "refused").with_stage(Stage::MailFrom);
        assert!(dead_before_accept(&sender.clone().with_reply(reply(421))));
        assert!(!dead_before_accept(&sender.clone().with_reply(reply(451))), "a 4xx that keeps the connection");
        assert!(!dead_before_accept(&sender.with_reply(reply(550))));
        let garbage = Error::new(ErrorKind::Protocol, "odd").with_stage(Stage::MailFrom).with_reply(reply(250));
        assert!(!dead_before_accept(&garbage));
        let timeout = Error::new(ErrorKind::Timeout, "slow").with_stage(Stage::MailFrom);
        assert!(!dead_before_accept(&timeout), "a slow server is not retried at once");
    }

    #[test]
    fn a_refused_message_keeps_the_session_unless_421() {
        let rej = Error::new(ErrorKind::RecipientRejected, "no").with_stage(Stage::RcptTo);
        assert!(session_usable(&rej.clone().with_reply(reply(550))));
        assert!(!session_usable(&rej.with_reply(reply(421))));
        assert!(!session_usable(&Error::new(ErrorKind::Io, "lost").with_stage(Stage::Data)));
    }
}
