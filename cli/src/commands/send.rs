//! `relaykit send`: one message, a raw .eml, or a batch through the mailer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, IsTerminal as _, Read as _};
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

use relaykit::report::BatchOutcome;
use relaykit::{Attachment, Error, ErrorKind, Mailer, MailerOptions, Message, SendOptions, SendResult};

use crate::args::{Common, SendArgs};
use crate::common::{self, Paint};
use crate::exit::{self, Failure, Outcome};

pub fn run(c: &Common, a: &SendArgs) -> Outcome {
    if let Some(batch) = &a.batch {
        return batch_send(c, a, batch);
    }
    let message = build(a)?;
    let profile = common::read_profile(&a.file)?;
    let keyring = common::keyring(c)?;
    let ctx = common::rrt_context(c)?;
    let mut options = SendOptions::default();
    if a.trace {
        options.trace = Some(super::test::stderr_trace());
    }
    options.token_provider = common::token_provider(c);
    let paint = Paint::new(common::colour(c));
    match relaykit::send(&profile, &keyring, &ctx, &message, &options) {
        Ok(r) => {
            if a.json {
                println!("{}", r.to_json());
            } else {
                print_result(&r, paint);
            }
            if r.rejected.is_empty() { Ok(()) } else { Err(Failure::Partial) }
        }
        Err(e) => {
            if a.json {
                println!("{}", serde_json::to_string(&e).unwrap_or_default());
            }
            Err(Failure::Relaykit(e))
        }
    }
}

/// The message the flags describe, in the library's form (its checks run when it is prepared).
fn build(a: &SendArgs) -> Result<Message, Failure> {
    let from = a.from.clone().unwrap_or_default();
    if let Some(raw) = &a.raw {
        let bytes = read_file(raw, "--raw")?;
        if from.is_empty() || (a.to.is_empty() && a.cc.is_empty() && a.bcc.is_empty()) {
            return Err(Failure::usage(
                "--raw sends the file as it is: give the envelope with --from and at least one --to, --cc or --bcc",
            ));
        }
        let recipients = a.to.iter().chain(&a.cc).chain(&a.bcc).cloned().collect();
        let mut m = Message::raw(from, recipients, bytes);
        m.expand_rrts = !a.no_expand_rrts;
        return Ok(m);
    }
    if from.is_empty() {
        return Err(Failure::usage("give the sender with --from (or a whole message with --raw, or --batch)"));
    }
    let mut m = Message::new(from);
    m.to.clone_from(&a.to);
    m.cc.clone_from(&a.cc);
    m.bcc.clone_from(&a.bcc);
    m.reply_to = a.reply_to.iter().cloned().collect();
    m.subject.clone_from(&a.subject);
    m.text = match &a.text_file {
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::new(ErrorKind::Io, format!("--text-file -: cannot read standard input: {e}")))?;
            Some(s)
        }
        Some(p) => Some(text_file(p, "--text-file")?),
        None => a.text.clone(),
    };
    if let Some(p) = &a.html_file {
        m.html = Some(text_file(p, "--html-file")?);
    }
    for p in &a.attach {
        if !p.is_file() {
            return Err(Failure::Relaykit(Error::new(
                ErrorKind::Io,
                format!("--attach {}: no such file", p.display()),
            )));
        }
        m.attachments.push(Attachment::from_path(p.clone(), None));
    }
    for h in &a.header {
        let Some((name, value)) = h.split_once(':') else {
            return Err(Failure::usage(format!("--header `{h}`: write it as `Name: value`")));
        };
        m.headers.push((name.trim().to_owned(), value.trim_start().to_owned()));
    }
    m.expand_rrts = !a.no_expand_rrts;
    Ok(m)
}

fn read_file(p: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(p).map_err(|e| Failure::Relaykit(Error::new(ErrorKind::Io, format!("{flag} {}: {e}", p.display()))))
}

fn text_file(p: &Path, flag: &str) -> Result<String, Failure> {
    String::from_utf8(read_file(p, flag)?)
        .map_err(|_| Failure::Relaykit(Error::new(ErrorKind::Io, format!("{flag} {}: not UTF-8 text", p.display()))))
}

fn print_result(r: &SendResult, paint: Paint) {
    println!("{}", paint.good("sent"));
    println!("  accepted    {}", r.accepted.join(", "));
    for rej in &r.rejected {
        println!("  {}    {} ({})", paint.bad("refused"), rej.address, rej.reply);
    }
    if let Some(id) = &r.message_id {
        println!("  message id  {id}");
    }
    println!("  reply       {}", r.reply);
}

/// What the batch reader found at each position, in order: a message handed to the mailer
/// (its line) or a line that is not one (its line and error).
enum Entry {
    Message(u64),
    Bad(u64, Error),
}

#[derive(Default)]
struct Tally {
    sent: u64,
    partial: u64,
    failed: u64,
}

