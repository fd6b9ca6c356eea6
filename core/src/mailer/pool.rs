//! The connections of a mailer: one task per connection, all taking messages from one queue.
//!
//! A send puts a job on the queue. A connection task that is waiting takes it; when every task
//! is busy and fewer than the allowed connections are open, a new task opens one. A busy task
//! takes the next queued job while the previous message is still in flight, so concurrent
//! callers' messages are pipelined on one connection ([`Session::send_feed`]). A task whose
//! connection has been idle for `idle_timeout` closes it with QUIT and ends.
//!
//! The queue holds at most `max_queued` jobs: a sender finding it full waits for room
//! ([`Pool::submit_all`]), so memory stays bounded however many messages are sent.
//!
//! A job whose connection failed before any of it was accepted goes back to the front of the
//! queue once, when that connection had already carried a message (it was found dead, not
//! refused); everything else goes back to the sender with its error, and the sender's retry
//! policy decides.

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use crate::connection::{self, Progress};
use crate::error::{Error, ErrorKind, Fate, Result};
use crate::message::Prepared;
use crate::report::SendResult;
use crate::resolve::Settings;
use crate::session::{Feed, Mail, MailOutcome, MailParams, Session, TraceEvent, TraceSink};

/// How long the allowed connections stay lowered after the server refused one more.
const LIMIT_COOL_DOWN: Duration = Duration::from_secs(60);

/// One message waiting for, or on, a connection.
pub(super) struct Job {
    pub(super) prepared: Arc<Prepared>,
    /// Only these recipients (a retry of deferred ones); all of the message's when `None`.
    pub(super) rcpts: Option<Vec<String>>,
    /// Sent back to the queue once already after its connection was found dead.
    requeued: bool,
    tx: oneshot::Sender<Result<SendResult>>,
}

impl Job {
    pub(super) fn new(
        prepared: Arc<Prepared>,
        rcpts: Option<Vec<String>>,
    ) -> (Job, oneshot::Receiver<Result<SendResult>>) {
        let (tx, rx) = oneshot::channel();
        (Job { prepared, rcpts, requeued: false, tx }, rx)
    }

    fn mail(&self) -> Mail<'_> {
        let p = &self.prepared;
        Mail {
            from: &p.envelope_from,
            rcpts: self.rcpts.as_deref().unwrap_or(&p.recipients),
            body: &p.bytes,
            params: MailParams { smtputf8: p.needs_smtputf8, eight_bit_mime: p.eight_bit, requiretls: p.requiretls },
            dsn: p.dsn.as_ref(),
        }
    }

    fn finish(self, result: Result<SendResult>) {
        // The sender may have stopped waiting (its future was dropped); nobody is left to tell.
        let _ = self.tx.send(result);
    }
}

/// What the tasks share, under one lock.
#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Connection tasks alive.
    tasks: u32,
    /// Of those, the ones waiting for a job.
    waiting: u32,
    /// Of those, the ones whose last message in flight was just settled: about to wait, so a
    /// sender's next message needs no new connection.
    finishing: u32,
    /// Of those, the ones opening a connection.
    opening: u32,
    /// Of those, the ones with an open connection.
    connected: u32,
    /// Fewer connections than `max_connections` allowed until then (the server refused one).
    lowered: Option<(u32, Instant)>,
    closed: bool,
    /// The number of the latest connection opened (or being opened): trace lines carry it.
    next_connection: u64,
    /// No connection opens before then (the server throttled this client).
    paused: Option<Instant>,
}

/// The counters [`super::MailerStats`] reads.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) reconnects: AtomicU64,
    pub(super) opened: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The connection side of a mailer.
