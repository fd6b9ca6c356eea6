//! [`Mailer`]: many messages over a few kept-open connections to one server, pipelined,
//! retried and accounted for.
//!
//! The profile is resolved once, at creation. Each message is prepared by its sender (a bad one
//! fails alone, before any connection is used), then queued for the connection tasks of
//! [`pool`]: they open connections lazily (at most `max_connections`), pipeline concurrent
//! senders' messages on a busy connection, replace a connection found dead, and close idle
//! ones with QUIT. The sender waits for its message's outcome and, on a transient failure,
//! sends it again after a jittered backoff ([`RetryPolicy`]); recipients deferred with 4xx
//! while others were accepted are retried alone. A message lost after its final `.` has fate
//! [`Fate::Unknown`] and is not sent again unless `retry_unknown` says so.

mod options;
mod pace;
mod pool;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use options::{MailerOptions, MailerStats, RateLimit, RetryPolicy};

use self::pace::RateLimiter;
use self::pool::{Job, Pool, bump, closed_error};
use crate::error::{Error, Fate, Result};
use crate::message::{Message, Prepared};
use crate::profile::Profile;
use crate::report::SendResult;
use crate::rrt::RrtContext;
use crate::secret::Keyring;

/// Sends many messages to one server over pooled connections. Cheap to clone (the clones share
/// the pool) and safe to share between tasks and threads. Its connection tasks run on the tokio
/// runtime it was created in, or on relaykit's own when created outside one.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Arc<Pool>,
    ctx: RrtContext,
    retry: RetryPolicy,
    retry_unknown: bool,
    rate: Option<RateLimiter>,
    transport: Option<crate::capture::Transport>,
}

