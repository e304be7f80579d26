import BGSyncStore
import Foundation

/// Where and with what the benchmark ran.
struct RunContext: Sendable {
    var date: String
    var commit: String?
    var processors: Int
    var cpuModel: String
    var memoryBytes: UInt64
    var server: String
    /// `--server`: a real server, its budgets and CouchDB's replicator measured.
    var realServer: Bool
    var bgsync: String
    var docs: Int
    var docSize: Int
    var runs: Int
    var noOpRuns: Int
    var scale: Int
    var seedingSeconds: [String: Double]
    /// `/proc/loadavg` at the start and at the end: other work on the machine skews the figures.
    var loadAverage: (start: String, end: String)

    /// The three load averages of `/proc/loadavg`, or `unknown`.
    static func loadAverage() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// The CPU model from `/proc/cpuinfo` (`model name`), or `unknown`.
    static func cpuModel() -> String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown"
    }

    /// `git rev-parse --short HEAD` of the current directory, `+dirty` when Sources or
    /// Package.swift have uncommitted changes; nil outside a git checkout.
    static func gitCommit(scratch: String) async -> String? {
        let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        guard let head = try? await ChildProcess.run("/usr/bin/env", ["git", "rev-parse", "--short", "HEAD"], environment: environment, scratch: scratch),
              head.exitCode == 0
        else { return nil }
        let commit = head.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let diff = try? await ChildProcess.run("/usr/bin/env", ["git", "diff", "--quiet", "HEAD", "--", "Sources", "Package.swift"],
                                               environment: environment, scratch: scratch)
        return commit + (diff?.exitCode == 1 ? "+dirty" : "")
    }
}

/// The table on stdout, or the same as one JSON object.
enum Report {
    static func text(_ context: RunContext, _ results: [ScenarioResult], _ budgets: [BudgetCheck]) -> String {
        var lines = heading(context)
        lines.append("N = \(context.docs) documents of ~\(context.docSize) bytes; runs: \(context.runs) per scenario, \(context.noOpRuns) per no-op"
                     + (context.scale > 1 ? ", one run at \(context.scale)×N" : ""))
        if !context.seedingSeconds.isEmpty {
            lines.append("seeding (not timed as a scenario): " + context.seedingSeconds.sorted { $0.key < $1.key }
                .map { "\($0.key) \(format($0.value, digits: 1)) s" }.joined(separator: "; "))
        }
        lines.append("")
        let header = ["scenario", "docs", "median s", "min s", "max s", "docs/s", "requests", "CPU s", "server CPU s", "peak RSS MB"]
        var rows: [[String]] = []
        for result in results {
            guard let wall = result.wall else { continue }
            rows.append([
                result.title + marker(result.runner),
                String(result.docs),
                format(wall.median, digits: 3), format(wall.min, digits: 3), format(wall.max, digits: 3),
                result.docsPerSecond.map { format($0, digits: 0) } ?? "–",
                result.requests.map(String.init) ?? "–",
                result.cpu.map { format($0.median, digits: 3) } ?? "–",
                result.serverCPU.map { format($0.median, digits: 3) } ?? "–",
                result.peakRSSBytes.map(Budgets.megabytes) ?? "–",
            ])
        }
        lines += table(header, rows, rightAligned: Set(1..<header.count))
        lines.append("* in-process (no process start-up, no RSS of its own); the others time the bgsync binary as a child process.")
        lines.append("  CPU s (wait4 rusage) and peak RSS (highest VmHWM) are the bgsync child's; server CPU s is this process's CPU time")
        lines.append("  during the run (the in-process server). Medians; peak RSS is the highest of the runs.")
        if results.contains(where: { $0.runner == .couchReplicator }) {
            lines.append("† the server's own replicator: POST /_replicate (one-shot, create_target, source and target on this server),")
            lines.append("  timed from the request to its answer, which CouchDB sends when the replication has completed.")
        }
        lines.append("")
        let budgetRows = budgets.map { check in
            [check.figure, check.measured, check.budget, check.met.map { $0 ? "met" : "NOT MET" } ?? "not measured"]
        }
        lines += table(["budget (DESIGN §8)", "measured", "budget", "verdict"], budgetRows, rightAligned: [])
        for caveat in Budgets.caveats(docs: context.docs, docSize: context.docSize, realServer: context.realServer) {
            lines.append("note: " + caveat)
        }
        return lines.joined(separator: "\n")
    }

