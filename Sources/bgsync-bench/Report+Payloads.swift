import BGSyncStore
import Foundation

/// The report of `--payloads`: one row per payload, its push and pull, and the memory budget.
extension Report {
    static func payloadsText(_ context: RunContext, _ results: [PayloadResult]) -> String {
        var lines = heading(context)
        lines.append("one document per payload: pushed from a local store into a new database, then pulled into a new store")
        lines.append("")
        let header = ["payload", "push s", "push RSS MB", "pull s", "pull RSS MB", "peak / size", "cost / size", "budget", "met"]
        let rows = results.map { result -> [String] in
            [result.title,
             format(result.push.wallSeconds, digits: 2), megabytes(result.push.peakRSSBytes),
             format(result.pull.wallSeconds, digits: 2), megabytes(result.pull.peakRSSBytes),
             result.budget == nil ? "–" : ratio(result.peakRSSBytes, result.bytes),
             result.costBytes.map { ratio($0, result.bytes) } ?? "–",
             result.budget?.text ?? "–", result.met.map { $0 ? "yes" : "NO" } ?? "–"]
        }
        lines += table(header, rows, rightAligned: [1, 2, 3, 4, 5, 6])
        lines.append("cost: the peak RSS less the baseline's, the same push and pull of a 1 KB document in this run")
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
                "cost_bytes": result.costBytes.map { .integer($0) } ?? .null,
                "budget_bytes": result.budget.map { .integer($0.limit) } ?? .null,
                "met": result.met.map { .bool($0) } ?? .null,
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

    private static func ratio(_ bytes: Int, _ size: Int) -> String {
        format(Double(bytes) / Double(max(size, 1)), digits: 2) + "×"
    }

    private static func megabytes(_ bytes: Int?) -> String {
        bytes.map { format(Double($0) / 1_000_000, digits: 1) } ?? "–"
    }
}
