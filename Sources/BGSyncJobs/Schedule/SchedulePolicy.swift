import Foundation

/// When a job may run: its `[schedule]` and `[backoff]` tables, in seconds.
///
/// The semantics are WorkManager's, kept between stateless runs by the state database:
/// * a periodic job (`interval` set) is due from `lastSuccess + interval - flex`; without an
///   interval every run is due;
/// * after a failure the job waits `backoffDelay(failures)` from that failure before the next
///   attempt (exponential: `delay * 2^(n-1)`, linear: `delay * n`, both capped at `backoffMax`);
/// * a success resets the failure count.
package struct SchedulePolicy: Sendable, Equatable {
    /// Seconds between successful syncs; nil means every run is due.
    package var interval: Double?
    /// The job is due from `lastSuccess + interval - flex` (clamped to `0...interval`).
    package var flex: Double = 0
    /// The run's deadline in seconds (the runner stops cleanly before it); nil = no deadline.
    package var timeout: Double?

    /// How the retry delay grows with consecutive failures.
    package enum Backoff: String, Sendable, CaseIterable {
        /// `delay * 2^(n-1)`: 30s, 1m, 2m, 4m, … (WorkManager's default).
        case exponential
        /// `delay * n`: 30s, 1m, 1m30s, …
        case linear
    }

    /// How the retry delay grows.
    package var backoff: Backoff = .exponential
    /// The delay before the first retry, in seconds.
    package var backoffDelay: Double = 30
    /// The longest delay between retries, in seconds (WorkManager's cap: 5 hours).
    package var backoffMax: Double = 5 * 3600

    /// The defaults: no interval (every run is due), no timeout, exponential backoff from 30s to 5h.
    package init() {}

    /// A policy with the given values (defaults as ``init()``).
    package init(interval: Double?, flex: Double = 0, timeout: Double? = nil, backoff: Backoff = .exponential,
                backoffDelay: Double = 30, backoffMax: Double = 5 * 3600) {
        self.interval = interval
        self.flex = flex
        self.timeout = timeout
        self.backoff = backoff
        self.backoffDelay = backoffDelay
        self.backoffMax = backoffMax
    }
}

/// How a run ended, as recorded in the state database and printed by `run --json`.
public enum RunOutcome: String, Sendable, CaseIterable {
    /// Pull and push completed.
    case synced
    /// The run did nothing: not due, backing off, constraints unmet, cancelled, already running.
    case skipped
    /// The run failed (server unreachable, refused, local I/O …); counts for backoff.
    case failed
    /// The run was stopped (deadline, SIGTERM/SIGINT) after saving its checkpoints; counts for
    /// backoff like a failure, as WorkManager retries a stopped worker with backoff.
    case interrupted
    /// The pull completed but the push was refused: it would have deleted more of the remote's
    /// documents than `max_delete` allows. Not transient, so no backoff grows: the job keeps its
    /// interval, and each run refuses again until a human acts (`--force`, or a higher limit).
    case refused

    /// Whether this outcome adds one to the consecutive failures (and so to the backoff). An
    /// interrupted run (signal, `bgsync cancel`, its own timeout) did not fail: it does not.
    package var countsAsFailure: Bool { self == .failed }
}