    private static func marker(_ runner: Runner) -> String {
        switch runner {
        case .bgsync: ""
        case .inProcess: " *"
        case .couchReplicator: " †"
        }
    }

    static func table(_ header: [String], _ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return rightAligned.contains(index) ? padding + cell : cell + padding
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return [line(header), line(widths.map { String(repeating: "-", count: $0) })] + rows.map(line)
    }

    /// When, where, against what and with which binary.
    static func heading(_ context: RunContext) -> [String] {
        ["bgsync-bench — \(context.date)" + (context.commit.map { ", commit \($0)" } ?? ""),
         "machine: \(context.processors) CPUs, \(context.cpuModel), \(format(Double(context.memoryBytes) / 1_073_741_824, digits: 1)) GiB memory",
         "load average (1/5/15 min): \(context.loadAverage.start) at the start, \(context.loadAverage.end) at the end",
         "server:  \(context.server)",
         "bgsync:  \(context.bgsync)"]
    }

    static func json(_ context: RunContext, _ results: [ScenarioResult], _ budgets: [BudgetCheck]) -> String {
        func number(_ value: Double, _ digits: Int = 6) -> JSONValue { .number(format(value, digits: digits)) }
        var root = JSONObject()
        root.set("date", .string(context.date))
        root.set("commit", context.commit.map { .string($0) } ?? .null)
        root.set("machine", .object([
            "processors": .integer(context.processors),
            "cpu_model": .string(context.cpuModel),
            "memory_bytes": .number(String(context.memoryBytes)),
        ]))
        root.set("load_average", .object(["start": .string(context.loadAverage.start), "end": .string(context.loadAverage.end)]))
        root.set("server", .string(context.server))
        root.set("budget_set", .string(context.realServer ? "server" : "fixture"))
        root.set("bgsync", .string(context.bgsync))
        root.set("docs", .integer(context.docs))
        root.set("doc_size", .integer(context.docSize))
        root.set("runs", .integer(context.runs))
        root.set("noop_runs", .integer(context.noOpRuns))
        root.set("scale", .integer(context.scale))
        root.set("seeding_seconds", .object(JSONObject(context.seedingSeconds.sorted { $0.key < $1.key }.map { (key: $0.key, value: number($0.value, 3)) })))
        root.set("scenarios", .array(results.map { result in
            var object = JSONObject()
            object.set("scenario", .string(result.key))
            object.set("title", .string(result.title))
            object.set("docs", .integer(result.docs))
            object.set("runner", .string(result.runner.rawValue))
            object.set("in_process", .bool(result.inProcess))
            if let wall = result.wall {
                object.set("wall_seconds", .object(["min": number(wall.min), "median": number(wall.median), "max": number(wall.max)]))
            }
            object.set("runs", .array(result.samples.map { number($0.wallSeconds) }))
            object.set("docs_per_second", result.docsPerSecond.map { number($0, 1) } ?? .null)
            object.set("requests", result.requests.map { .integer($0) } ?? .null)
            object.set("cpu_seconds_median", result.cpu.map { number($0.median) } ?? .null)
            object.set("server_cpu_seconds_median", result.serverCPU.map { number($0.median) } ?? .null)
            object.set("peak_rss_bytes", result.peakRSSBytes.map { .integer($0) } ?? .null)
            return .object(object)
        }))
        root.set("budgets", .array(budgets.map { check in
            var object = JSONObject()
            object.set("budget", .string(check.key))
            object.set("figure", .string(check.figure))
            object.set("measured", .string(check.measured))
            object.set("value", check.value.map { number($0) } ?? .null)
            object.set("limit", .string(check.budget))
            object.set("met", check.met.map { .bool($0) } ?? .null)
            if let note = check.note { object.set("note", .string(note)) }
            return .object(object)
        }))
        root.set("notes", .array(Budgets.caveats(docs: context.docs, docSize: context.docSize, realServer: context.realServer).map { .string($0) }))
        return JSONValue.object(root).serialized
    }
}
