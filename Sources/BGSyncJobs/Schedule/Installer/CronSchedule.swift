import Foundation

/// Converts an interval into a cron expression: minutes dividing 60 → `*/N * * * *`, hours
/// dividing 24 → `M */N * * *` (M a stable minute from the tag), whole days → daily at a stable
/// time. Anything else cron cannot express evenly and is refused.
package enum CronSchedule {
    /// The five fields for `seconds`, or an error (exit 64) saying why cron cannot express it.
    package static func expression(every seconds: Int, tag: String) throws -> String {
        let minute = stableHash(tag) % 60
        let hour = (stableHash(tag) / 60) % 24
        guard seconds > 0, seconds % 60 == 0 else {
            throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(DurationText.format(Double(seconds))): its unit is the minute; use whole minutes (or the systemd timer)")
        }
        let minutes = seconds / 60
        if minutes < 60 {
            guard 60 % minutes == 0 else {
                throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(minutes) minutes evenly: use a number of minutes that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30), or --systemd")
            }
            return minutes == 1 ? "* * * * *" : "*/\(minutes) * * * *"
        }
        guard minutes % 60 == 0 else {
            throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(DurationText.format(Double(seconds))): above an hour, use whole hours that divide 24, or whole days, or --systemd")
        }
        let hours = minutes / 60
        if hours < 24 {
            guard 24 % hours == 0 else {
                throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(hours) hours evenly: use a number of hours that divides 24 (1, 2, 3, 4, 6, 8, 12), or --systemd")
            }
            return hours == 1 ? "\(minute) * * * *" : "\(minute) */\(hours) * * *"
        }
        guard hours % 24 == 0 else {
            throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(DurationText.format(Double(seconds))): above a day, use whole days, or --systemd")
        }
        let days = hours / 24
        if days == 1 { return "\(minute) \(hour) * * *" }
        throw InstallerError(.unsupportedInterval, "cron cannot run a job every \(days) days evenly (day-of-month steps restart each month): use 1d, or --systemd")
    }

    /// FNV-1a of the tag: the same minute on every machine and every run.
    static func stableHash(_ text: String) -> Int {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return Int(hash % 1_000_000)
    }
}
