//! Mail transactions: MAIL FROM, RCPT TO, DATA and the content, pipelined (RFC 2920) when the
//! server offers PIPELINING, one command at a time when not.
//!
//! With PIPELINING the envelope (MAIL, every RCPT, DATA) is one write, and the content of a
//! message, its `.` and the next message's envelope are one write. DATA always ends a group, as
//! RFC 2920 requires.

use super::{Session, closing_error};
use std::collections::VecDeque;

use super::data::{encode_body, encode_chunk};
use crate::error::{Cause, Error, ErrorKind, Fate, Reply, Result, Stage};

/// Options of one message that affect the MAIL FROM parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// The message needs SMTPUTF8 (UTF-8 in addresses or headers). A non-ASCII address turns
    /// this on by itself. When the server does not offer SMTPUTF8 the send fails before MAIL.
    pub smtputf8: bool,
    /// The content has 8-bit bytes (`BODY=8BITMIME`). When the server does not offer 8BITMIME
    /// the send fails before MAIL: encode the content as quoted-printable or base64 instead.
    pub eight_bit_mime: bool,
    /// REQUIRETLS (RFC 8689). When the session is not over TLS or the server does not offer
    /// REQUIRETLS the send fails before MAIL.
    pub requiretls: bool,
}

/// One message for [`Session::send_many`].
#[derive(Debug, Clone, Copy)]
pub struct Mail<'a> {
    /// The envelope sender; empty for the null sender `<>`.
    pub from: &'a str,
    /// The envelope recipients.
    pub rcpts: &'a [String],
    /// The content: RFC 5322 header and body. Dot-stuffing and CRLF line ends are applied here.
    pub body: &'a [u8],
    /// The MAIL FROM options.
    pub params: MailParams,
    /// The DSN request (RFC 3461): `RET`/`ENVID` on MAIL FROM, `NOTIFY`/`ORCPT` on RCPT TO.
    pub dsn: Option<&'a crate::message::Dsn>,
}

/// The server's answer for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReply {
    /// The address as given.
    pub address: String,
    /// The reply to its RCPT TO.
    pub reply: Reply,
}

impl RecipientReply {
    /// Whether the server accepted this recipient (2xx).
    pub fn accepted(&self) -> bool {
        self.reply.is_positive()
    }
}

/// A message the server accepted (for at least one recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOutcome {
    /// The reply to MAIL FROM.
    pub mail_from: Reply,
    /// Every recipient with its reply, in the order given.
    pub recipients: Vec<RecipientReply>,
    /// The final reply after the content (usually carries the queue id); with LMTP the first
    /// accepted recipient's delivery reply.
    pub data: Reply,
    /// LMTP only (RFC 2033 §4.2): each recipient accepted at RCPT with its own reply after the
    /// content, in RCPT order, delivered or refused. Empty for SMTP.
    pub deliveries: Vec<RecipientReply>,
}

impl MailOutcome {
    /// The recipients the server accepted.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientReply> {
        self.recipients.iter().filter(|r| r.accepted())
    }

    /// The recipients the server refused.
    pub fn rejected(&self) -> impl Iterator<Item = &RecipientReply> {
        self.recipients.iter().filter(|r| !r.accepted())
    }
}

/// The command lines of one envelope, checked.
struct Envelope {
    mail: String,
    rcpts: Vec<String>,
}

/// The replies to one envelope; `data` is `None` when DATA was not sent (one-at-a-time mode
/// stops early).
struct EnvelopeReplies {
    mail: Reply,
    rcpts: Vec<Reply>,
    data: Option<Reply>,
}

/// What to do after the envelope replies.
enum Verdict {
    /// Send the content.
    Body(EnvelopeReplies),
    /// The transaction failed with `err`; close it with `.` (DATA got 354 anyway) and/or RSET.
    Fail { err: Error, dot: bool, rset: bool },
}

/// The previous transaction's replies still to be read in the pipelined loop.
enum Pending<T> {
    Nothing,
    Final(T, EnvelopeReplies),
    Cleanup { t: T, err: Error, dot: bool, rset: bool },
}

/// Where [`Session::send_feed`] takes messages from and hands their results to.
pub(crate) trait Feed {
    /// Names one message taken from the feed.
    type Token: Clone;
    /// The next message, if one is ready now (never waits). `None` ends the run once the
    /// messages in flight are settled.
    fn next(&mut self) -> Option<Self::Token>;
    /// The message `t` names.
    fn mail(&self, t: &Self::Token) -> Mail<'_>;
    /// The result of `t`, once for every token handed out.
    fn done(&mut self, t: Self::Token, result: Result<MailOutcome>);
}

