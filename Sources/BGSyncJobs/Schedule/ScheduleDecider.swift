import Foundation

/// Decides whether a run should sync, from the job's record and its policy alone (no I/O).
///
/// The rules, in order (WorkManager's, adapted to a process started by a timer):
/// 1. A job never seen before runs.
/// 2. A cancelled job (`enabled == false`) is skipped, even with `--force`.
/// 3. `--force` runs (it ignores due time and backoff; the runner also ignores constraints).
/// 3a. A job whose last run (not counting skips) failed on its configuration (exit 78) runs: it
///     builds the configuration again and reports 78 again until it is fixed, rather than
///     hiding the error behind "not due" or "backing off" and exit 0.
/// 4. After failures, the job backs off until `lastFailure + backoffDelay(consecutiveFailures)`.
/// 5. A periodic job is not due before `lastSuccess + interval - flex`.
/// When both 4 and 5 hold, the skip names the later of the two times.
///
/// Both times are computed from the record and the *current* policy, so an edited job file takes
/// effect at the next firing. A time in the future (the clock went back) is not trusted: it
/// neither defers nor backs off, and the run that follows records a correct time again.
///
/// Failures: `failed` and `interrupted` both count (a deadline or SIGTERM stops the worker; as
/// WorkManager reschedules a stopped worker with its run attempt count kept, the next attempt
/// waits for the backoff). A run whose process died (SIGKILL, OOM) counts too (see
/// ``StateDatabase``). A configuration error (exit 78) does not count (rule 3a). Skips never
/// count, and never reset the count; only a success does.
///
/// Whether another process is running the job is not decided here: the per-tag ``RunLock`` is
/// the authority, taken before deciding.
package enum ScheduleDecider {
    /// Whether a run at `now` should sync.
    /// - Parameter force: `--force`: ignores due time and backoff, not `cancelled`.
    package static func decide(job: JobRecord?, policy: SchedulePolicy, now: Date, force: Bool) -> RunDecision {
        guard let job else { return .run }
        if !job.enabled { return .skip(.cancelled) }
        if force || job.lastExitCode == SysExit.config { return .run }
        let due = dueDate(lastSuccess: job.lastSuccess, policy: policy, now: now).flatMap { $0 > now ? $0 : nil }
        let retry = backoffUntil(job: job, policy: policy, now: now).flatMap { $0 > now ? $0 : nil }
        switch (due, retry) {
        case (nil, nil):
            return .run
        case (let due?, nil):
            return .skip(.notDue(until: due))
        case (nil, let retry?):
            return .skip(.backingOff(until: retry, failures: job.consecutiveFailures))
        case (let due?, let retry?):
            return due > retry ? .skip(.notDue(until: due)) : .skip(.backingOff(until: retry, failures: job.consecutiveFailures))
        }
    }

    /// The earliest time the job may sync without `--force` (nil: at any time), as ``decide``
    /// sees it; for status output.
    package static func eligibleAt(job: JobRecord, policy: SchedulePolicy, now: Date) -> Date? {
        if job.lastExitCode == SysExit.config { return nil }
        let times = [dueDate(lastSuccess: job.lastSuccess, policy: policy, now: now), backoffUntil(job: job, policy: policy, now: now)]
        return times.compactMap { $0 }.max()
    }

    /// When the job may run again after an outcome at `now`.
    ///
    /// * `synced`: `now + interval - flex`, or nil without an interval (every run is due);
    /// * `failed`: `now + backoffDelay(consecutiveFailures)` — or the due time from
    ///   `lastSuccess`, when that is later;
    /// * `refused`: `now + interval - flex`, as after a sync (the pull completed; refusing
    ///   again sooner helps nobody), without backoff;
    /// * `skipped`, `interrupted`: the due time from `lastSuccess` (neither moves the schedule:
    ///   an interrupted run is tried again at the next firing once it is due).
    /// - Parameter consecutiveFailures: the count after this outcome (1 after a first failure).
    package static func nextEligible(after outcome: RunOutcome, consecutiveFailures: Int, policy: SchedulePolicy, now: Date,
                                    lastSuccess: Date? = nil) -> Date? {
        switch outcome {
        case .synced, .refused:
            return dueDate(lastSuccess: now, policy: policy, now: now)
        case .failed:
            let retry = now.addingTimeInterval(backoffDelay(failures: consecutiveFailures, policy: policy))
            if let due = dueDate(lastSuccess: lastSuccess, policy: policy, now: now), due > retry { return due }
            return retry
        case .skipped, .interrupted:
            return dueDate(lastSuccess: lastSuccess, policy: policy, now: now)
        }
    }

    /// WorkManager's backoff: exponential = `delay * 2^(n-1)`, linear = `delay * n`, capped at
    /// `backoffMax`; 0 when `failures < 1`.
    package static func backoffDelay(failures: Int, policy: SchedulePolicy) -> Double {
        guard failures >= 1, policy.backoffDelay > 0 else { return 0 }
        let delay: Double
        switch policy.backoff {
        case .exponential:
            delay = policy.backoffDelay * pow(2, Double(min(failures - 1, 1000)))
        case .linear:
            delay = policy.backoffDelay * Double(failures)
        }
        return max(0, min(delay, policy.backoffMax))
    }

    /// `lastSuccess + interval - flex`; nil without an interval, without a success, or when the
    /// success lies in the future (a clock that went back: the job is considered due).
    static func dueDate(lastSuccess: Date?, policy: SchedulePolicy, now: Date) -> Date? {
        guard let interval = policy.interval, interval > 0, let lastSuccess, lastSuccess <= now else { return nil }
        let flex = min(max(policy.flex, 0), interval)
        return lastSuccess.addingTimeInterval(interval - flex)
    }

    /// `lastFailure + backoffDelay(consecutiveFailures)`; nil without failures or when the failure
    /// lies in the future.
    static func backoffUntil(job: JobRecord, policy: SchedulePolicy, now: Date) -> Date? {
        guard job.consecutiveFailures > 0, let failure = job.lastFailure ?? job.lastRun, failure <= now else { return nil }
        return failure.addingTimeInterval(backoffDelay(failures: job.consecutiveFailures, policy: policy))
    }
}