pub(super) struct Pool {
    pub(super) settings: Settings,
    pub(super) trace: Option<TraceSink>,
    pub(super) ntlm_helper: Option<Vec<String>>,
    /// Where OAUTHBEARER/XOAUTH2 tokens come from (set by the mailer after `new`).
    pub(super) token_provider: Option<crate::token::SharedTokenProvider>,
    pub(super) max_connections: u32,
    pub(super) max_messages: u32,
    pub(super) idle_timeout: Duration,
    /// Messages a CHUNKING connection writes ahead of their replies.
    pub(super) stream_window: u32,
    /// The most jobs the queue admits (requeued ones excepted).
    pub(super) max_queued: usize,
    /// How long new connections wait after the server throttled this client.
    pub(super) throttle_pause: Duration,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) counters: Counters,
    state: Mutex<State>,
    /// A job was queued, or the mailer closed.
    wake: Notify,
    /// A connection task ended.
    ended: Notify,
    /// Jobs left the queue, or the mailer closed: a sender waiting for room looks again.
    room: Notify,
    /// Told how much of each message is written (set by the mailer after `new`; #16).
    pub(super) progress: Option<crate::progress::ProgressSink>,
}

pub(super) fn closed_error() -> Error {
    Error::new(ErrorKind::Config, "the mailer is closed; create a new Mailer to send more")
}