/// [`Session::send_many`]'s feed: every message of a slice, in order.
struct SliceFeed<'a, 'm> {
    mails: &'a [Mail<'m>],
    next: usize,
    results: Vec<Option<Result<MailOutcome>>>,
}

impl Feed for SliceFeed<'_, '_> {
    type Token = usize;

    fn next(&mut self) -> Option<usize> {
        let i = self.next;
        (i < self.mails.len()).then(|| {
            self.next += 1;
            i
        })
    }

    fn mail(&self, t: &usize) -> Mail<'_> {
        self.mails[*t]
    }

    fn done(&mut self, t: usize, result: Result<MailOutcome>) {
        self.results[t] = Some(result);
    }
}

/// The most messages a chunked stream writes ahead of their replies, unless the session is
/// told otherwise ([`Session::set_stream_window`]). A message the server refuses at MAIL FROM
/// (throttling, say) costs three errors in the session (MAIL, RCPT and BDAT all fail), and
/// servers drop a session after so many: Postfix after 20 (`smtpd_hard_error_limit`), and the
/// reset then loses the replies to what was written, leaving those messages' fate unknown. Six
/// in flight stay under that (18) and make up to six messages per round trip.
pub const DEFAULT_STREAM_WINDOW: u32 = 6;

/// The largest stream window: replies owed stay well within socket buffers.
pub const MAX_STREAM_WINDOW: u32 = 64;

/// A chunked stream writes once this much is queued, before taking more messages.
const CHUNK_WRITE: usize = 256 * 1024;

/// A message of the chunked stream, and whether all of it went out.
struct InFlight<T> {
    t: T,
    sent: bool,
}

/// Fails every message in `flight` with `err`: those fully sent with fate unknown (the server
/// may have taken them), the others as not accepted.
fn fail_flight<F: Feed>(feed: &mut F, flight: VecDeque<InFlight<F::Token>>, err: &Error) {
    for f in flight {
        let e = if f.sent { err.clone().with_unknown_fate() } else { err.clone().with_fate(Fate::Rejected) };
        feed.done(f.t, Err(e));
    }
}

/// The error for the messages behind one the server answered with 421 (`err`): none of them
/// was started, and each meets the same closing (with its reply, so transient).
fn for_the_rest(err: &Error) -> Error {
    let e = closing_error().with_stage(Stage::MailFrom);
    match err.reply() {
        Some(r) => e.with_reply(r.clone()),
        None => e,
    }
}

/// Replies that cannot answer what was sent mean the client and server are out of step (a
/// server that drops or reorders pipelined replies): the connection cannot be trusted further.
fn check_order(replies: &EnvelopeReplies) -> Result<()> {
    let odd = |r: &Reply, stage: Stage, what: &str| {
        Error::new(ErrorKind::Protocol, format!("the reply to {what} makes no sense there; replies are out of step"))
            .with_stage(stage)
            .with_reply(r.clone())
    };
    if replies.mail.is_intermediate() {
        return Err(odd(&replies.mail, Stage::MailFrom, "MAIL FROM"));
    }
    if let Some(r) = replies.rcpts.iter().find(|r| r.is_intermediate()) {
        return Err(odd(r, Stage::RcptTo, "RCPT TO"));
    }
    match &replies.data {
        Some(d) if d.is_positive() => Err(odd(d, Stage::Data, "DATA")),
        _ => Ok(()),
    }
}

/// The reply after a message's `.` must be a final one.
fn check_final(r: &Reply) -> Result<()> {
    if r.is_intermediate() {
        return Err(Error::new(ErrorKind::Protocol, "the reply to the end of DATA is 3xx; replies are out of step")
            .with_stage(Stage::Data)
            .with_reply(r.clone()));
    }
    Ok(())
}

fn check_address(role: &str, a: &str) -> Result<String> {
    let a = a.trim();
    let bare = a.strip_prefix('<').and_then(|x| x.strip_suffix('>')).unwrap_or(a);
    if bare.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return Err(Error::new(
            ErrorKind::Config,
            format!("invalid {role} address {bare:?}: it contains a control character or angle bracket"),
        ));
    }
    Ok(bare.to_owned())
}

