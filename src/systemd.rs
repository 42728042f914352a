//! systemd integration: `sd_notify` readiness, status, stopping, and watchdog pings.

use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the service is ready, and starts watchdog pings when `WatchdogSec` is set.
pub(crate) fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
    let mut usec = 0;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        let period = Duration::from_micros(usec / 2);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                notify(&[NotifyState::Watchdog]);
            }
        });
    }
}

/// Updates the one-line status `systemctl status` shows.
pub(crate) fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// Tells systemd the service is stopping.
pub(crate) fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Resolves when SIGTERM or SIGINT arrives.
pub(crate) async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The agent's view of systemd.
pub(crate) struct Systemd;

impl agent::run::Notifier for Systemd {
    fn ready(&self, status: &str) {
        ready(status);
    }
    fn status(&self, text: &str) {
        status(text);
    }
    fn stopping(&self) {
        stopping();
    }
}
