import Foundation

/// A crontab's text with bgsync's marked block: one line per job, tagged `# bgsync:TAG`,
/// between `# BEGIN bgsync` and `# END bgsync`. Lines outside the block are never touched.
package struct CrontabBlock: Sendable, Equatable {
    package static let begin = "# BEGIN bgsync (managed by `bgsync schedule --cron`; edit with bgsync schedule/unschedule)"
    package static let end = "# END bgsync"

    /// The whole crontab.
    package private(set) var text: String

    package init(_ text: String) { self.text = text }

    /// The line for a job.
    package static func line(expression: String, command: String, tag: String) -> String {
        "\(expression) \(command) # bgsync:\(tag)"
    }

    static func marker(_ tag: String) -> String { "# bgsync:\(tag)" }

    static func isLine(_ line: String, of tag: String) -> Bool {
        line.hasSuffix(" " + marker(tag)) || line == marker(tag)
    }

    /// The job's line, if scheduled.
    package func line(for tag: String) -> String? {
        lines.first { Self.isLine($0, of: tag) }
    }

    private var lines: [String] {
        var all = text.components(separatedBy: "\n")
        if all.last == "" { all.removeLast() }
        return all
    }

    /// Adds or replaces the job's line (in place when present). Returns what changed.
    @discardableResult
    package mutating func set(_ line: String, for tag: String) -> InstallChange {
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
    package mutating func remove(_ tag: String) -> InstallChange {
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
