//! Progress bars on a terminal, nothing in pipes.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar that draws on stderr only when stderr is a terminal.
pub struct Bar {
    inner: ProgressBar,
}

/// A bar of `len` steps labelled `what`.
pub fn bar(len: u64, what: &str) -> Bar {
    let inner = if std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(len.max(1)), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        b
    } else {
        ProgressBar::hidden()
    };
    Bar { inner }
}

impl Bar {
    /// One more step done.
    pub fn inc(&self, n: u64) {
        self.inner.inc(n)
    }

    /// Set progress as a fraction of a one-step bar (shown as per mille).
    pub fn set_fraction(&self, f: f64) {
        self.inner.set_length(1000);
        self.inner.set_position((f.clamp(0.0, 1.0) * 1000.0) as u64);
    }

    /// Steps done so far.
    pub fn set_position(&self, pos: u64) {
        self.inner.set_position(pos)
    }

    /// Replace the label.
    pub fn set_message(&self, msg: String) {
        self.inner.set_message(msg)
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.inner.finish_and_clear()
    }
}
