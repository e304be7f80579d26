import BGSyncStore

/// Deterministic documents of about a given size: the same index and round always give the
/// same JSON, so runs are comparable and a changed document differs from its previous body.
struct DocumentBodies: Sendable {
    /// The smallest `--doc-size` accepted: the fixed fields alone take about this much.
    static let minimumSize = 200

    /// The target size of each document's JSON (with `_id`) in bytes.
    let size: Int

    /// `doc-00000042`: fixed width, so id order is index order.
    static func id(_ index: Int) -> String {
        let digits = String(index)
        return "doc-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// The JSON of document `index` at edit `round` (0 for the seed), with `_id` and, when
    /// given, `_rev`: a string, an integer, a float, a boolean, null, an array, a nested object
    /// and a text padded so that the whole is `size` bytes (give or take the `_rev`).
    func json(_ index: Int, round: Int = 0, rev: String? = nil) -> String {
        var head = "{\"_id\":\"" + Self.id(index) + "\""
        if let rev { head += ",\"_rev\":\"" + rev + "\"" }
        let kinds = ["note", "task", "contact", "event"]
        head += ",\"type\":\"" + kinds[index % kinds.count] + "\""
        head += ",\"n\":\(index),\"round\":\(round)"
        head += ",\"ratio\":" + Self.ratio(index)
        head += ",\"done\":" + (index % 3 == 0 ? "true" : "false")
        head += ",\"due\":null"
        head += ",\"tags\":[\"t\(index % 7)\",\"t\(index % 11)\",\(index % 13)]"
        head += ",\"owner\":{\"name\":\"user-\(index % 100)\",\"since\":\"2026-01-\(10 + index % 18)T08:00:00Z\"}"
        head += ",\"text\":\""
        let tail = "\"}"
        // An edit keeps the seed's size: its `,"_rev":"…"` member does not count.
        let revMember = rev.map { $0.utf8.count + 10 } ?? 0
        let padding = max(0, size - (head.utf8.count - revMember) - tail.utf8.count)
        return head + Self.text(length: padding, seed: index &* 31 &+ round) + tail
    }

    /// A decimal with a few digits, as JSON text.
    private static func ratio(_ index: Int) -> String {
        let thousandths = (index &* 7919) % 100_000
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    private static let words = ["lorem", "ipsum", "dolor", "sit", "amet", "sync", "couch", "replica",
                                "revision", "sqlite", "batch", "checkpoint", "leaf", "branch", "seq", "door"]

    /// Words chosen from `seed`, cut to exactly `length` bytes (ASCII, nothing to escape).
    private static func text(length: Int, seed: Int) -> String {
        var out = ""
        out.reserveCapacity(length + 12)
        var state = UInt64(truncatingIfNeeded: seed) &+ 0x9E37_79B9_7F4A_7C15
        while out.utf8.count < length {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            if !out.isEmpty { out += " " }
            out += words[Int(state >> 60)]
        }
        return String(out.utf8.prefix(length)) ?? out
    }
}
