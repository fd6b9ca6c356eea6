//! Mail transactions: MAIL FROM, RCPT TO, DATA and the content, pipelined (RFC 2920) when the
//! server offers PIPELINING, one command at a time when not.
//!
//! With PIPELINING the envelope (MAIL, every RCPT, DATA) is one write, and the content of a
//! message, its `.` and the next message's envelope are one write. DATA always ends a group, as
//! RFC 2920 requires.

use super::Session;
use super::data::encode_body;
use crate::error::{Cause, Error, ErrorKind, Reply, Result, Stage};

/// Options of one message that affect the MAIL FROM parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// The message needs SMTPUTF8 (UTF-8 in addresses or headers). A non-ASCII address turns
    /// this on by itself. When the server does not offer SMTPUTF8 the send fails before MAIL.
    pub smtputf8: bool,
    /// The content has 8-bit bytes (`BODY=8BITMIME`). When the server does not offer 8BITMIME
    /// the send fails before MAIL: encode the content as quoted-printable or base64 instead.
    pub eight_bit_mime: bool,
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
    /// The final reply after the content (usually carries the queue id).
    pub data: Reply,
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
enum Pending {
    Nothing,
    Final(usize, EnvelopeReplies),
    Cleanup { idx: usize, err: Error, dot: bool, rset: bool },
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
        let rcpts = rcpts.into_iter().map(|r| format!("RCPT TO:<{r}>")).collect();
        Ok(Envelope { mail, rcpts })
    }

    fn queue_body(&mut self, body: &[u8]) {
        if self.tracer.enabled() {
            self.tracer.client(&format!("<message: {} bytes>", body.len()), self.mode);
            self.tracer.client(".", self.mode);
        }
        encode_body(body, &mut self.wbuf);
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
        let mail = Mail { from, rcpts, body, params };
        let mut out = self.send_many(std::slice::from_ref(&mail)).await;
        out.pop().unwrap_or_else(|| Err(Error::internal("send_many returned no result")))
    }

    /// Sends several messages on this connection, one result per message in order. With
    /// PIPELINING, each message's content and `.` share one write with the next message's
    /// envelope. A connection failure fails the message in progress and every later one.
    pub async fn send_many(&mut self, mails: &[Mail<'_>]) -> Vec<Result<MailOutcome>> {
        let mut results: Vec<Option<Result<MailOutcome>>> = vec![None; mails.len()];
        let pipelining = self.ext.as_ref().is_some_and(|e| e.pipelining);
        let run = if pipelining {
            self.run_pipelined(mails, &mut results).await
        } else {
            self.run_sequential(mails, &mut results).await
        };
        if let Err(fatal) = run {
            for r in &mut results {
                if r.is_none() {
                    *r = Some(Err(fatal.clone()));
                }
            }
        }
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::internal("a message got no result")))).collect()
    }

    async fn run_sequential(&mut self, mails: &[Mail<'_>], results: &mut [Option<Result<MailOutcome>>]) -> Result<()> {
        for (i, m) in mails.iter().enumerate() {
            let env = match self.prepare(m) {
                Ok(env) => env,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
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
            match judge(m, replies) {
                Verdict::Body(replies) => {
                    self.queue_body(m.body);
                    self.flush(Stage::Data, "the message").await?;
                    let r = self.read_reply(Stage::Data, "the end of DATA").await?;
                    results[i] = Some(finish(m, replies, r));
                }
                Verdict::Fail { err, dot, rset } => {
                    self.queue_cleanup(dot, rset)?;
                    self.flush(Stage::Rset, "RSET").await?;
                    self.read_cleanup(dot, rset).await?;
                    results[i] = Some(Err(err));
                }
            }
        }
        Ok(())
    }

    async fn run_pipelined(&mut self, mails: &[Mail<'_>], results: &mut [Option<Result<MailOutcome>>]) -> Result<()> {
        let mut pending = Pending::Nothing;
        let mut next = 0;
        loop {
            let mut current = None;
            while next < mails.len() {
                let i = next;
                next += 1;
                match self.prepare(&mails[i]) {
                    Ok(env) => {
                        current = Some(i);
                        self.queue(&env.mail)?;
                        for line in &env.rcpts {
                            self.queue(line)?;
                        }
                        self.queue("DATA")?;
                        break;
                    }
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
            if matches!(pending, Pending::Nothing) && current.is_none() {
                return Ok(());
            }
            if matches!(pending, Pending::Final(..)) {
                self.flush(Stage::Data, "the message").await?;
            } else {
                self.flush(Stage::MailFrom, "the envelope").await?;
            }
            match std::mem::replace(&mut pending, Pending::Nothing) {
                Pending::Nothing => {}
                Pending::Final(idx, replies) => {
                    let r = self.read_reply(Stage::Data, "the end of DATA").await?;
                    results[idx] = Some(finish(&mails[idx], replies, r));
                }
                Pending::Cleanup { idx, err, dot, rset } => {
                    self.read_cleanup(dot, rset).await?;
                    results[idx] = Some(Err(err));
                }
            }
            let Some(i) = current else {
                return Ok(());
            };
            let m = &mails[i];
            let mail = self.read_reply(Stage::MailFrom, "MAIL FROM").await?;
            let mut rcpts = Vec::with_capacity(m.rcpts.len());
            for _ in m.rcpts {
                rcpts.push(self.read_reply(Stage::RcptTo, "RCPT TO").await?);
            }
            let data = Some(self.read_reply(Stage::Data, "DATA").await?);
            pending = match judge(m, EnvelopeReplies { mail, rcpts, data }) {
                Verdict::Body(replies) => {
                    self.queue_body(m.body);
                    Pending::Final(i, replies)
                }
                Verdict::Fail { err, dot, rset } => {
                    self.queue_cleanup(dot, rset)?;
                    Pending::Cleanup { idx: i, err, dot, rset }
                }
            };
        }
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

fn judge(m: &Mail<'_>, replies: EnvelopeReplies) -> Verdict {
    let data_354 = replies.data.as_ref().is_some_and(|d| d.code == 354);
    if !replies.mail.is_positive() {
        return Verdict::Fail {
            err: Error::new(ErrorKind::SenderRejected, format!("the server refused the sender <{}>", m.from.trim()))
                .with_stage(Stage::MailFrom)
                .with_reply(replies.mail),
            dot: data_354,
            rset: false,
        };
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
        return Verdict::Fail { err, dot: data_354, rset: true };
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

fn finish(m: &Mail<'_>, replies: EnvelopeReplies, data: Reply) -> Result<MailOutcome> {
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
    Ok(MailOutcome { mail_from: replies.mail, recipients, data })
}