impl Pool {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        settings: Settings,
        trace: Option<TraceSink>,
        ntlm_helper: Option<Vec<String>>,
        max_connections: u32,
        max_messages: u32,
        idle_timeout: Duration,
        stream_window: u32,
        max_queued: usize,
        throttle_pause: Duration,
        runtime: tokio::runtime::Handle,
    ) -> Pool {
        Pool {
            settings,
            trace,
            ntlm_helper,
            token_provider: None,
            max_connections,
            max_messages,
            idle_timeout,
            stream_window,
            max_queued,
            throttle_pause,
            runtime,
            counters: Counters::default(),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            ended: Notify::new(),
            room: Notify::new(),
            progress: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock is a single step, so a panic cannot leave it half-made.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// (open connections, queued jobs).
    pub(super) fn gauges(&self) -> (u64, u64) {
        let s = self.lock();
        (u64::from(s.connected), s.queue.len() as u64)
    }

    /// Queues the jobs for the connections, in order, starting connection tasks as needed:
    /// as many at once as the queue has room for (so that they can be pipelined from the
    /// start), then more as room frees. Once the mailer is closed, the jobs not yet queued are
    /// settled with the closed error.
    pub(super) async fn submit_all(self: &Arc<Self>, jobs: Vec<Job>) {
        let mut pending = jobs.into_iter().peekable();
        while pending.peek().is_some() {
            let mut room = pin!(self.room.notified());
            room.as_mut().enable();
            let spawn: Vec<bool> = {
                let mut s = self.lock();
                if s.closed {
                    drop(s);
                    for j in pending {
                        j.finish(Err(closed_error()));
                    }
                    return;
                }
                let mut spawn = Vec::new();
                while s.queue.len() < self.max_queued {
                    let Some(job) = pending.next() else { break };
                    s.queue.push_back(job);
                    spawn.push(self.spawn_needed(&mut s));
                }
                spawn
            };
            for new_task in spawn {
                self.start(new_task);
            }
            if pending.peek().is_some() {
                // Bounded as a queued job's wait is: every job ahead leaves the queue within
                // its connection's stage timeouts (or with the error of a failed connection).
                room.await;
            }
        }
    }

    /// Jobs left the queue: wakes the senders waiting for room.
    fn taken(&self) {
        self.room.notify_waiters();
    }

    /// Whether to start a new task: the queued jobs outnumber the waiting tasks and another
    /// connection is allowed.
    fn spawn_needed(&self, s: &mut State) -> bool {
        let limit = match s.lowered {
            Some((n, until)) if Instant::now() < until => n,
            _ => self.max_connections,
        };
        let unserved = s.queue.len() as u64 > u64::from(s.waiting + s.finishing);
        if unserved && s.tasks < limit {
            s.tasks += 1;
            true
        } else {
            false
        }
    }

    fn start(self: &Arc<Self>, new_task: bool) {
        if new_task {
            let me = Arc::clone(self);
            self.runtime.spawn(async move { me.run().await });
        } else {
            self.wake.notify_one();
        }
    }

    /// Closes the pool: no new jobs; the queued and in-flight ones are still sent. Waits for
    /// every connection task to end (each with QUIT).
    pub(super) async fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
        self.room.notify_waiters();
        loop {
            let mut ended = pin!(self.ended.notified());
            ended.as_mut().enable();
            if self.lock().tasks == 0 {
                return;
            }
            ended.await;
        }
    }

    /// One connection task: opens a connection when there is work, feeds it queued jobs, and
    /// ends when the mailer closes or the connection has been idle too long.
    async fn run(self: Arc<Self>) {
        let mut conn: Option<Conn> = None;
        let mut finishing = false;
        while let Some(job) = self.next_job(conn.is_some(), std::mem::take(&mut finishing)).await {
            let mut c = match conn.take() {
                Some(c) => c,
                None => match self.open().await {
                    Ok(c) => c,
                    Err(e) => {
                        if self.open_failed(job, &e) {
                            break;
                        }
                        continue;
                    }
                },
            };
            let after;
            (after, finishing) = self.feed(&mut c, job).await;
            match after {
                After::Dead => self.disconnected(),
                After::Quit => self.quit(c).await,
                After::Keep => conn = Some(c),
            }
        }
        if let Some(c) = conn {
            self.quit(c).await;
        }
        // A job queued after this task decided to end (between `next_job` and here) found the
        // task count at its limit and started no task; the wake it sent reached no one. Look
        // again under the lock that ends the task, so that no job waits for a task that will
        // never come.
        let again = {
            let mut s = self.lock();
            s.tasks -= 1;
            self.spawn_needed(&mut s)
        };
        self.ended.notify_waiters();
        if again {
            self.start(true);
        }
    }

    /// The next job; `None` when the task should end: the mailer closed and nothing is queued,
    /// the connection was idle for `idle_timeout`, or there is no connection and no work.
    /// `finishing`: the task counted itself as finishing (see [`State::finishing`]).
    async fn next_job(&self, connected: bool, mut finishing: bool) -> Option<Job> {
        let deadline = tokio::time::Instant::now() + self.idle_timeout;
        loop {
            let mut woken = pin!(self.wake.notified());
            woken.as_mut().enable();
            {
                let mut s = self.lock();
                if std::mem::take(&mut finishing) {
                    s.finishing -= 1;
                }
                if let Some(job) = s.queue.pop_front() {
                    drop(s);
                    self.taken();
                    return Some(job);
                }
                if s.closed || !connected {
                    return None;
                }
                s.waiting += 1;
            }
            let timed_out = tokio::time::timeout_at(deadline, woken).await.is_err();
            let mut s = self.lock();
            s.waiting -= 1;
            if timed_out {
                // Decided under the lock with the queue empty, so no job is left without a task.
                if let Some(job) = s.queue.pop_front() {
                    drop(s);
                    self.taken();
                    return Some(job);
                }
                return None;
            }
        }
    }

    async fn open(&self) -> Result<Conn> {
        let paused = self.lock().paused;
        if let Some(until) = paused {
            tokio::time::sleep_until(until.into()).await;
        }
        // Numbered per connection, not per task: a task that reopens gets the next number.
        let id = {
            let mut s = self.lock();
            s.opening += 1;
            s.next_connection += 1;
            s.next_connection
        };
        let r = self.open_traced(id).await;
        let mut s = self.lock();
        s.opening -= 1;
        if r.is_ok() {
            s.connected += 1;
        }
        r
    }

    async fn open_traced(&self, id: u64) -> Result<Conn> {
        let mut progress = Progress::default();
        let trace = self
            .trace
            .clone()
            .map(|sink| TraceSink::new(move |ev: TraceEvent| (sink.0)(TraceEvent { connection: Some(id), ..ev })));
        match connection::open(
            &self.settings,
            trace,
            self.ntlm_helper.as_ref(),
            self.token_provider.as_ref(),
            &mut progress,
        )
        .await
        {
            Ok(mut session) => {
                session.set_stream_window(self.stream_window);
                session.set_progress(self.progress.clone());
                bump(&self.counters.opened);
                Ok(Conn { session, progress, sent: 0, refusals: 0 })
            }
            Err(e) => Err(progress.hinted(e, &self.settings)),
        }
    }

    /// A connection could not be opened for `job`. While other connections are open and the
    /// failure is transient (a server refusing one more connection with 421, say), the job
    /// goes back to them, fewer connections are allowed for a while, and this task ends
    /// (`true`). Otherwise `job` and every queued job fail with the error: each sender's retry
    /// policy then decides, rather than every queued job trying its own connection.
    fn open_failed(&self, job: Job, err: &Error) -> bool {
        let failed: Vec<Job> = {
            let mut s = self.lock();
            if (s.connected > 0 || s.opening > 0) && err.transient() {
                tracing::debug!("a connection was refused while others are open ({err}); using those");
                s.queue.push_front(job);
                s.lowered = Some((s.connected.max(1), Instant::now() + LIMIT_COOL_DOWN));
                drop(s);
                self.wake.notify_one();
                return true;
            }
            std::iter::once(job).chain(s.queue.drain(..)).collect()
        };
        self.taken();
        for j in failed {
            j.finish(Err(err.clone()));
        }
        false
    }

    /// Sends `first` and whatever else is queued on `conn`, pipelined: what to do with the
    /// connection, and whether the task counted itself as finishing.
    async fn feed(&self, conn: &mut Conn, first: Job) -> (After, bool) {
        let Conn { session, progress, sent, refusals } = conn;
        let mut feed = JobFeed {
            pool: self,
            progress,
            first: Some(first),
            flight: Vec::new(),
            budget: self.max_messages.saturating_sub(*sent),
            next: 0,
            conn_sent: *sent,
            refusals: *refusals,
            throttled: false,
            finishing: false,
        };
        let r = session.send_feed(&mut feed).await;
        *sent = feed.conn_sent;
        *refusals = feed.refusals;
        if feed.throttled {
            self.pause();
        }
        let retire = feed.throttled || feed.refusals >= MAX_REFUSALS;
        let in_flight = std::mem::take(&mut feed.flight);
        let finishing = feed.finishing;
        for (_, job) in in_flight {
            // The session settles every message it takes; this is a bug, and the message's
            // fate cannot be known.
            job.finish(Err(Error::internal("a message was left unsettled on its connection").with_unknown_fate()));
        }
        if let Err(e) = &r {
            tracing::debug!("connection closed after: {e}");
        }
        let after = match r {
            Err(_) => After::Dead,
            // Usable, but full or not worth keeping: QUIT it so the next job opens a new one.
            Ok(()) if retire || *sent >= self.max_messages => After::Quit,
            Ok(()) => After::Keep,
        };
        (after, finishing)
    }

    /// After a throttling reply, new connections wait a moment: the server counts this
    /// client's messages, and a fresh connection at once would only meet the same refusal.
    fn pause(&self) {
        let until = Instant::now() + super::pace::jittered(self.throttle_pause);
        let mut s = self.lock();
        s.paused = Some(s.paused.map_or(until, |p| p.max(until)));
    }

    fn disconnected(&self) {
        self.lock().connected -= 1;
    }

    async fn quit(&self, conn: Conn) {
        // A server that already went away makes QUIT fail; the connection is closed either way.
        let _ = conn.session.quit().await;
        self.disconnected();
    }

    /// Puts a job whose connection was found dead back at the front of the queue.
    fn requeue(&self, mut job: Job) {
        job.requeued = true;
        bump(&self.counters.reconnects);
        self.lock().queue.push_front(job);
        self.wake.notify_one();
    }
}