impl Session {
    fn prepare(&self, m: &Mail<'_>) -> Result<Envelope> {
        let from = check_address("sender", m.from)?;
        if m.rcpts.is_empty() {
            return Err(Error::new(ErrorKind::Config, "the message has no recipients"));
        }
        let rcpts = m
            .rcpts
            .iter()
            .map(|r| {
                let r = check_address("recipient", r)?;
                if r.is_empty() {
                    return Err(Error::new(ErrorKind::Config, "a recipient address is empty"));
                }
                Ok(r)
            })
            .collect::<Result<Vec<_>>>()?;
        let ext = self.ext.clone().unwrap_or_default();
        let mut mail = format!("MAIL FROM:<{from}>");
        if ext.has("SIZE") {
            mail.push_str(" SIZE=");
            mail.push_str(&m.body.len().to_string());
        }
        if let Some(limit) = ext.size {
            if m.body.len() as u64 > limit {
                return Err(Error::new(
                    ErrorKind::MessageRejected,
                    format!("the message is {} bytes; the server accepts at most {limit}", m.body.len()),
                )
                .with_stage(Stage::MailFrom)
                .with_cause(Cause::TooLarge));
            }
        }
        if m.params.eight_bit_mime {
            if !ext.eight_bit_mime {
                return Err(Error::new(
                    ErrorKind::MessageRejected,
                    "the message has 8-bit content but the server does not offer 8BITMIME",
                )
                .with_stage(Stage::MailFrom)
                .with_cause(Cause::No8BitMime));
            }
            mail.push_str(" BODY=8BITMIME");
        }
        let utf8 = m.params.smtputf8 || !from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii());
        if utf8 {
            if !ext.smtputf8 {
                return Err(Error::new(
                    ErrorKind::MessageRejected,
                    "the message needs SMTPUTF8 (non-ASCII addresses) but the server does not offer it",
                )
                .with_stage(Stage::MailFrom)
                .with_cause(Cause::NoSmtpUtf8));
            }
            mail.push_str(" SMTPUTF8");
        }
        if m.params.requiretls {
            if !self.is_tls() || !ext.has("REQUIRETLS") {
                let why = if self.is_tls() {
                    "the server does not offer REQUIRETLS"
                } else {
                    "the connection is not over TLS"
                };
                return Err(Error::new(
                    ErrorKind::MessageRejected,
                    format!("the message requires REQUIRETLS but {why}"),
                )
                .with_stage(Stage::MailFrom)
                .with_cause(Cause::NoRequireTls));
            }
            mail.push_str(" REQUIRETLS");
        }
        let dsn = match m.dsn {
            Some(d) if ext.dsn => Some(d),
            Some(d) if d.required => {
                return Err(Error::new(
                    ErrorKind::MessageRejected,
                    "the message asks for delivery status notifications (dsn) but the server does not offer DSN",
                )
                .with_stage(Stage::MailFrom)
                .with_cause(Cause::DsnRequired));
            }
            _ => None,
        };
        if let Some(d) = dsn {
            mail.push_str(&d.mail_params());
        }
        let rcpts = rcpts
            .into_iter()
            .map(|r| {
                let p = dsn.map(|d| d.rcpt_params(&r)).unwrap_or_default();
                format!("RCPT TO:<{r}>{p}")
            })
            .collect();
        Ok(Envelope { mail, rcpts })
    }

    fn queue_body(&mut self, body: &[u8]) {
        if self.tracer.enabled() {
            self.tracer.client(&format!("<message: {} bytes>", body.len()), self.mode);
            self.tracer.client(".", self.mode);
        }
        let at = self.wbuf.len();
        encode_body(body, &mut self.wbuf);
        self.marks.push((at, self.wbuf.len()));
    }

    /// Sends one message: MAIL FROM, RCPT TO for each recipient, DATA, the content. Pipelined
    /// when the server offers PIPELINING.
    ///
    /// Succeeds when the server accepted the content for at least one recipient; the outcome
    /// lists each recipient's reply. Fails with `sender_rejected`, `recipient_rejected` (every
    /// recipient refused; the content is not sent) or `message_rejected`, with the reply; the
    /// session is then reset and ready for another message.
    pub async fn send_mail(
        &mut self,
        from: &str,
        rcpts: &[String],
        body: &[u8],
        params: MailParams,
    ) -> Result<MailOutcome> {
        let mail = Mail { from, rcpts, body, params, dsn: None };
        let mut out = self.send_many(std::slice::from_ref(&mail)).await;
        out.pop().unwrap_or_else(|| Err(Error::internal("send_many returned no result")))
    }

    /// How many messages a CHUNKING stream may write ahead of their replies (1 to
    /// [`MAX_STREAM_WINDOW`], default [`DEFAULT_STREAM_WINDOW`]). More makes one connection
    /// faster at a long round-trip time; use it only with servers that do not drop a session
    /// after a few refusals (Postfix's `smtpd_hard_error_limit` is 20: a window above 6 risks
    /// messages with fate unknown when a throttling server refuses a whole window).
    pub fn set_stream_window(&mut self, messages: u32) {
        self.stream_window = messages.clamp(1, MAX_STREAM_WINDOW);
    }

    /// Sends several messages on this connection, one result per message in order. With
    /// PIPELINING, each message's content and `.` share one write with the next message's
    /// envelope. A connection failure fails the message in progress and every later one; a
    /// message whose `.` went out before the failure has [`crate::Fate::Unknown`].
    pub async fn send_many(&mut self, mails: &[Mail<'_>]) -> Vec<Result<MailOutcome>> {
        let mut feed = SliceFeed { mails, next: 0, results: vec![None; mails.len()] };
        if let Err(fatal) = self.send_feed(&mut feed).await {
            for r in &mut feed.results {
                if r.is_none() {
                    *r = Some(Err(fatal.clone()));
                }
            }
        }
        feed.results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::internal("a message got no result")))).collect()
    }

    /// Sends the messages `feed` hands out, as long as it has one ready, pipelined when the
    /// server offers PIPELINING. Every message taken from the feed gets its result through
    /// [`Feed::done`]. `Err` means the connection is no longer usable (lost, timed out, out of
    /// step, or closing with 421); messages not yet taken stay in the feed.
    pub(crate) async fn send_feed<F: Feed>(&mut self, feed: &mut F) -> Result<()> {
        if let Err(e) = self.check_idle() {
            // The first message meets the dead connection; the feed decides (a reused
            // connection's message goes on a fresh one).
            if let Some(t) = feed.next() {
                feed.done(t, Err(e.clone()));
            }
            return Err(e);
        }
        let ext = self.ext.as_ref();
        if ext.is_some_and(|e| e.pipelining && e.chunking) {
            self.run_chunked(feed).await
        } else if ext.is_some_and(|e| e.pipelining) {
            self.run_pipelined(feed).await
        } else {
            self.run_sequential(feed).await
        }
    }

    /// CHUNKING with PIPELINING (RFC 3030 + RFC 2920): no 354 to wait for, so each message
    /// (MAIL, RCPT, `BDAT <n> LAST` with the content, RSET) is written without waiting for any
    /// reply, up to the stream window's count of messages ahead, and the replies are matched to their
    /// messages in order. Throughput then no longer depends on the round-trip time. The RSET
    /// ends a transaction the server failed (Postfix keeps it open after a refused BDAT, and
    /// the next pipelined MAIL would meet "nested MAIL command"); after a success it costs a
    /// line each way.
    ///
    /// The window starts at one message and doubles with each accepted one (up to
    /// the window, [`DEFAULT_STREAM_WINDOW`] unless set); any refusal takes it back to one. A server that refuses tends to
    /// refuse what follows too, and counts each refusal against the session (Postfix drops it
    /// after 20), so a full window behind a refusal is what risks a dropped connection with
    /// messages written and their fate unknown.
    async fn run_chunked<F: Feed>(&mut self, feed: &mut F) -> Result<()> {
        let mut flight: VecDeque<InFlight<F::Token>> = VecDeque::new();
        let mut window = 1;
        loop {
            while flight.len() < window && self.wbuf.len() < CHUNK_WRITE {
                let Some((t, env)) = self.take(feed) else { break };
                self.queue_chunked(&env, feed.mail(&t).body)?;
                flight.push_back(InFlight { t, sent: false });
            }
            if flight.is_empty() {
                return Ok(());
            }
            if !self.wbuf.is_empty() {
                if let Err(e) = self.flush(Stage::Data, "the message").await {
                    fail_flight(feed, flight, &e);
                    return Err(e);
                }
                for f in &mut flight {
                    f.sent = true;
                }
            }
            let Some(f) = flight.pop_front() else { return Ok(()) };
            match self.read_chunked(&feed.mail(&f.t)).await {
                Ok(result) => {
                    let closing = result.as_ref().err().filter(|e| e.code() == Some(421)).map(for_the_rest);
                    window = if result.is_ok() { (window * 2).min(self.stream_window as usize) } else { 1 };
                    feed.done(f.t, result);
                    if let Some(e) = closing {
                        // The server stopped reading there: nothing after it was taken in.
                        for f in &mut flight {
                            f.sent = false;
                        }
                        fail_flight(feed, flight, &e);
                        return Err(e);
                    }
                }
                Err(e) => {
                    feed.done(f.t, Err(e.clone().with_unknown_fate()));
                    fail_flight(feed, flight, &e);
                    return Err(e);
                }
            }
        }
    }

    /// Queues one message of the chunked stream: MAIL, each RCPT, BDAT LAST with the content,
    /// RSET.
    fn queue_chunked(&mut self, env: &Envelope, body: &[u8]) -> Result<()> {
        self.queue(&env.mail)?;
        for line in &env.rcpts {
            self.queue(line)?;
        }
        let at = self.wbuf.len();
        encode_chunk(body, &mut self.wbuf);
        let header = format!("BDAT {} LAST", self.wbuf.len() - at);
        self.tracer.client(&header, self.mode);
        if self.tracer.enabled() {
            self.tracer.client(&format!("<message: {} bytes>", self.wbuf.len() - at), self.mode);
        }
        let chunk = self.wbuf.len() - at;
        self.wbuf.splice(at..at, header.bytes().chain(*b"\r\n"));
        let start = at + header.len() + 2;
        self.marks.push((start, start + chunk));
        self.queue("RSET")
    }

    /// Reads one chunked message's replies. The outer `Err` is a connection failure; a 421
    /// (the server closing) ends the reading early, since nothing follows it.
    async fn read_chunked(&mut self, m: &Mail<'_>) -> Result<Result<MailOutcome>> {
        let mail = self.read_reply(Stage::MailFrom, "MAIL FROM").await?;
        let mut replies = EnvelopeReplies { mail, rcpts: Vec::with_capacity(m.rcpts.len()), data: None };
        if replies.mail.code != 421 {
            check_order(&replies)?;
            for _ in m.rcpts {
                let r = self.read_reply(Stage::RcptTo, "RCPT TO").await?;
                let closing = r.code == 421;
                replies.rcpts.push(r);
                check_order(&replies)?;
                if closing {
                    break;
                }
            }
        }
        check_order(&replies)?;
        if let Some(err) = envelope_error(m, &replies) {
            if err.code() != Some(421) {
                self.read_chunk_end(1).await?;
            }
            return Ok(Err(err));
        }
        let due = self.finals_due(&replies);
        let end = self.read_chunk_end(due).await?;
        Ok(finish(m, replies, end, self.cfg.lmtp))
    }

    /// The replies to `BDAT LAST` (`due` of them: one, or with LMTP one per accepted
    /// recipient) and the RSET after them (a 421 closes the connection, so no RSET reply
    /// follows).
    async fn read_chunk_end(&mut self, due: usize) -> Result<Vec<Reply>> {
        let end = self.read_finals(due, Stage::Data, "BDAT").await?;
        if end.iter().any(|r| r.code == 421) {
            return Ok(end);
        }
        let r = self.read_reply(Stage::Rset, "RSET").await?;
        if !r.is_positive() {
            return Err(Error::new(ErrorKind::Protocol, "the server refused RSET")
                .with_stage(Stage::Rset)
                .with_reply(r));
        }
        Ok(end)
    }

    /// How many replies follow a message's data: one with SMTP; with LMTP (RFC 2033 §4.2) one
    /// per accepted recipient, in the order of their RCPT commands.
    fn finals_due(&self, replies: &EnvelopeReplies) -> usize {
        if self.cfg.lmtp { replies.rcpts.iter().filter(|r| r.is_positive()).count().max(1) } else { 1 }
    }

    /// Reads the `due` replies after a message's data, each a final one; a 421 ends the reading
    /// (the server closes, nothing follows it).
    async fn read_finals(&mut self, due: usize, stage: Stage, what: &str) -> Result<Vec<Reply>> {
        let mut out = Vec::with_capacity(due);
        for _ in 0..due {
            let r = self.read_reply(stage, what).await?;
            check_final(&r)?;
            let closing = r.code == 421;
            out.push(r);
            if closing {
                break;
            }
        }
        Ok(out)
    }

    /// The next message of `feed` with its checked envelope; a message that fails the checks
    /// gets its error at once.
    fn take<F: Feed>(&self, feed: &mut F) -> Option<(F::Token, Envelope)> {
        while let Some(t) = feed.next() {
            match self.prepare(&feed.mail(&t)) {
                Ok(env) => return Some((t, env)),
                Err(e) => feed.done(t, Err(e)),
            }
        }
        None
    }

    async fn run_sequential<F: Feed>(&mut self, feed: &mut F) -> Result<()> {
        while let Some((t, env)) = self.take(feed) {
            let r = self.sequential_one(feed, &t, &env).await;
            match r {
                Ok(result) => {
                    let closing = result.as_ref().err().filter(|e| e.code() == Some(421)).map(for_the_rest);
                    feed.done(t, result);
                    if let Some(e) = closing {
                        return Err(e);
                    }
                }
                Err(e) => {
                    feed.done(t, Err(e.clone()));
                    return Err(e.with_fate(Fate::Rejected));
                }
            }
        }
        Ok(())
    }

    /// One message without pipelining. The outer `Err` is a connection failure (with the
    /// message's fate); the inner result is the server's verdict.
    async fn sequential_one<F: Feed>(&mut self, feed: &F, t: &F::Token, env: &Envelope) -> Result<Result<MailOutcome>> {
        let m = feed.mail(t);
        let mail = self.cmd_checked(&env.mail, Stage::MailFrom, "MAIL FROM").await?;
        let mut replies = EnvelopeReplies { mail, rcpts: Vec::new(), data: None };
        if replies.mail.is_positive() {
            for line in &env.rcpts {
                replies.rcpts.push(self.cmd_checked(line, Stage::RcptTo, "RCPT TO").await?);
            }
            if replies.rcpts.iter().any(Reply::is_positive) {
                replies.data = Some(self.cmd_checked("DATA", Stage::Data, "DATA").await?);
            }
        }
        check_order(&replies)?;
        match judge(&m, replies) {
            Verdict::Body(replies) => {
                self.queue_body(m.body);
                self.flush(Stage::Data, "the message").await?;
                let due = self.finals_due(&replies);
                let r =
                    self.read_finals(due, Stage::Data, "the end of DATA").await.map_err(Error::with_unknown_fate)?;
                Ok(finish(&m, replies, r, self.cfg.lmtp))
            }
            Verdict::Fail { err, .. } if err.code() == Some(421) => Ok(Err(err)),
            Verdict::Fail { err, dot, rset } => {
                self.queue_cleanup(dot, rset)?;
                self.flush(Stage::Rset, "RSET").await?;
                self.read_cleanup(dot, rset).await?;
                Ok(Err(err))
            }
        }
    }

    async fn run_pipelined<F: Feed>(&mut self, feed: &mut F) -> Result<()> {
        let mut pending: Pending<F::Token> = Pending::Nothing;
        loop {
            let current = self.take(feed);
            if let Some((_, env)) = &current {
                self.queue(&env.mail)?;
                for line in &env.rcpts {
                    self.queue(line)?;
                }
                self.queue("DATA")?;
            }
            let flushed = if matches!(pending, Pending::Final(..)) {
                self.flush(Stage::Data, "the message").await
            } else if matches!(pending, Pending::Nothing) && current.is_none() {
                return Ok(());
            } else {
                self.flush(Stage::MailFrom, "the envelope").await
            };
            let current = current.map(|(t, _)| t);
            let settled = match flushed {
                // The write failed: the `.` of a pending message did not all go out.
                Err(e) => Err(e),
                Ok(()) => self.settle(feed, std::mem::replace(&mut pending, Pending::Nothing)).await,
            };
            if let Err(e) = settled {
                if let Pending::Final(t, _) | Pending::Cleanup { t, .. } =
                    std::mem::replace(&mut pending, Pending::Nothing)
                {
                    feed.done(t, Err(e.clone()));
                }
                if let Some(t) = current {
                    feed.done(t, Err(e.clone()));
                }
                return Err(e);
            }
            let Some(t) = current else {
                return Ok(());
            };
            match self.read_envelope(&feed.mail(&t)).await {
                Err(e) => {
                    feed.done(t, Err(e.clone()));
                    return Err(e);
                }
                Ok(Verdict::Body(replies)) => {
                    self.queue_body(feed.mail(&t).body);
                    pending = Pending::Final(t, replies);
                }
                Ok(Verdict::Fail { err, .. }) if err.code() == Some(421) => {
                    let rest = for_the_rest(&err);
                    feed.done(t, Err(err));
                    return Err(rest);
                }
                Ok(Verdict::Fail { err, dot, rset }) => {
                    self.queue_cleanup(dot, rset)?;
                    pending = Pending::Cleanup { t, err, dot, rset };
                }
            }
        }
    }

    /// Reads the replies still due for the previous message (its final reply, or the replies
    /// to the cleanup after its refusal) and hands it its result. An `Err` leaves `pending`'s
    /// message with the caller only when the failure came before its result was decided.
    async fn settle<F: Feed>(&mut self, feed: &mut F, pending: Pending<F::Token>) -> Result<()> {
        match pending {
            Pending::Nothing => Ok(()),
            Pending::Final(t, replies) => {
                let due = self.finals_due(&replies);
                let r = self.read_finals(due, Stage::Data, "the end of DATA").await;
                match r {
                    Ok(r) => {
                        let closing = r
                            .iter()
                            .find(|r| r.code == 421)
                            .map(|r| closing_error().with_stage(Stage::MailFrom).with_reply(r.clone()));
                        feed.done(t.clone(), finish(&feed.mail(&t), replies, r, self.cfg.lmtp));
                        closing.map_or(Ok(()), Err)
                    }
                    Err(e) => {
                        feed.done(t, Err(e.clone().with_unknown_fate()));
                        Err(e)
                    }
                }
            }
            Pending::Cleanup { t, err, dot, rset } => {
                // The message's verdict is the refusal whatever the cleanup does.
                let r = self.read_cleanup(dot, rset).await;
                feed.done(t, Err(err));
                r
            }
        }
    }

    /// Reads the replies to a pipelined envelope (MAIL, each RCPT, DATA) and judges them.
    async fn read_envelope(&mut self, m: &Mail<'_>) -> Result<Verdict> {
        // Checked as each reply arrives: a reply gone missing shows as the next one in its
        // place (a 354 for a RCPT), and waiting for one more would only end in a timeout.
        // A 421 ends the reading: the server closes, and no reply follows it.
        let mail = self.read_reply(Stage::MailFrom, "MAIL FROM").await?;
        let mut replies = EnvelopeReplies { mail, rcpts: Vec::with_capacity(m.rcpts.len()), data: None };
        check_order(&replies)?;
        let mut closing = replies.mail.code == 421;
        for _ in m.rcpts {
            if closing {
                break;
            }
            let r = self.read_reply(Stage::RcptTo, "RCPT TO").await?;
            closing = r.code == 421;
            replies.rcpts.push(r);
            check_order(&replies)?;
        }
        if !closing {
            replies.data = Some(self.read_reply(Stage::Data, "DATA").await?);
            check_order(&replies)?;
        }
        Ok(judge(m, replies))
    }

    fn queue_cleanup(&mut self, dot: bool, rset: bool) -> Result<()> {
        if dot {
            // RFC 2920 §3.1: DATA got 354 although no recipient was accepted; end an empty
            // message (the server must reject it).
            self.queue(".")?;
        }
        if rset {
            self.queue("RSET")?;
        }
        Ok(())
    }

    async fn read_cleanup(&mut self, dot: bool, rset: bool) -> Result<()> {
        if dot {
            self.read_reply(Stage::Data, "the end of DATA").await?;
        }
        if rset {
            let r = self.read_reply(Stage::Rset, "RSET").await?;
            if !r.is_positive() {
                return Err(Error::new(ErrorKind::Protocol, "the server refused RSET")
                    .with_stage(Stage::Rset)
                    .with_reply(r));
            }
        }
        Ok(())
    }
}

