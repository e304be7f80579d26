import Foundation

/// Converts an interval into a cron expression: minutes dividing 60 → `*/N * * * *`, hours
/// dividing 24 → `M */N * * *` (M a stable minute from the tag), whole days → daily at a stable
/// time. Anything else cron cannot express evenly and is refused.
public enum CronSchedule {
    /// The five fields for `seconds`, or an error (exit 64) saying why cron cannot express it.
    public static func expression(every seconds: Int, tag: String) throws -> String {
        let minute = stableHash(tag) % 60
        let hour = (stableHash(tag) / 60) % 24
        guard seconds > 0, seconds % 60 == 0 else {
            throw InstallerError(SysExit.usage, "cron cannot run a job every \(DurationText.format(Double(seconds))): its unit is the minute; use whole minutes (or the systemd timer)")
        }
        let minutes = seconds / 60
        if minutes < 60 {
            guard 60 % minutes == 0 else {
                throw InstallerError(SysExit.usage, "cron cannot run a job every \(minutes) minutes evenly: use a number of minutes that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30), or --systemd")
            }
            return minutes == 1 ? "* * * * *" : "*/\(minutes) * * * *"
        }
        guard minutes % 60 == 0 else {
            throw InstallerError(SysExit.usage, "cron cannot run a job every \(DurationText.format(Double(seconds))): above an hour, use whole hours that divide 24, or whole days, or --systemd")
        }
        let hours = minutes / 60
        if hours < 24 {
            guard 24 % hours == 0 else {
                throw InstallerError(SysExit.usage, "cron cannot run a job every \(hours) hours evenly: use a number of hours that divides 24 (1, 2, 3, 4, 6, 8, 12), or --systemd")
            }
            return hours == 1 ? "\(minute) * * * *" : "\(minute) */\(hours) * * *"
        }
        guard hours % 24 == 0 else {
            throw InstallerError(SysExit.usage, "cron cannot run a job every \(DurationText.format(Double(seconds))): above a day, use whole days, or --systemd")
        }
        let days = hours / 24
        if days == 1 { return "\(minute) \(hour) * * *" }
        throw InstallerError(SysExit.usage, "cron cannot run a job every \(days) days evenly (day-of-month steps restart each month): use 1d, or --systemd")
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

/// A crontab's text with bgsync's marked block: one line per job, tagged `# bgsync:TAG`,
/// between `# BEGIN bgsync` and `# END bgsync`. Lines outside the block are never touched.
public struct CrontabBlock: Sendable, Equatable {
    public static let begin = "# BEGIN bgsync (managed by `bgsync schedule --cron`; edit with bgsync schedule/unschedule)"
    public static let end = "# END bgsync"

    /// The whole crontab.
    public private(set) var text: String

    public init(_ text: String) { self.text = text }

    /// The line for a job.
    public static func line(expression: String, command: String, tag: String) -> String {
        "\(expression) \(command) # bgsync:\(tag)"
    }

    static func marker(_ tag: String) -> String { "# bgsync:\(tag)" }

    static func isLine(_ line: String, of tag: String) -> Bool {
        line.hasSuffix(" " + marker(tag)) || line == marker(tag)
    }

    /// The job's line, if scheduled.
    public func line(for tag: String) -> String? {
        lines.first { Self.isLine($0, of: tag) }
    }

    private var lines: [String] {
        var all = text.components(separatedBy: "\n")
        if all.last == "" { all.removeLast() }
        return all
    }

    /// Adds or replaces the job's line (in place when present). Returns what changed.
    @discardableResult
    public mutating func set(_ line: String, for tag: String) -> InstallChange {
        var all = lines
        if let index = all.firstIndex(where: { Self.isLine($0, of: tag) }) {
            if all[index] == line { return .unchanged }
            all[index] = line
            text = Self.join(all)
            return .updated
        }
        if let endIndex = all.firstIndex(of: Self.end), all[..<endIndex].contains(Self.begin) {
            all.insert(line, at: endIndex)
        } else {
            all += [Self.begin, line, Self.end]
        }
        text = Self.join(all)
        return .created
    }

    /// Removes the job's line (and the block when it becomes empty).
    @discardableResult
    public mutating func remove(_ tag: String) -> InstallChange {
        var all = lines
        guard let index = all.firstIndex(where: { Self.isLine($0, of: tag) }) else { return .absent }
        all.remove(at: index)
        if let beginIndex = all.firstIndex(of: Self.begin), beginIndex + 1 < all.count, all[beginIndex + 1] == Self.end {
            all.removeSubrange(beginIndex...(beginIndex + 1))
        }
        text = Self.join(all)
        return .removed
    }

    static func join(_ lines: [String]) -> String {
        lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}
