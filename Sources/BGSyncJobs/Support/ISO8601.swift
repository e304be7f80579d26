import Foundation

/// UTC timestamps as `2026-11-24T18:00:00Z`.
public enum ISO8601 {
    /// Formats a date.
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
