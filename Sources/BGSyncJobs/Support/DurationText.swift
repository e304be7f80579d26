import Foundation

/// Durations as job files write them: `30s`, `10m`, `12h`, `2d`, `1h30m`, `500ms`.
package enum DurationText {
    /// Parses a duration into seconds.
    /// - Returns: nil when the text is not a duration (the caller names the key at fault).
    package static func seconds(_ text: String) -> Double? {
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
    package static let maximum: Double = 100 * 365 * 86400

    /// Formats seconds the way job files write them (`1h30m`, `45s`).
    package static func format(_ seconds: Double) -> String {
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
    package static let accepted = "a duration such as \"30s\", \"10m\", \"12h\", \"2d\" or \"1h30m\""
}
