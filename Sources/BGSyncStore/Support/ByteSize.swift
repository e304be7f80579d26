import Foundation

/// Sizes as job files write them: `500 MB`, `2GiB`, `1048576` (bytes).
package enum ByteSize {
    /// Parses a size into bytes (SI units are powers of 1000, IEC units powers of 1024).
    package static func bytes(_ text: String) -> Int64? {
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

    /// Formats bytes for people, the one way bgsync prints a size: SI units (`1.2 GB`,
    /// `500 MB`, `812 B`), except that a whole number of MiB, GiB or TiB — a limit set as a
    /// power of two — is printed as such (`512 MiB`), so no figure is ever mislabelled.
    package static func format<Bytes: BinaryInteger>(_ bytes: Bytes) -> String {
        let bytes = Int64(clamping: bytes)
        for (unit, factor) in [("TiB", Int64(1) << 40), ("GiB", Int64(1) << 30), ("MiB", Int64(1) << 20)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor) \(unit)"
        }
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var index = 0
        while value >= 1000 && index < units.count - 1 {
            value /= 1000
            index += 1
        }
        return index == 0 ? "\(bytes) B" : String(format: value >= 100 ? "%.0f" : "%.1f", value) + " " + units[index]
    }

    /// What a size looks like, for error messages.
    package static let accepted = "a size such as \"500 MB\", \"2 GiB\" or a number of bytes"
}
