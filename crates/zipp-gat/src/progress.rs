//! A terminal progress bar for training runs (`zipp train`, `zipp eval`): epoch, losses and
//! validation AUC as they come. Hidden when stderr is not a terminal (logs, CI, pipes) or when
//! the caller asks for quiet, so scripted runs print only their results.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::train::EpochStats;

/// One bar over a run's epochs.
#[derive(Debug)]
pub struct TrainProgress {
    bar: ProgressBar,
}

impl TrainProgress {
    /// A bar for up to `epochs` epochs labelled `label`; hidden with `quiet` or when stderr
    /// is not a terminal.
    pub fn new(epochs: usize, label: &str, quiet: bool) -> Self {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(epochs as u64)
        };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:24}] {pos}/{len} epochs, {elapsed} (eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        Self { bar }
    }

    /// Shows `stats` (called after every epoch).
    pub fn update(&self, stats: &EpochStats) {
        self.bar.set_position(stats.epoch as u64 + 1);
        self.bar.set_message(format!(
            "link {:.3}, align {:.3}, val AUC {:.3}, align AUC {:.3} (signal {:.3}, best {:.3})",
            stats.lp_loss,
            stats.align_loss,
            stats.val_auc,
            stats.val_align_auc,
            stats.signal,
            stats.best_signal
        ));
    }

    /// Removes the bar (the caller prints the result).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// Whether the bar is drawn.
    pub fn is_visible(&self) -> bool {
        !self.bar.is_hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_bar_is_hidden_and_accepts_updates() {
        let p = TrainProgress::new(3, "train", true);
        assert!(!p.is_visible());
        p.update(&EpochStats {
            epoch: 0,
            lp_loss: 1.0,
            align_loss: 2.0,
            val_auc: 0.5,
            val_align_auc: 0.5,
            signal: 0.5,
            best_signal: 0.5,
            elapsed_s: 0.1,
        });
        p.finish();
    }
}
