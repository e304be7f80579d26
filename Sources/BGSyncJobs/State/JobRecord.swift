import Foundation

/// What the state database remembers of one job (one row of `jobs` per tag).
///
/// As returned by ``StateDatabase/job(_:)`` and ``StateDatabase/jobs()``, a run whose process
/// died without recording an outcome (SIGKILL, OOM, power loss) is shown as the next run will
/// record it: not running, last outcome `failed` with reason "process died", one more failure.
package struct JobRecord: Sendable, Equatable {
    /// The job's tag.
    package var tag: String
    /// False after `bgsync cancel TAG`, true again after `bgsync resume TAG`.
    package var enabled: Bool
    /// When the last run (of any outcome, skips included) started.
    package var lastRun: Date?
    /// How the last run ended.
    package var lastOutcome: RunOutcome?
    /// Why the last run did not sync (skip reason, failure summary), nil after a sync.
    package var lastReason: String?
    /// The exit code of the last run that was not skipped (nil before the first, and for a run
    /// whose process died). ``ScheduleDecider`` keeps a job whose configuration failed (78) due.
    package var lastExitCode: Int32?
    /// When the last successful sync finished.
    package var lastSuccess: Date?
    /// When the last failed or interrupted run finished (the backoff counts from there).
    package var lastFailure: Date?
    /// Failed or interrupted runs since the last success.
    package var consecutiveFailures: Int
    /// When the job may sync again without `--force`, as computed when its last run finished
    /// (nil: at any time). ``ScheduleDecider`` recomputes it from the current policy.
    package var nextEligible: Date?
    /// The pid of the process running the job now, if any.
    package var runningPID: Int32?
    /// When the running run started.
    package var runningSince: Date?
    /// Live progress of the running run, as JSON text (counters so far).
    package var progress: String?
    /// The job file of the last run.
    package var jobFile: String?

    /// Whether a process is running the job now (its liveness checked when read).
    package var isRunning: Bool { runningPID != nil }

    package init(tag: String, enabled: Bool = true, lastRun: Date? = nil, lastOutcome: RunOutcome? = nil, lastReason: String? = nil,
                lastExitCode: Int32? = nil, lastSuccess: Date? = nil, lastFailure: Date? = nil, consecutiveFailures: Int = 0, nextEligible: Date? = nil,
                runningPID: Int32? = nil, runningSince: Date? = nil, progress: String? = nil, jobFile: String? = nil) {
        self.tag = tag
        self.enabled = enabled
        self.lastRun = lastRun
        self.lastOutcome = lastOutcome
        self.lastReason = lastReason
        self.lastExitCode = lastExitCode
        self.lastSuccess = lastSuccess
        self.lastFailure = lastFailure
        self.consecutiveFailures = consecutiveFailures
        self.nextEligible = nextEligible
        self.runningPID = runningPID
        self.runningSince = runningSince
        self.progress = progress
        self.jobFile = jobFile
    }
}

/// One run in the history (`runs`), skips included.
package struct RunRecord: Sendable, Equatable {
    /// Increasing with every run: newer runs have greater ids.
    package var id: Int64
    /// The job's tag.
    package var tag: String
    /// When the run started.
    package var startedAt: Date
    /// When it ended; nil while running, and for a run whose process died.
    package var finishedAt: Date?
    /// How it ended; nil while running.
    package var outcome: RunOutcome?
    /// Why it did not sync (skip reason, failure summary).
    package var reason: String?
    /// The error message of a failed run.
    package var error: String?
    /// The exit code of the run's process.
    package var exitCode: Int32?
    /// JSON text of the counters (per direction `docs_read`, `docs_written`, …).
    package var result: String?
    /// The pid of the run's process.
    package var pid: Int32

    package init(id: Int64, tag: String, startedAt: Date, finishedAt: Date? = nil, outcome: RunOutcome? = nil, reason: String? = nil,
                error: String? = nil, exitCode: Int32? = nil, result: String? = nil, pid: Int32) {
        self.id = id
        self.tag = tag
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.outcome = outcome
        self.reason = reason
        self.error = error
        self.exitCode = exitCode
        self.result = result
        self.pid = pid
    }

    /// Seconds from start to finish, when both are known.
    package var duration: Double? { finishedAt.map { $0.timeIntervalSince(startedAt) } }
}