/// `send --batch FILE.jsonl`: every line a message in the library's JSON form, streamed into
/// a [`Mailer`] (`send_each` holds a batch at a time, never the whole file). A line that is
/// not a message is that message's failure, named by its line number; the others still go.
fn batch_send(c: &Common, a: &SendArgs, path: &Path) -> Outcome {
    let profile = common::read_profile(&a.file)?;
    let keyring = common::keyring(c)?;
    let ctx = common::rrt_context(c)?;
    let mut options = match &a.mailer_options {
        Some(text) => MailerOptions::from_json(text)?,
        None => MailerOptions::default(),
    };
    if a.trace {
        options.trace = Some(super::test::stderr_trace());
    }
    options.token_provider = common::token_provider(c);
    let open = || {
        std::fs::File::open(path)
            .map_err(|e| Failure::Relaykit(Error::new(ErrorKind::Io, format!("--batch {}: {e}", path.display()))))
    };
    let file = open()?;
    let mailer = Mailer::new(&profile, &keyring, &ctx, options)?;
    let progress = (!a.json && !a.no_progress && std::io::stderr().is_terminal()).then(|| progress_bar(path));

    let paint = Paint::new(common::colour(c));
    let json = a.json;
    let pending: Rc<RefCell<VecDeque<Entry>>> = Rc::default();
    let read_error: Rc<RefCell<Option<Error>>> = Rc::default();
    let tally = RefCell::new(Tally::default());
    let report = |line: u64, outcome: &relaykit::Result<SendResult>| {
        let mut t = tally.borrow_mut();
        match outcome {
            Ok(r) if r.rejected.is_empty() => t.sent += 1,
            Ok(_) => t.partial += 1,
            Err(_) => t.failed += 1,
        }
        if json {
            println!("{}", BatchOutcome::new(line, outcome).to_json());
        } else {
            match outcome {
                Ok(r) if !r.rejected.is_empty() => {
                    for rej in &r.rejected {
                        eprintln!("line {line}: {} {} ({})", paint.warn("refused"), rej.address, rej.reply);
                    }
                }
                Ok(_) => {}
                Err(e) => eprintln!("line {line}: {}", exit::describe(e)),
            }
        }
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    };
    // Report every bad line queued in front of the next message (or at the end).
    let flush_bad = |pending: &mut VecDeque<Entry>| {
        while let Some(Entry::Bad(..)) = pending.front() {
            if let Some(Entry::Bad(line, e)) = pending.pop_front() {
                report(line, &Err(e));
            }
        }
    };

    let messages = batch_lines(file, path, Rc::clone(&pending), Rc::clone(&read_error), &report);

    let started = Instant::now();
    relaykit::runtime::block_on(async {
        mailer
            .send_each(messages, |_, outcome| {
                let mut q = pending.borrow_mut();
                flush_bad(&mut q);
                let line = match q.pop_front() {
                    Some(Entry::Message(line)) => line,
                    _ => 0, // cannot happen: every message handed over was queued first
                };
                drop(q);
                report(line, &outcome);
            })
            .await;
        mailer.close().await;
    })?;
    flush_bad(&mut pending.borrow_mut());
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let t = tally.into_inner();
    let total = t.sent + t.partial + t.failed;
    #[allow(clippy::cast_precision_loss)] // a message count, shown as a rate
    let rate = if elapsed > 0.0 { total as f64 / elapsed } else { 0.0 };
    let summary = format!(
        "{total} messages: {} sent, {} partly refused, {} failed in {elapsed:.1} s ({rate:.0} msgs/s)",
        t.sent, t.partial, t.failed
    );
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    if let Some(e) = read_error.borrow_mut().take() {
        return Err(Failure::Relaykit(e));
    }
    if t.partial + t.failed > 0 { Err(Failure::Partial) } else { Ok(()) }
}

/// A bar over the messages of the batch (one quick pass counts them, so the bar has an end).
fn progress_bar(path: &Path) -> indicatif::ProgressBar {
    let total = std::fs::File::open(path)
        .map_or(0, |f| BufReader::new(f).lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).count());
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} messages, {per_sec}, {eta} left") {
        bar.set_style(style);
    }
    bar
}

/// At most this many bad lines wait in `pending` for the messages before them to be sent; more
/// are reported at once, ahead of those messages (each outcome names its line), so that a
/// long run of bad lines never piles up in memory.
const MAX_HELD: usize = 4096;

/// The messages of a JSON Lines file, read as the mailer asks for them. Each message's line is
/// queued in `pending`, and so is a bad line behind a message not yet reported, so that outcomes
/// come in line order; a bad line with nothing before it is reported at once. A read error ends
/// the batch and is kept in `read_error`.
fn batch_lines<'a, R: Fn(u64, &relaykit::Result<SendResult>)>(
    file: std::fs::File,
    path: &'a Path,
    pending: Rc<RefCell<VecDeque<Entry>>>,
    read_error: Rc<RefCell<Option<Error>>>,
    report: &'a R,
) -> impl Iterator<Item = Message> + 'a {
    let mut lines = BufReader::new(file).lines();
    let mut n: u64 = 0;
    std::iter::from_fn(move || {
        loop {
            n += 1;
            let text = match lines.next()? {
                Ok(t) => t,
                Err(e) => {
                    *read_error.borrow_mut() =
                        Some(Error::new(ErrorKind::Io, format!("--batch {} line {n}: {e}", path.display())));
                    return None;
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            match Message::from_json(&text) {
                Ok(m) => {
                    pending.borrow_mut().push_back(Entry::Message(n));
                    return Some(m);
                }
                // The error names the field (`message.to[1]: ...`); the outcome names the line.
                Err(e) => {
                    let mut q = pending.borrow_mut();
                    if q.is_empty() || q.len() >= MAX_HELD {
                        drop(q);
                        report(n, &Err(e));
                    } else {
                        q.push_back(Entry::Bad(n, e));
                    }
                }
            }
        }
    })
}
