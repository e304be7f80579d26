import Foundation

/// Durations as job files write them: `30s`, `10m`, `12h`, `2d`, `1h30m`, `500ms`.
public enum DurationText {
    /// Parses a duration into seconds.
    /// - Returns: nil when the text is not a duration (the caller names the key at fault).
    public static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604_800)]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count).drop { $0 == " " }
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count).drop { $0 == " " }
        }
        return total <= maximum ? total : nil
    }

    /// The longest duration accepted, in seconds (100 years): longer ones are typing mistakes,
    /// and would overflow the integer time arithmetic of timeouts and schedules.
    public static let maximum: Double = 100 * 365 * 86400

    /// Formats seconds the way job files write them (`1h30m`, `45s`).
    public static func format(_ seconds: Double) -> String {
        if seconds < 1 && seconds > 0 { return "\(Int((seconds * 1000).rounded()))ms" }
        var remaining = Int(seconds.rounded())
        if remaining == 0 { return "0s" }
        var text = ""
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where remaining >= size {
            text += "\(remaining / size)\(unit)"
            remaining %= size
        }
        return text
    }

    /// What a duration looks like, for error messages.
    public static let accepted = "a duration such as \"30s\", \"10m\", \"12h\", \"2d\" or \"1h30m\""
}

/// Sizes as job files write them: `500 MB`, `2GiB`, `1048576` (bytes).
public enum ByteSize {
    /// Parses a size into bytes (SI units are powers of 1000, IEC units powers of 1024).
    public static func bytes(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        guard !number.isEmpty, let value = Double(number), value >= 0 else { return nil }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let factors: [String: Double] = [
            "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let factor = factors[unit] else { return nil }
        let bytes = value * factor
        // Beyond Int64 (an exabyte and more) is not a size anyone means; converting would trap.
        guard bytes.isFinite, bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }

    /// Formats bytes for people (`512 MB`).
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1000 && index < units.count - 1 {
            value /= 1000
            index += 1
        }
        return index == 0 ? "\(bytes) B" : String(format: value >= 100 ? "%.0f %@" : "%.1f %@", value, units[index])
    }

    /// What a size looks like, for error messages.
    public static let accepted = "a size such as \"500 MB\", \"2 GiB\" or a number of bytes"
}