/// What becomes of a connection after a run of its feed.
enum After {
    /// Back to waiting for jobs.
    Keep,
    /// Closed with QUIT: its message budget is spent, or the server throttled or kept refusing.
    Quit,
    /// Failed: dropped.
    Dead,
}

/// An open, authenticated connection and what its opening showed (for hints).
struct Conn {
    session: Session,
    progress: Progress,
    /// Messages settled on it.
    sent: u32,
    /// Messages the server refused on it.
    refusals: u32,
}

/// A connection with this many refused messages is replaced: servers count errors per session
/// (Postfix slows its replies after 10 and drops the session after 20), and a refused message
/// can cost three (MAIL, RCPT, DATA or BDAT).
const MAX_REFUSALS: u32 = 3;

/// Whether `err` says the server is throttling this client: a 4xx to MAIL FROM (Postfix's
/// anvil rate limit, a provider's quota). The connection is closed and the next one waits.
fn throttled(err: &Error) -> bool {
    err.stage() == Some(crate::error::Stage::MailFrom) && err.reply().is_some_and(crate::error::Reply::is_transient)
}

/// The jobs of one run of [`Session::send_feed`]: the first, then queued ones while the
/// connection's message budget lasts.
struct JobFeed<'p> {
    pool: &'p Pool,
    progress: &'p Progress,
    first: Option<Job>,
    /// Taken and not yet settled (at most two when pipelining), by token.
    flight: Vec<(u64, Job)>,
    budget: u32,
    next: u64,
    conn_sent: u32,
    refusals: u32,
    /// The server throttled this client: take no more jobs on this connection.
    throttled: bool,
    /// Counted in [`State::finishing`].
    finishing: bool,
}

