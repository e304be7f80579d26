import BGSyncStore
import Foundation

/// The report of `--payloads`: one row per payload, its push and pull, and the memory budget.
extension Report {
    static func payloadsText(_ context: RunContext, _ results: [PayloadResult]) -> String {
        var lines = heading(context)
        lines.append("one document per payload: pushed from a local store into a new database, then pulled into a new store")
        lines.append("")
        let header = ["payload", "push s", "push RSS MB", "pull s", "pull RSS MB", "peak / size", "budget", "met"]
        let rows = results.map { result -> [String] in
            [result.title,
             format(result.push.wallSeconds, digits: 2), megabytes(result.push.peakRSSBytes),
             format(result.pull.wallSeconds, digits: 2), megabytes(result.pull.peakRSSBytes),
             format(Double(result.peakRSSBytes) / Double(max(result.bytes, 1)), digits: 2) + "×",
             result.budget.text, result.met ? "yes" : "NO"]
        }
        lines += table(header, rows, rightAligned: [1, 2, 3, 4, 5])
        return lines.joined(separator: "\n")
    }

    static func payloadsJSON(_ context: RunContext, _ results: [PayloadResult]) -> String {
        var root = JSONObject()
        root.set("date", .string(context.date))
        root.set("commit", context.commit.map { .string($0) } ?? .null)
        root.set("server", .string(context.server))
        root.set("bgsync", .string(context.bgsync))
        root.set("payloads", .array(results.map { result in
            .object([
                "payload": .string(result.key),
                "bytes": .integer(result.bytes),
                "push": run(result.push),
                "pull": run(result.pull),
                "peak_rss_bytes": .integer(result.peakRSSBytes),
                "budget_bytes": .integer(result.budget.limit),
                "met": .bool(result.met),
            ])
        }))
        return JSONValue.object(root).serialized
    }

    private static func run(_ sample: RunSample) -> JSONValue {
        .object([
            "wall_seconds": .number(format(sample.wallSeconds, digits: 3)),
            "peak_rss_bytes": sample.peakRSSBytes.map { .integer($0) } ?? .null,
            "requests": sample.requests.map { .integer($0) } ?? .null,
        ])
    }

    private static func megabytes(_ bytes: Int?) -> String {
        bytes.map { format(Double($0) / 1_000_000, digits: 1) } ?? "–"
    }
}
