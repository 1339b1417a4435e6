//! A pager for results longer than the screen.
//!
//! Output goes to the terminal as usual until it reaches the screen's height; then the
//! pager (`$DUSK_PAGER`, `$PAGER`, else `less -SFRX`) starts with what was held back and
//! takes the rest as it streams. Quitting the pager early discards the rest.

use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The pager run when neither `DUSK_PAGER` nor `PAGER` is set.
const DEFAULT_PAGER: &str = "less -SFRX";

/// Terminal output that hands over to a pager once it outgrows `height` lines.
pub(crate) struct Paged {
    height: usize,
    held: Vec<u8>,
    lines: usize,
    pager: Option<(Child, ChildStdin)>,
    /// The pager was quit: the rest is dropped.
    closed: bool,
}

impl Paged {
    /// Pages output taller than `height` lines.
    pub(crate) fn new(height: usize) -> Self {
        Paged { height, held: Vec::new(), lines: 0, pager: None, closed: false }
    }

    fn start_pager(&mut self) -> io::Result<()> {
        let command = std::env::var("DUSK_PAGER")
            .or_else(|_| std::env::var("PAGER"))
            .unwrap_or_else(|_| DEFAULT_PAGER.to_string());
        let mut child = Command::new("sh").arg("-c").arg(&command).stdin(Stdio::piped()).spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| io::Error::other("the pager has no stdin"))?;
        stdin.write_all(&std::mem::take(&mut self.held))?;
        self.pager = Some((child, stdin));
        Ok(())
    }
}

impl Write for Paged {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(data.len());
        }
        if let Some((_, stdin)) = &mut self.pager {
            return match stdin.write_all(data) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    self.closed = true;
                    Ok(data.len())
                }
                other => other.map(|()| data.len()),
            };
        }
        self.held.extend_from_slice(data);
        self.lines += data.iter().filter(|b| **b == b'\n').count();
        if self.lines >= self.height && self.start_pager().is_err() {
            // No pager to be had: print as if there were none.
            let mut stdout = io::stdout().lock();
            stdout.write_all(&std::mem::take(&mut self.held))?;
            self.height = usize::MAX;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.pager {
            Some((_, stdin)) if !self.closed => stdin.flush().or(Ok(())),
            _ => Ok(()),
        }
    }
}

impl Drop for Paged {
    /// Prints what fit on one screen, or waits for the reader to quit the pager.
    fn drop(&mut self) {
        match self.pager.take() {
            Some((mut child, stdin)) => {
                drop(stdin);
                let _ = child.wait();
            }
            None => {
                let mut stdout = io::stdout().lock();
                let _ = stdout.write_all(&self.held);
                let _ = stdout.flush();
            }
        }
    }
}
