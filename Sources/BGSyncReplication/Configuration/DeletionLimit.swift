import Foundation

/// How many of the remote's documents one push may delete before bgsync refuses it (the
/// mass-deletion guard, `max_delete` in a job file, `--max-delete` on `bgsync sync`).
///
/// A push that would delete more than this many of the documents the remote has live does not
/// start: the run fails with ``ReplicationError/Kind/deletionRefused`` after its pull, and a
/// human decides (`--force` pushes anyway). A remote without documents never trips it.
public enum DeletionLimit: Sendable, Equatable, CustomStringConvertible {
    /// A share of the remote database's live documents (`doc_count` of `GET /db`), 0–100.
    case percent(Double)
    /// An absolute number of documents.
    case count(Int)

    /// The default: half of the remote's documents.
    public static let standard = DeletionLimit.percent(50)

    /// What ``init(parsing:)`` accepts, for error messages.
    package static let accepted = "a percentage of the remote's documents such as \"50%\" (0 to 100 %), or a number of documents such as 200"

    /// Parses `"50%"`, `"12.5%"` (0 to 100) or `"200"` (a non-negative whole number of documents);
    /// nil for anything else.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("%") {
            let number = trimmed.dropLast().trimmingCharacters(in: .whitespaces)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
                  let value = Double(number), value.isFinite, (0...100).contains(value) else { return nil }
            self = .percent(value)
        } else {
            guard !trimmed.isEmpty, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(trimmed) else { return nil }
            self = .count(value)
        }
    }

    /// Creates an absolute limit; nil for a negative number.
    public init?(count: Int) {
        guard count >= 0 else { return nil }
        self = .count(count)
    }

    /// Whether deleting `deletions` of `documentCount` live documents stays within the limit.
    /// A remote without documents (`documentCount` 0) allows everything: nothing live to lose.
    package func allows(_ deletions: Int, of documentCount: Int) -> Bool {
        guard documentCount > 0 else { return true }
        switch self {
        case .percent(let percent): return Double(deletions) * 100 <= percent * Double(documentCount)
        case .count(let limit): return deletions <= limit
        }
    }

    /// `50 %` or `200 documents`.
    public var description: String {
        switch self {
        case .percent(let percent): return "\(Self.formatPercent(percent)) %"
        case .count(let limit): return "\(limit) document\(limit == 1 ? "" : "s")"
        }
    }

    /// `81`, `12.5`, `0.1`: whole numbers without decimals, others with at most one.
    static func formatPercent(_ value: Double) -> String {
        if value == value.rounded() { return String(Int(value)) }
        let text = String(format: "%.1f", value)
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
