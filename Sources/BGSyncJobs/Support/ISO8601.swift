import Foundation

/// UTC timestamps as `2026-11-24T18:00:00Z`: the one way bgsync writes a time (status, `--json`,
/// skip messages, history).
package enum ISO8601 {
    /// Formats a date in whole seconds, rounded up, so that a time printed is never earlier
    /// than the one meant ("not due until …" and `next_eligible` name the same second).
    package static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.up)).formatted(.iso8601)
    }
}