/// The first 421 among the replies, with its stage: the server closing the connection there.
fn closing_reply(replies: &EnvelopeReplies) -> Option<(Stage, &Reply)> {
    std::iter::once((Stage::MailFrom, &replies.mail))
        .chain(replies.rcpts.iter().map(|r| (Stage::RcptTo, r)))
        .chain(replies.data.iter().map(|r| (Stage::Data, r)))
        .find(|(_, r)| r.code == 421)
}

/// The refusal of the envelope: the server closing (a 421 anywhere), the sender, or every
/// recipient.
fn envelope_error(m: &Mail<'_>, replies: &EnvelopeReplies) -> Option<Error> {
    if let Some((stage, r)) = closing_reply(replies) {
        return Some(closing_error().with_stage(stage).with_reply(r.clone()));
    }
    if !replies.mail.is_positive() {
        return Some(
            Error::new(ErrorKind::SenderRejected, format!("the server refused the sender <{}>", m.from.trim()))
                .with_stage(Stage::MailFrom)
                .with_reply(replies.mail.clone()),
        );
    }
    if !replies.rcpts.iter().any(Reply::is_positive) {
        let list: Vec<String> = m.rcpts.iter().zip(&replies.rcpts).map(|(a, r)| format!("{a} ({r})")).collect();
        let first = replies.rcpts.first().cloned();
        let mut err = Error::new(
            ErrorKind::RecipientRejected,
            format!("the server refused every recipient: {}", list.join("; ")),
        )
        .with_stage(Stage::RcptTo);
        if let Some(r) = first {
            err = err.with_reply(r);
        }
        return Some(err);
    }
    None
}