impl Mailer {
    /// A mailer for `profile`. The profile is resolved and validated now (an invalid one fails
    /// here with a config error naming the field, before any connection), with `keyring` and
    /// `ctx`; the settings, and `ctx` for each message's tags, are kept for every send. No
    /// connection is opened until the first send.
    pub fn new(profile: &Profile, keyring: &Keyring, ctx: &RrtContext, options: MailerOptions) -> Result<Mailer> {
        options.validate()?;
        let settings = profile.resolve_for(keyring, ctx, options.token_provider.is_some())?;
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(h) => h,
            Err(_) => crate::runtime::handle()?.handle().clone(),
        };
        let idle_timeout = options.idle_timeout()?;
        let transport = options.transport;
        let rate = options.rate_limit.map(|r| r.interval().map(RateLimiter::new)).transpose()?;
        let mut pool = Pool::new(
            settings,
            options.trace,
            options.ntlm_helper,
            options.max_connections,
            options.max_messages_per_connection,
            idle_timeout,
            options.stream_window,
            options.max_queued as usize,
            options.retry.delay(1),
            runtime,
        );
        pool.token_provider = options.token_provider;
        pool.progress = options.progress;
        let inner = Inner {
            pool: Arc::new(pool),
            ctx: ctx.clone(),
            retry: options.retry,
            retry_unknown: options.retry_unknown,
            rate,
            transport,
        };
        Ok(Mailer { inner: Arc::new(inner) })
    }

    /// Sends one message (Send, §6, over a pooled connection), retrying transient failures as
    /// the options say. Errors carry the stage, the reply, the same hints as
    /// [`crate::send_async`], [`Error::transient`], [`Error::fate`] and [`Error::attempts`].
    pub async fn send(&self, message: &Message) -> Result<SendResult> {
        match self.prepare(message) {
            Ok(p) => self.inner.deliver(p).await,
            Err(e) => Err(self.inner.counted(e)),
        }
    }

    /// Sends every message, one outcome per message in the same order. They are queued together
    /// (as many as `max_queued` allows, the rest as room frees), so the connections pipeline
    /// them; a message that cannot be prepared (header injection,
    /// a bad tag) fails alone and the others still go out.
    pub async fn send_many(&self, messages: &[Message]) -> Vec<Result<SendResult>> {
        let mut out: Vec<Option<Result<SendResult>>> = Vec::with_capacity(messages.len());
        let mut first = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            match self.prepare(m) {
                Ok(p) => {
                    first.push((i, p));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(self.inner.counted(e)))),
            }
        }
        let tries = self.inner.deliver_all(first).await;
        for (i, r) in tries {
            out[i] = Some(r);
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(self.inner.counted(Error::internal("a message got no outcome")))))
            .collect()
    }

    /// Sends every message `messages` yields, handing each outcome to `each` with the message's
    /// index, in order: [`Mailer::send_many`] for a stream too long to hold in memory. At most
    /// a batch of messages (32 per connection, at least 256) is held at once; each batch is
    /// queued whole, so the connections pipeline it.
    pub async fn send_each<I, F>(&self, messages: I, mut each: F)
    where
        I: IntoIterator<Item = Message>,
        F: FnMut(usize, Result<SendResult>),
    {
        let batch = (self.inner.pool.max_connections as usize).saturating_mul(32).max(256);
        let mut it = messages.into_iter();
        let mut index = 0;
        loop {
            let chunk: Vec<Message> = it.by_ref().take(batch).collect();
            if chunk.is_empty() {
                return;
            }
            for r in self.send_many(&chunk).await {
                each(index, r);
                index += 1;
            }
        }
    }

    fn prepare(&self, message: &Message) -> Result<Arc<Prepared>> {
        if self.inner.pool.is_closed() {
            return Err(closed_error());
        }
        Ok(Arc::new(message.prepare_in_async(&self.inner.ctx)?))
    }

    /// Closes the mailer: later sends fail at once with a config error; messages queued or in
    /// flight are still sent (retries already waiting are not made); then every connection is
    /// closed with QUIT. Returns when all are closed.
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }

    /// What the mailer has done so far.
    pub fn stats(&self) -> MailerStats {
        let c = &self.inner.pool.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (open, queued) = self.inner.pool.gauges();
        MailerStats {
            sent: get(&c.sent),
            failed: get(&c.failed),
            retried: get(&c.retried),
            reconnects: get(&c.reconnects),
            connections_opened: get(&c.opened),
            open_connections: open,
            queued,
        }
    }

    /// [`Mailer::send`], blocking the calling thread (not from inside an async runtime).
    pub fn send_blocking(&self, message: &Message) -> Result<SendResult> {
        crate::runtime::block_on(self.send(message))?
    }

    /// [`Mailer::send_many`], blocking the calling thread (not from inside an async runtime).
    pub fn send_many_blocking(&self, messages: &[Message]) -> Result<Vec<Result<SendResult>>> {
        crate::runtime::block_on(self.send_many(messages))
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
            .field("server", &self.inner.pool.settings.describe())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One message's progress through its attempts.
struct Tries {
    prepared: Arc<Prepared>,
    attempts: u32,
    /// The recipients of the next attempt (deferred ones), or all when `None`.
    rcpts: Option<Vec<String>>,
    /// What earlier attempts delivered, when some recipients were deferred.
    partial: Option<SendResult>,
}

/// What to do after an attempt.
enum Next {
    Done(Result<SendResult>),
    Again(Tries),
}

impl Inner {
    /// One message through its attempts: [`Inner::deliver_all`] of one.
    async fn deliver(&self, prepared: Arc<Prepared>) -> Result<SendResult> {
        let mut done = self.deliver_all(vec![(0, prepared)]).await;
        done.pop().map_or_else(|| Err(Error::internal("a message got no outcome")), |(_, r)| r)
    }

    /// Messages through their attempts; each attempt round is queued at once.
    async fn deliver_all(&self, first: Vec<(usize, Arc<Prepared>)>) -> Vec<(usize, Result<SendResult>)> {
        if let Some(t) = &self.transport {
            // Capture (#16): no connection, no retry; each message is kept as it would go out.
            return first
                .into_iter()
                .map(|(i, p)| {
                    let r = t.deliver(&p);
                    if let (Ok(_), Some(sink)) = (&r, &self.pool.progress) {
                        sink.report_end(p.bytes.len() as u64);
                    }
                    self.count(&r);
                    (i, r)
                })
                .collect();
        }
        let mut done = Vec::with_capacity(first.len());
        let mut round: Vec<(usize, Tries)> = first
            .into_iter()
            .map(|(i, prepared)| (i, Tries { prepared, attempts: 0, rcpts: None, partial: None }))
            .collect();
        while !round.is_empty() {
            let mut jobs = Vec::with_capacity(round.len());
            let mut waits = Vec::with_capacity(round.len());
            for (i, t) in &mut round {
                t.attempts += 1;
                let (job, rx) = Job::new(Arc::clone(&t.prepared), t.rcpts.clone());
                jobs.push(job);
                waits.push((*i, rx));
            }
            // A job the pool cannot take (the mailer closed) is settled with the error at once.
            // The outcomes are collected while the jobs are still being queued (as room frees),
            // so each message is counted when it ends, not when the last one was queued.
            let submit = async {
                match &self.rate {
                    // Paced: each message waits for its slot, so they are queued one by one.
                    Some(rate) => {
                        for job in jobs {
                            rate.acquire().await;
                            self.pool.submit_all(vec![job]).await;
                        }
                    }
                    None => self.pool.submit_all(jobs).await,
                }
            };
            let collect = async {
                let mut again = Vec::new();
                let mut longest = 0;
                for ((i, t), (_, rx)) in round.into_iter().zip(waits) {
                    let r = received(rx.await);
                    match self.judge(t, r) {
                        Next::Done(r) => {
                            self.count(&r);
                            done.push((i, r));
                        }
                        Next::Again(t) => {
                            longest = longest.max(t.attempts);
                            again.push((i, t));
                        }
                    }
                }
                (again, longest)
            };
            let ((), (again, longest)) = tokio::join!(submit, collect);
            if !again.is_empty() {
                self.backoff(longest).await;
            }
            round = again;
        }
        done
    }

    fn count(&self, r: &Result<SendResult>) {
        let c = &self.pool.counters;
        bump(if r.is_ok() { &c.sent } else { &c.failed });
    }

    /// `e`, counted as a failed send.
    fn counted(&self, e: Error) -> Error {
        bump(&self.pool.counters.failed);
        e
    }

    /// Whether attempt `t.attempts` ends the message, or another follows.
    fn judge(&self, mut t: Tries, r: Result<SendResult>) -> Next {
        let more = t.attempts < self.retry.max_attempts && !self.pool.is_closed();
        match r {
            Ok(res) => {
                let merged = merge(t.partial.take(), res);
                let deferred: Vec<String> =
                    merged.rejected.iter().filter(|r| r.reply.is_transient()).map(|r| r.address.clone()).collect();
                if deferred.is_empty() || !more {
                    return Next::Done(Ok(SendResult { attempts: t.attempts, ..merged }));
                }
                tracing::debug!("{} recipients deferred; trying them again", deferred.len());
                t.rcpts = Some(deferred);
                t.partial = Some(merged);
            }
            Err(e) => {
                let again = e.transient() || (self.retry_unknown && e.fate() == Fate::Unknown);
                if !again || !more {
                    return Next::Done(match t.partial {
                        // Some recipients already have it: that is the outcome, the rest refused.
                        Some(p) => Ok(SendResult { attempts: t.attempts, ..p }),
                        None => Err(e.with_attempts(t.attempts)),
                    });
                }
                tracing::debug!("attempt {} failed ({e}); trying again", t.attempts);
            }
        }
        bump(&self.pool.counters.retried);
        Next::Again(t)
    }

    async fn backoff(&self, attempts: u32) {
        tokio::time::sleep(pace::jittered(self.retry.delay(attempts))).await;
    }
}

/// The outcome a connection task sent back.
fn received(r: std::result::Result<Result<SendResult>, tokio::sync::oneshot::error::RecvError>) -> Result<SendResult> {
    r.unwrap_or_else(|_| {
        // The task ended without settling the message (its runtime shut down, or a bug):
        // it may have gone out.
        Err(Error::internal("the mailer's connection task ended before the message was settled").with_unknown_fate())
    })
}

/// `res` (an attempt for some recipients) merged into what earlier attempts delivered.
fn merge(partial: Option<SendResult>, res: SendResult) -> SendResult {
    let Some(mut p) = partial else {
        return res;
    };
    let tried: Vec<&str> =
        res.accepted.iter().map(String::as_str).chain(res.rejected.iter().map(|r| r.address.as_str())).collect();
    p.rejected.retain(|r| !tried.contains(&r.address.as_str()));
    p.deliveries.retain(|r| !tried.contains(&r.address.as_str()));
    p.accepted.extend(res.accepted);
    p.rejected.extend(res.rejected);
    p.deliveries.extend(res.deliveries);
    p.reply = res.reply;
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reply;
    use crate::report::Rejection;

    fn reply(code: u16) -> Reply {
        Reply { code, enhanced_code: None, text: "x".into() }
    }

    fn result(accepted: &[&str], rejected: &[(&str, u16)]) -> SendResult {
        SendResult {
            accepted: accepted.iter().map(|a| (*a).to_owned()).collect(),
            rejected: rejected.iter().map(|(a, c)| Rejection { address: (*a).to_owned(), reply: reply(*c) }).collect(),
            message_id: None,
            reply: reply(250),
            attempts: 1,
            deliveries: vec![],
        }
    }

    #[test]
    fn a_retry_of_deferred_recipients_replaces_their_refusals() {
        let first = result(&["a"], &[("b", 451), ("c", 550), ("d", 452)]);
        let second = result(&["b"], &[("d", 550)]);
        let m = merge(Some(first), second);
        assert_eq!(m.accepted, ["a", "b"]);
        let rej: Vec<(&str, u16)> = m.rejected.iter().map(|r| (r.address.as_str(), r.reply.code)).collect();
        assert_eq!(rej, [("c", 550), ("d", 550)]);
    }

    #[test]
    fn an_lmtp_retry_replaces_the_retried_recipients_deliveries() {
        let delivery = |a: &str, c| Rejection { address: a.to_owned(), reply: reply(c) };
        let mut first = result(&["a"], &[("b", 452)]);
        first.deliveries = vec![delivery("a", 250), delivery("b", 452)];
        let mut second = result(&["b"], &[]);
        second.deliveries = vec![delivery("b", 250)];
        let m = merge(Some(first), second);
        let got: Vec<(&str, u16)> = m.deliveries.iter().map(|r| (r.address.as_str(), r.reply.code)).collect();
        assert_eq!(got, [("a", 250), ("b", 250)]);
        assert!(m.rejected.is_empty());
    }
}
