import Foundation

/// What a run should do, decided before it takes any resource.
package enum RunDecision: Sendable, Equatable {
    /// Sync now.
    case run
    /// Record the reason, exit 0; the next firing tries again.
    case skip(SkipReason)
}

/// Why a run did nothing. None of these changes the backoff or the last success.
package enum SkipReason: Sendable, Equatable, CustomStringConvertible {
    /// The job was cancelled (`bgsync cancel TAG`); `bgsync resume TAG` enables it again.
    case cancelled
    /// A periodic job whose interval (minus flex) has not elapsed since its last success.
    case notDue(until: Date)
    /// The job failed `failures` times in a row and waits until `until` before retrying.
    case backingOff(until: Date, failures: Int)
    /// Another process holds the job's lock (its pid when it wrote one).
    case alreadyRunning(pid: Int32?)
    /// A constraint is unmet; the text names it and the measured value.
    case constraint(String)

    /// One line for people and for the `reason` of `run --json` and history; ``cancelled``
    /// names the command with a `TAG` placeholder (see ``description(tag:)``).
    package var description: String { description(tag: "TAG") }

    /// The description with the job's tag in the hint of ``cancelled``.
    package func description(tag: String) -> String {
        switch self {
        case .cancelled:
            return "cancelled (bgsync resume \(tag) to enable)"
        case .notDue(let until):
            return "not due until \(ISO8601.format(until))"
        case .backingOff(let until, let failures):
            return "backing off until \(ISO8601.format(until)) after \(failures) \(failures == 1 ? "failure" : "failures")"
        case .alreadyRunning(let pid):
            return pid.map { "already running (pid \($0))" } ?? "already running"
        case .constraint(let text):
            return text
        }
    }

    /// A stable identifier for scripts: `cancelled`, `not_due`, `backing_off`,
    /// `already_running`, `constraint`.
    package var code: String {
        switch self {
        case .cancelled: return "cancelled"
        case .notDue: return "not_due"
        case .backingOff: return "backing_off"
        case .alreadyRunning: return "already_running"
        case .constraint: return "constraint"
        }
    }

    /// When the job could run again, for the skips that know it.
    package var until: Date? {
        switch self {
        case .notDue(let until), .backingOff(let until, _): return until
        default: return nil
        }
    }
}