fn judge(m: &Mail<'_>, replies: EnvelopeReplies) -> Verdict {
    let data_354 = replies.data.as_ref().is_some_and(|d| d.code == 354);
    if let Some(err) = envelope_error(m, &replies) {
        let rset = err.kind() == ErrorKind::RecipientRejected;
        return Verdict::Fail { err, dot: data_354, rset };
    }
    if !data_354 {
        let mut err = Error::new(ErrorKind::MessageRejected, "the server refused DATA").with_stage(Stage::Data);
        if let Some(r) = replies.data {
            err = err.with_reply(r);
        }
        return Verdict::Fail { err, dot: false, rset: true };
    }
    Verdict::Body(replies)
}

/// The message's result from its envelope replies and the replies after its data: one (SMTP),
/// or one per accepted recipient (LMTP), which then becomes that recipient's reply, so a
/// recipient refused after the data is a rejected recipient of a partial result.
fn finish(m: &Mail<'_>, replies: EnvelopeReplies, finals: Vec<Reply>, lmtp: bool) -> Result<MailOutcome> {
    let mut finals = finals.into_iter();
    let Some(data) = finals.next() else {
        return Err(Error::internal("no reply after the data"));
    };
    if !lmtp {
        return finish_one(m, replies, data);
    }
    // LMTP: the first reply is the first accepted recipient's.
    let mut finals = std::iter::once(data).chain(finals);
    let mut recipients = Vec::with_capacity(m.rcpts.len());
    let mut delivered: Option<Reply> = None;
    let mut refusals = Vec::new();
    let mut accepted_at_rcpt = Vec::with_capacity(m.rcpts.len());
    for (address, rcpt) in m.rcpts.iter().zip(replies.rcpts) {
        accepted_at_rcpt.push(rcpt.is_positive());
        let reply = if rcpt.is_positive() {
            let Some(r) = finals.next() else {
                return Err(Error::new(ErrorKind::Protocol, "LMTP: fewer replies after the data than recipients")
                    .with_stage(Stage::Data)
                    .with_unknown_fate());
            };
            if r.is_positive() {
                delivered.get_or_insert_with(|| r.clone());
            } else {
                refusals.push((address.clone(), r.clone()));
            }
            r
        } else {
            rcpt
        };
        recipients.push(RecipientReply { address: address.clone(), reply });
    }
    if let Some(data) = delivered {
        let deliveries =
            recipients.iter().zip(&accepted_at_rcpt).filter(|(_, at_rcpt)| **at_rcpt).map(|(r, _)| r.clone()).collect();
        return Ok(MailOutcome { mail_from: replies.mail, recipients, data, deliveries });
    }
    let list: Vec<String> = refusals.iter().map(|(a, r)| format!("{a} ({r})")).collect();
    let first = refusals.into_iter().next().map(|(_, r)| r);
    let mut err = Error::new(
        ErrorKind::MessageRejected,
        format!("the server refused the message for every recipient: {}", list.join("; ")),
    )
    .with_stage(Stage::Data);
    if let Some(r) = first {
        if r.code == 421 {
            err = closing_error().with_stage(Stage::Data);
        }
        err = err.with_reply(r);
    }
    Err(err)
}

fn finish_one(m: &Mail<'_>, replies: EnvelopeReplies, data: Reply) -> Result<MailOutcome> {
    if data.code == 421 {
        return Err(closing_error().with_stage(Stage::Data).with_reply(data));
    }
    if !data.is_positive() {
        return Err(Error::new(ErrorKind::MessageRejected, "the server refused the message")
            .with_stage(Stage::Data)
            .with_reply(data));
    }
    let recipients = m
        .rcpts
        .iter()
        .zip(replies.rcpts)
        .map(|(address, reply)| RecipientReply { address: address.clone(), reply })
        .collect();
    Ok(MailOutcome { mail_from: replies.mail, recipients, data, deliveries: Vec::new() })
}