impl Feed for JobFeed<'_> {
    type Token = u64;

    fn next(&mut self) -> Option<u64> {
        if self.budget == 0 || self.throttled || self.refusals >= MAX_REFUSALS {
            return None;
        }
        let job = if let Some(j) = self.first.take() {
            j
        } else {
            let mut s = self.pool.lock();
            let j = s.queue.pop_front()?;
            if std::mem::take(&mut self.finishing) {
                s.finishing -= 1;
            }
            drop(s);
            self.pool.taken();
            j
        };
        self.budget -= 1;
        self.next += 1;
        self.flight.push((self.next, job));
        Some(self.next)
    }

    fn mail(&self, t: &u64) -> Mail<'_> {
        match self.flight.iter().find(|(k, _)| k == t) {
            Some((_, job)) => job.mail(),
            // Tokens come from `next` and are settled once; an empty envelope fails its checks.
            None => Mail { from: "", rcpts: &[], body: &[], params: MailParams::default(), dsn: None },
        }
    }

    fn done(&mut self, t: u64, result: Result<MailOutcome>) {
        let Some(pos) = self.flight.iter().position(|(k, _)| *k == t) else {
            return;
        };
        let (_, job) = self.flight.remove(pos);
        let reused = self.conn_sent > 0;
        self.conn_sent += 1;
        if self.flight.is_empty() && self.first.is_none() && !self.finishing {
            // Before the sender hears back, so that its next message finds this task.
            self.pool.lock().finishing += 1;
            self.finishing = true;
        }
        match result {
            Ok(out) => {
                let r = SendResult::of(&job.prepared, out);
                job.finish(Ok(r));
            }
            Err(e) if reused && !job.requeued && e.connection_failed() && e.fate() == Fate::Rejected => {
                tracing::debug!("a reused connection was found dead ({e}); the message goes on a fresh one");
                self.conn_sent -= 1;
                self.pool.requeue(job);
            }
            Err(e) => {
                if e.reply().is_some() {
                    self.refusals += 1;
                    self.throttled |= throttled(&e);
                }
                job.finish(Err(self.progress.hinted(e, &self.pool.settings)));
            }
        }
    }
}
